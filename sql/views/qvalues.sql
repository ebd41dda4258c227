-- qvalues (view): Storey q-values of a run's phenotype-level p-values, with the lead variant.
--
-- Reads : qvalue_stats, runs, run_fdr, phenotypes, nominal_results (view).
-- Output: one row per (run, phenotype) with a q-value: run_id, run_name, cohort, chr,
--          phenotype_idx, phenotype, variant (the lead variant), p_value (p_adj of perm runs,
--          nominal_p of best-variant nominal runs), qvalue, pval_nominal_threshold (beta runs:
--          the Beta(a, b) quantile; else NULL), nominal_p, beta_d, is_hit (qvalue <= fdr), fdr
--          (the run's level in run_fdr), pos, ref, alt, phenotype_start, phenotype_end,
--          distance (docs/methods.md#qvalues).
-- Coordinates: as nominal_results.

CREATE OR REPLACE VIEW qvalues AS
SELECT q.run_id, u.name AS run_name, u.cohort, q.chr, q.phenotype_idx,
       p.gene_id AS phenotype, r.variant, q.p_value, q.qvalue, q.pval_nominal_threshold,
       r.nominal_p, r.beta_d, q.qvalue <= f.fdr AS is_hit, f.fdr,
       r.pos, r.ref, r.alt, r.phenotype_start, r.phenotype_end, r.distance
FROM qvalue_stats AS q
JOIN runs AS u USING (run_id)
JOIN run_fdr AS f USING (run_id)
JOIN phenotypes AS p
  ON p.cohort = u.cohort AND p.chr = q.chr AND p.phenotype_idx = q.phenotype_idx
JOIN nominal_results AS r
  ON r.run_id = q.run_id AND r.chr = q.chr AND r.phenotype_idx = q.phenotype_idx;
