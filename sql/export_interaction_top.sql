-- export_interaction_top: the gene-level table of an interaction run, one chromosome.
--
-- Inputs (parameters): $run_id, $chr, $first_phenotype, $last_phenotype.
-- Reads : interaction_top (view).
-- Output: phenotype, variant, n_tested, n_eff, pval_di, pval_emt, qvalue_bh,
--          number_of_samples, beta_d, beta_i, beta_di, se_di, chr; in phenotype order.
SELECT phenotype, variant, n_tested, n_eff, pval_di, pval_emt, qvalue_bh, number_of_samples,
       beta_d, beta_i, beta_di, se_di, chr
FROM interaction_top
WHERE run_id = $run_id AND chr = $chr
  AND phenotype_idx BETWEEN $first_phenotype AND $last_phenotype
ORDER BY phenotype_idx
