-- plot_comparison_id: the newest stored comparison of run A with run B (segqtl plot compare,
-- segqtl report --run-b).
--
-- Inputs (parameters): $run_a, $run_b.
-- Reads : comparisons.
-- Output: comparison_id, at most one row.
SELECT comparison_id
FROM comparisons
WHERE run_a = $run_a AND run_b = $run_b
ORDER BY comparison_id DESC
LIMIT 1
