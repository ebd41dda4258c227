-- conditional_results (view): the independent signals of conditional runs.
--
-- Reads : conditional_signals, conditional_stats, runs, phenotypes, variants.
-- Output: one row per forward signal: run_id, run_name, cohort, chr, phenotype_idx,
--          phenotype, rank (1 = the perm run's lead variant), variant (the backward scan's best
--          variant when kept, else the forward one), forward_variant, kept (the backward
--          verdict), the statistics that report the signal — the backward round's when kept
--          after a backward pass, else its forward round's (rank 1 alone: the perm run's lead
--          has no conditional round, so NULL) — number_of_samples, beta_d, se_d, nominal_p,
--          p_adj, and n_conditioned (variants in that round's model), pos
--          (docs/methods.md#conditional-analysis).
-- Coordinates: 1-based positions as written in the genotype file.

CREATE OR REPLACE VIEW conditional_results AS
SELECT s.run_id, u.name AS run_name, u.cohort, s.chr, s.phenotype_idx, p.gene_id AS phenotype,
       s.rank, v.variant_id AS variant, fv.variant_id AS forward_variant, s.kept,
       st.number_of_samples, st.beta_d, st.se_d, st.nominal_p, st.p_adj,
       len(st.conditioned_on) AS n_conditioned, v.pos
FROM conditional_signals AS s
JOIN runs AS u USING (run_id)
JOIN phenotypes AS p
  ON p.cohort = u.cohort AND p.chr = s.chr AND p.phenotype_idx = s.phenotype_idx
JOIN variants AS v
  ON v.cohort = u.cohort AND v.chr = s.chr AND v.variant_idx = s.variant_idx
JOIN variants AS fv
  ON fv.cohort = u.cohort AND fv.chr = s.chr AND fv.variant_idx = s.forward_variant_idx
LEFT JOIN conditional_stats AS st
  ON st.run_id = s.run_id AND st.chr = s.chr AND st.phenotype_idx = s.phenotype_idx
 AND st.round = coalesce(s.backward_round, s.forward_round);
