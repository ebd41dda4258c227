-- export_finemap_bootstrap: one chromosome of a finemap run as SegmentQTL's
-- finemap_bootstrap_nonzero_<C>.csv (docs/methods.md#finemap-outputs).
--
-- Inputs (parameters): $run_id, $chr.
-- Reads : finemap_bootstrap (view).
-- Output: phenotype, variant, bootstrap_iteration, beta_full (the subsample coefficient); one
--          row per (phenotype, subsample, variant) with |coefficient| > 1e-10; ordered by
--          phenotype order, then subsample (1-based), then variant order.  No chr column, as in
--          SegmentQTL's file.
SELECT phenotype, variant, bootstrap_iteration, beta_full
FROM finemap_bootstrap
WHERE run_id = $run_id AND chr = $chr
ORDER BY phenotype_idx, bootstrap_iteration, variant_idx
