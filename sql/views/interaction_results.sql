-- interaction_results (view): every tested (phenotype, variant) pair of interaction runs.
--
-- Reads : interaction_stats, runs, phenotypes, variants, result_status.
-- Output: run_id, run_name, cohort, chr, phenotype_idx, variant_idx, phenotype (gene_id),
--          variant (variant ID as written), number_of_samples, beta_s, se_s, pval_s, beta_d,
--          se_d, pval_d, beta_i, se_i, pval_i (the term's main effect), beta_di, se_di,
--          pval_di (the d × term interaction), beta_si, se_si, pval_si (NULL unless the run
--          had --interaction-s), status (result_status name), pos, ref, alt,
--          phenotype_start, phenotype_end, distance (docs/methods.md#interaction-model).
-- Coordinates: 1-based positions as written in the input files; distance = variant pos -
--          phenotype start.  A phenotype with no cis variant has one row with the variant
--          columns NULL.

CREATE OR REPLACE VIEW interaction_results AS
SELECT r.run_id, u.name AS run_name, u.cohort, r.chr, r.phenotype_idx, r.variant_idx,
       p.gene_id AS phenotype, v.variant_id AS variant, r.number_of_samples,
       r.beta_s, r.se_s, r.pval_s, r.beta_d, r.se_d, r.pval_d,
       r.beta_i, r.se_i, r.pval_i, r.beta_di, r.se_di, r.pval_di,
       r.beta_si, r.se_si, r.pval_si, st.name AS status,
       v.pos, v.ref, v.alt,
       p.start AS phenotype_start, p."end" AS phenotype_end, v.pos - p.start AS distance
FROM interaction_stats AS r
JOIN runs AS u USING (run_id)
JOIN phenotypes AS p
  ON p.cohort = u.cohort AND p.chr = r.chr AND p.phenotype_idx = r.phenotype_idx
LEFT JOIN variants AS v
  ON v.cohort = u.cohort AND v.chr = r.chr AND v.variant_idx = r.variant_idx
JOIN result_status AS st ON st.code = r.status;
