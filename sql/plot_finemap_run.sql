-- plot_finemap_run: the newest completed finemap run of a cohort that fitted a phenotype
-- (segqtl plot locus without --finemap-run).
--
-- Inputs (parameters): $cohort, $phenotype (gene_id).
-- Reads : runs, finemap_results (view).
-- Output: run_id, at most one row.
SELECT u.run_id
FROM runs AS u
WHERE u.mode = 'finemap' AND u.cohort = $cohort AND u.status = 'completed'
  AND EXISTS (
      SELECT 1 FROM finemap_results AS f
      WHERE f.run_id = u.run_id AND f.phenotype = $phenotype AND f.status = 'tested'
  )
ORDER BY u.run_id DESC
LIMIT 1
