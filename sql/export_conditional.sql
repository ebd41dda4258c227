-- export_conditional: one chromosome's independent signals of a conditional run.
--
-- Inputs (parameters): $run_id, $chr, $first_phenotype, $last_phenotype.
-- Reads : conditional_results (view).
-- Output: phenotype, variant, rank, kept, forward_variant, number_of_samples, beta_d, se_d,
--          nominal_p, p_adj, n_conditioned, chr; by phenotype order then rank.
SELECT phenotype, variant, rank, kept, forward_variant, number_of_samples, beta_d, se_d,
       nominal_p, p_adj, n_conditioned, chr
FROM conditional_results
WHERE run_id = $run_id AND chr = $chr
  AND phenotype_idx BETWEEN $first_phenotype AND $last_phenotype
ORDER BY phenotype_idx, rank
