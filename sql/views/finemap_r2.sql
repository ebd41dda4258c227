-- finemap_r2 (view): in-sample R² of finemap runs with compute_r2, with the phenotype's name.
--
-- Reads : finemap_r2_stats, runs, phenotypes.
-- Output: one row per phenotype that reached the elastic-net stage: run_id, run_name, cohort,
--          chr, phenotype_idx, phenotype, n_samples, r2_baseline, r2_baseline_adj, r2_full,
--          r2_full_adj, delta_r2, delta_r2_adj, r2_n_variants, r2_variants (IDs joined by ';'),
--          phenotype_start, phenotype_end (docs/methods.md#r2).  Missing = NULL.
-- Coordinates: 1-based positions as written in the input files.

CREATE OR REPLACE VIEW finemap_r2 AS
SELECT r.run_id, u.name AS run_name, u.cohort, r.chr, r.phenotype_idx,
       p.gene_id AS phenotype,
       r.n_samples, r.r2_baseline, r.r2_baseline_adj, r.r2_full, r.r2_full_adj,
       r.delta_r2, r.delta_r2_adj, r.r2_n_variants, r.r2_variants,
       p.start AS phenotype_start, p."end" AS phenotype_end
FROM finemap_r2_stats AS r
JOIN runs AS u USING (run_id)
JOIN phenotypes AS p
  ON p.cohort = u.cohort AND p.chr = r.chr AND p.phenotype_idx = r.phenotype_idx;
