-- interaction_top (view): each phenotype's best interaction variant with its gene-level p.
--
-- Reads : interaction_top_stats, interaction_results (view), runs, phenotypes.
-- Output: run_id, run_name, cohort, chr, phenotype_idx, phenotype, variant (smallest
--          interaction p; NULL when no pair was tested), n_tested (tested variants), n_eff
--          (eigenMT's effective number of tests), pval_di, pval_emt = min(1, pval_di × n_eff),
--          qvalue_bh (Benjamini–Hochberg of pval_emt over the run's phenotypes), the pair's
--          number_of_samples, beta_d, beta_i, beta_di, se_di, pos, distance
--          (docs/methods.md#interaction-model).
-- Coordinates: as interaction_results.

CREATE OR REPLACE VIEW interaction_top AS
SELECT t.run_id, u.name AS run_name, u.cohort, t.chr, t.phenotype_idx, p.gene_id AS phenotype,
       r.variant, t.n_tested, t.n_eff, t.pval_di, t.pval_emt, t.qvalue_bh,
       coalesce(r.number_of_samples, 0) AS number_of_samples, r.beta_d, r.beta_i, r.beta_di,
       r.se_di, r.pos, r.distance
FROM interaction_top_stats AS t
JOIN runs AS u USING (run_id)
JOIN phenotypes AS p
  ON p.cohort = u.cohort AND p.chr = t.chr AND p.phenotype_idx = t.phenotype_idx
LEFT JOIN interaction_results AS r
  ON r.run_id = t.run_id AND r.chr = t.chr AND r.phenotype_idx = t.phenotype_idx
 AND r.variant_idx = t.variant_idx;
