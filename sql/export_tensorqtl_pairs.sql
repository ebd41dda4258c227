-- export_tensorqtl_pairs: one chromosome of an all-variants nominal run as tensorQTL's
-- <prefix>.cis_qtl_pairs.<chr>.parquet (map_nominal; the column mapping is documented in
-- segqtl/warehouse/export.py).
--
-- Inputs (parameters): $run_id, $chr (the phenotypes' chromosome).
-- Reads : nominal_results (view).
-- Output: phenotype_id, variant_id, start_distance, end_distance (INTEGER, as tensorQTL's
--          int32), pval_nominal, slope (= beta_d), slope_se (= se_d); one row per tested pair
--          (pairs skipped for too few samples, a constant phenotype or d, or a singular design
--          have no statistics and no row), ordered by phenotype order (quantification file) then
--          variant order (genotype file).
-- Coordinates: positions 1-based as written in the input files; start_distance = variant pos -
--          phenotype start, end_distance = variant pos - phenotype end (no strand in the
--          inputs).
SELECT phenotype AS phenotype_id,
       variant AS variant_id,
       (pos - phenotype_start)::INTEGER AS start_distance,
       (pos - phenotype_end)::INTEGER AS end_distance,
       nominal_p AS pval_nominal,
       beta_d AS slope,
       se_d AS slope_se
FROM nominal_results
WHERE run_id = $run_id AND chr = $chr AND status = 'tested'
ORDER BY phenotype_idx, variant_idx
