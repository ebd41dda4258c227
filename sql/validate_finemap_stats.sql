-- validate_finemap_stats: a stored finemap run's rows for one work unit's phenotypes, the β/λ/π
-- source of validate with --finemap_run (docs/methods.md#validate-pipeline).
--
-- Inputs (parameters): $run_id (the finemap run), $chr, $first_idx, $last_idx (phenotype_idx
--          range of the run's cohort = the validate run's main cohort, inclusive).
-- Reads : finemap_stats, runs, variants.
-- Output: phenotype_idx, variant (variant_id as written; NULL on a phenotype's empty row),
--          mean_d, sd_d, stability_score, lambda_selected, beta_full (exact stored doubles,
--          NULL = NaN), ordered by phenotype_idx then variant_idx (= coverage-kept order).
-- Coordinate rule: variant_idx is the 0-based row in the main cohort's genotype files.
SELECT f.phenotype_idx, v.variant_id AS variant, f.mean_d, f.sd_d, f.stability_score,
       f.lambda_selected, f.beta_full
FROM finemap_stats AS f
JOIN runs AS r
  ON r.run_id = f.run_id
LEFT JOIN variants AS v
  ON v.cohort = r.cohort AND v.chr = f.chr AND v.variant_idx = f.variant_idx
WHERE f.run_id = $run_id
  AND f.chr = $chr
  AND f.phenotype_idx BETWEEN $first_idx AND $last_idx
ORDER BY f.phenotype_idx, f.variant_idx NULLS FIRST
