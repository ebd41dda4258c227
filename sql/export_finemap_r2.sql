-- export_finemap_r2: one chromosome of a finemap run (with compute_r2) as SegmentQTL's
-- finemap_r2_<C>.csv (docs/methods.md#r2, #finemap-outputs).
--
-- Inputs (parameters): $run_id, $chr.
-- Reads : finemap_r2 (view).
-- Output: phenotype, n_samples, r2_baseline, r2_baseline_adj, r2_full, r2_full_adj, delta_r2,
--          delta_r2_adj, r2_n_variants, r2_variants (';'-joined variant IDs); one row per
--          phenotype that reached the elastic-net stage, in phenotype order.  The r2_full ...
--          r2_variants cells are empty when no variant qualified.  No chr column.
SELECT phenotype, n_samples, r2_baseline, r2_baseline_adj, r2_full, r2_full_adj, delta_r2,
       delta_r2_adj, r2_n_variants, r2_variants
FROM finemap_r2
WHERE run_id = $run_id AND chr = $chr
ORDER BY phenotype_idx
