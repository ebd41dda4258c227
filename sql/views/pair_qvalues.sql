-- pair_qvalues (view): q-values over every tested pair of an all-variants nominal run (the
-- pair-level sibling of the qvalues view; 'segqtl fdr' on such a run fills it).
--
-- Reads : pair_qvalue_stats, runs, run_fdr, nominal_results (view).
-- Output: one row per (run, tested pair): run_id, run_name, cohort, chr, phenotype_idx,
--          variant_idx, phenotype, variant, p_value (= nominal_p), qvalue, is_hit (qvalue <=
--          fdr), fdr (the run's level in run_fdr), method (storey | bh), number_of_samples,
--          beta_d, se_d, t_stat_d, pos, ref, alt, phenotype_start, phenotype_end, distance.
-- Coordinates: as nominal_results (1-based positions as written; distance = pos - phenotype
--          start).

CREATE OR REPLACE VIEW pair_qvalues AS
SELECT q.run_id, u.name AS run_name, u.cohort, q.chr, q.phenotype_idx, q.variant_idx,
       r.phenotype, r.variant, q.p_value, q.qvalue, q.qvalue <= f.fdr AS is_hit, f.fdr,
       f.method, r.number_of_samples, r.beta_d, r.se_d, r.t_stat_d,
       r.pos, r.ref, r.alt, r.phenotype_start, r.phenotype_end, r.distance
FROM pair_qvalue_stats AS q
JOIN runs AS u USING (run_id)
JOIN run_fdr AS f USING (run_id)
JOIN nominal_results AS r
  ON r.run_id = q.run_id AND r.chr = q.chr AND r.phenotype_idx = q.phenotype_idx
 AND r.variant_idx = q.variant_idx;
