-- conditional_leads: what a conditional run takes from its perm run for one unit.
--
-- Inputs (parameters): $perm_run, $chr, $first_phenotype, $last_phenotype.
-- Reads : nominal_stats, qvalue_stats, run_fdr (the perm run's rows).
-- Output: phenotype_idx, variant_idx (the perm run's lead variant), p_adj, qvalue, is_hit
--          (qvalue <= the perm run's FDR level) for each phenotype of the range with a lead
--          variant; ordered by phenotype_idx.
-- Coordinates: as nominal_stats.
SELECT s.phenotype_idx, s.variant_idx, s.p_adj, q.qvalue, q.qvalue <= f.fdr AS is_hit
FROM nominal_stats AS s
JOIN qvalue_stats AS q
  ON q.run_id = s.run_id AND q.chr = s.chr AND q.phenotype_idx = s.phenotype_idx
JOIN run_fdr AS f ON f.run_id = s.run_id
WHERE s.run_id = $perm_run AND s.chr = $chr
  AND s.phenotype_idx BETWEEN $first_phenotype AND $last_phenotype
  AND s.variant_idx IS NOT NULL
ORDER BY s.phenotype_idx
