-- compare_validate: a validate run's results as segqtl compare matches them (compare_source of
-- segqtl/modes/validate.py, inserted into sql/compare_pairs.sql).
--
-- Inputs (parameters): $run_a, $run_b.
-- Reads : validate_results (view).
-- Output: run_id, chr, phenotype, variant = NULL (validate rows have none), effect = pearson_r,
--          p = pearson_pval, q = NULL, hit_value = pearson_pval; rows with status 'tested'.
SELECT v.run_id, v.chr, v.phenotype, NULL::VARCHAR AS variant, v.pearson_r AS effect,
       v.pearson_pval AS p, NULL::DOUBLE AS q, v.pearson_pval AS hit_value
FROM validate_results AS v
WHERE v.run_id IN ($run_a, $run_b) AND v.status = 'tested'
