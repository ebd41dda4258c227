-- nominal_results (view): nominal and perm rows with names and annotations.
--
-- Reads : nominal_stats, runs, phenotypes, variants, result_status.
-- Output: one row per reported (run, phenotype, variant) of nominal and perm runs (perm runs
--          store the nominal columns plus p_adj): run_id, run_name, cohort, chr, phenotype_idx,
--          variant_idx, phenotype (gene_id), variant (variant ID as written),
--          SegmentQTL's columns number_of_samples .. delta_aic_alt_minus_null
--          (docs/methods.md#nominal-model), p_adj (perm runs; docs/methods.md#beta-approximation),
--          status (result_status name: why a pair has no statistics), variant_chr, pos, ref, alt,
--          phenotype_start, phenotype_end, distance.  Missing = NULL.
-- Coordinates: 1-based positions as written in the input files; distance = variant pos -
--          phenotype start (signed: negative before the start).  variant_chr differs from chr
--          only for negative controls (docs/methods.md#negative-control).  A phenotype with no
--          testable variant has one row with variant_idx and the variant columns NULL.
--          phenotype_idx / variant_idx are 0-based file rows within (cohort, chromosome): keys,
--          not names; match runs of different cohorts on phenotype and variant.

CREATE OR REPLACE VIEW nominal_results AS
SELECT r.run_id, u.name AS run_name, u.cohort, r.chr, r.phenotype_idx, r.variant_idx,
       p.gene_id AS phenotype, v.variant_id AS variant, r.number_of_samples,
       r.beta_s, r.se_s, r.beta_d, r.se_d, r.t_stat_d, r.nominal_p, r.r2_alt,
       r.aic_null, r.aic_alt, r.delta_aic_alt_minus_null, r.p_adj, st.name AS status,
       v.chr AS variant_chr, v.pos, v.ref, v.alt,
       p.start AS phenotype_start, p."end" AS phenotype_end, v.pos - p.start AS distance
FROM nominal_stats AS r
JOIN runs AS u USING (run_id)
JOIN phenotypes AS p
  ON p.cohort = u.cohort AND p.chr = r.chr AND p.phenotype_idx = r.phenotype_idx
LEFT JOIN variants AS v
  ON v.cohort = u.cohort AND v.chr = r.variant_chr AND v.variant_idx = r.variant_idx
JOIN result_status AS st ON st.code = r.status;
