-- nominal_top (view): the top hit per phenotype of every nominal and perm run.
--
-- Reads : nominal_top_stats, runs, phenotypes, result_status.
-- Output: the columns of nominal_results (same names and order), one row per (run,
--          phenotype): the phenotype's variant with the largest |t_stat_d| (first in variant
--          order on ties) — the row a best-variant run reports (docs/methods.md#top-hits).  For
--          all-variants runs this reads a table of one row per phenotype, not every pair.
-- Coordinates: as nominal_results.

CREATE OR REPLACE VIEW nominal_top AS
SELECT r.run_id, u.name AS run_name, u.cohort, r.chr, r.phenotype_idx, r.variant_idx,
       p.gene_id AS phenotype, r.variant_id AS variant, r.number_of_samples,
       r.beta_s, r.se_s, r.beta_d, r.se_d, r.t_stat_d, r.nominal_p, r.r2_alt,
       r.aic_null, r.aic_alt, r.delta_aic_alt_minus_null, r.p_adj, st.name AS status,
       CASE WHEN r.variant_id IS NOT NULL THEN r.variant_chr END AS variant_chr,
       r.pos, r.ref, r.alt,
       p.start AS phenotype_start, p."end" AS phenotype_end, r.pos - p.start AS distance
FROM nominal_top_stats AS r
JOIN runs AS u USING (run_id)
JOIN phenotypes AS p
  ON p.cohort = u.cohort AND p.chr = r.chr AND p.phenotype_idx = r.phenotype_idx
JOIN result_status AS st ON st.code = r.status;
