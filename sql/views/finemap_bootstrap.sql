-- finemap_bootstrap (view): nonzero stability-selection subsample coefficients, with names.
--
-- Reads : finemap_bootstrap_stats, runs, phenotypes, variants.
-- Output: one row per (run, phenotype, subsample, variant) with a nonzero subsample
--          coefficient (SegmentQTL's finemap_bootstrap_nonzero_<chr>.csv): run_id, run_name,
--          cohort, chr, phenotype_idx, variant_idx, phenotype, variant, bootstrap_iteration
--          (1-based, skipped subsamples counted), beta_full (subsample-standardised units;
--          docs/methods.md#stability-selection), pos, ref, alt, phenotype_start, phenotype_end,
--          distance.
-- Coordinates: as finemap_results.

CREATE OR REPLACE VIEW finemap_bootstrap AS
SELECT b.run_id, u.name AS run_name, u.cohort, b.chr, b.phenotype_idx, b.variant_idx,
       p.gene_id AS phenotype, v.variant_id AS variant, b.bootstrap_iteration, b.beta_full,
       v.pos, v.ref, v.alt,
       p.start AS phenotype_start, p."end" AS phenotype_end, v.pos - p.start AS distance
FROM finemap_bootstrap_stats AS b
JOIN runs AS u USING (run_id)
JOIN phenotypes AS p
  ON p.cohort = u.cohort AND p.chr = b.chr AND p.phenotype_idx = b.phenotype_idx
JOIN variants AS v
  ON v.cohort = u.cohort AND v.chr = b.chr AND v.variant_idx = b.variant_idx;
