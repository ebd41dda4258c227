-- plot_egenes: the eGenes of a run with q-values: phenotypes with qvalue <= the run's FDR level
-- (segqtl report).
--
-- Inputs (parameters): $run_id.
-- Reads : qvalues (view).
-- Output: phenotype, variant (the lead), chr, pos, beta_d, p_value (p_adj of perm runs),
--          qvalue, pval_nominal_threshold (beta runs), ordered by qvalue, p_value, phenotype.
-- Coordinates: 1-based positions as written in the input files.
SELECT phenotype, variant, chr, pos, beta_d, p_value, qvalue, pval_nominal_threshold
FROM qvalues
WHERE run_id = $run_id AND is_hit
ORDER BY qvalue, p_value, phenotype
