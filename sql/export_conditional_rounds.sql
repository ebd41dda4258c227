-- export_conditional_rounds: every scan of one chromosome of a conditional run.
--
-- Inputs (parameters): $run_id, $chr, $first_phenotype, $last_phenotype.
-- Reads : conditional_rounds (view).
-- Output: phenotype, round, pass, signal_rank, conditioned_on (IDs joined by ';'), variant,
--          number_of_samples, beta_s, se_s, beta_d, se_d, t_stat_d, nominal_p, p_adj,
--          beta_shape1, beta_shape2, threshold, passes, chr; by phenotype order then round.
SELECT phenotype, round, pass, signal_rank, array_to_string(conditioned_on, ';')
           AS conditioned_on,
       variant, number_of_samples, beta_s, se_s, beta_d, se_d, t_stat_d, nominal_p, p_adj,
       beta_shape1, beta_shape2, threshold, passes, chr
FROM conditional_rounds
WHERE run_id = $run_id AND chr = $chr
  AND phenotype_idx BETWEEN $first_phenotype AND $last_phenotype
ORDER BY phenotype_idx, round
