-- conditional_rounds (view): every scan of a conditional run, with names.
--
-- Reads : conditional_stats, runs, phenotypes, variants.
-- Output: run_id, run_name, cohort, chr, phenotype_idx, phenotype, round, pass (forward |
--          backward), signal_rank, conditioned_on (the conditioning variants' IDs, in signal
--          order), variant (the round's best variant), number_of_samples, beta_s, se_s,
--          beta_d, se_d, t_stat_d, nominal_p, p_adj, beta_shape1, beta_shape2, threshold,
--          passes, pos (docs/methods.md#conditional-analysis).
-- Coordinates: 1-based positions as written in the genotype file.

CREATE OR REPLACE VIEW conditional_rounds AS
SELECT r.run_id, u.name AS run_name, u.cohort, r.chr, r.phenotype_idx, p.gene_id AS phenotype,
       r.round, r.pass, r.signal_rank,
       coalesce((
           SELECT list(c.variant_id ORDER BY g.k)
           FROM (SELECT unnest(r.conditioned_on) AS vi,
                        unnest(generate_series(1, len(r.conditioned_on))) AS k) AS g
           JOIN variants AS c
             ON c.cohort = u.cohort AND c.chr = r.chr AND c.variant_idx = g.vi
       ), []::VARCHAR[]) AS conditioned_on,
       v.variant_id AS variant, r.number_of_samples, r.beta_s, r.se_s, r.beta_d, r.se_d,
       r.t_stat_d, r.nominal_p, r.p_adj, r.beta_shape1, r.beta_shape2, r.threshold, r.passes,
       v.pos
FROM conditional_stats AS r
JOIN runs AS u USING (run_id)
JOIN phenotypes AS p
  ON p.cohort = u.cohort AND p.chr = r.chr AND p.phenotype_idx = r.phenotype_idx
LEFT JOIN variants AS v
  ON v.cohort = u.cohort AND v.chr = r.chr AND v.variant_idx = r.variant_idx;
