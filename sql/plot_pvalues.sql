-- plot_pvalues: every p-value of a nominal or perm run (segqtl plot qq / pvalues, the report).
--
-- Inputs (parameters): $run_id.
-- Reads : nominal_stats, runs.
-- Output: p, ascending: perm runs: p_adj (one per phenotype: its lead variant's permutation-
--          adjusted p); nominal runs: nominal_p of every stored row (every tested cis pair of an
--          all-variants run; one lead variant per phenotype of a best-variant run).  Rows
--          without a p-value (untested) are left out.  The same column rule as run_pvalues.sql.
SELECT CASE WHEN u.mode = 'perm' THEN s.p_adj ELSE s.nominal_p END AS p
FROM nominal_stats AS s
JOIN runs AS u USING (run_id)
WHERE s.run_id = $run_id
  AND (CASE WHEN u.mode = 'perm' THEN s.p_adj ELSE s.nominal_p END) IS NOT NULL
ORDER BY p
