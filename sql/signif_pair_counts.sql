-- signif_pair_counts: what pi0 needs from an all-variants nominal run's pair p-values, counted
-- in the warehouse (no array of every p-value in memory).
--
-- Inputs (parameters): $run_id; $lambdas (DOUBLE[]: the λ grid, or the one fixed λ).
-- Reads : nominal_stats.
-- Output: one row per λ of $lambdas, in its order: lam, m (the run's tested pairs: status
--          tested (0), a variant and a nominal_p), p_max (their largest nominal_p), w =
--          #{nominal_p >= lam} (the tail count of segqtl/kernels/fdr.py:pi0_from_counts).
WITH p AS (
    SELECT nominal_p AS p
    FROM nominal_stats
    WHERE run_id = $run_id AND status = 0 AND variant_idx IS NOT NULL AND nominal_p IS NOT NULL
),
grid AS (
    SELECT unnest(CAST($lambdas AS DOUBLE[])) AS lam,
           generate_subscripts(CAST($lambdas AS DOUBLE[]), 1) AS k
),
totals AS (SELECT count(*) AS m, max(p) AS p_max FROM p)
SELECT g.lam, t.m, t.p_max,
       (SELECT count(*) FROM p WHERE p.p >= g.lam) AS w
FROM grid AS g, totals AS t
ORDER BY g.k
