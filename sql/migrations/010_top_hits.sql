-- Migration 010: each phenotype's top hit of every nominal and perm run, kept apart from the
-- (possibly billions of) all-variants rows, with its variant's annotation, so that "the top
-- hit per phenotype" reads one row per phenotype instead of scanning every pair and every
-- variant (docs/methods.md#top-hits).
--
-- Inputs : nominal_stats (migration 001, beta shapes of 002), runs, variants.
-- Outputs: nominal_top_stats: the columns of nominal_stats, then variant_id, pos, ref, alt of
--          the variant (NULL when the phenotype had no testable variant); one row per (run_id,
--          chr, phenotype_idx): the phenotype's row with the largest |t_stat_d| (the first in
--          variant order on ties), i.e. the row a best-variant run reports; a phenotype
--          without a fitted variant gets that run's empty row (variant NULL,
--          number_of_samples 0, status 5 = no_testable_variant).  Written with each unit's
--          rows, in the same transaction (sql/unit_top_rows.sql); the rows of runs recorded
--          before this migration are filled in here.
-- Coordinates: as nominal_stats (0-based phenotype_idx/variant_idx within the chromosome);
--          pos as written in the genotype file.
CREATE TABLE nominal_top_stats AS
SELECT s.*, v.variant_id, v.pos, v.ref, v.alt
FROM nominal_stats AS s, variants AS v
WITH NO DATA;

INSERT INTO nominal_top_stats
WITH top AS (
    SELECT s.*
    FROM nominal_stats AS s
    QUALIFY row_number() OVER (
        PARTITION BY s.run_id, s.chr, s.phenotype_idx
        ORDER BY abs(s.t_stat_d) DESC NULLS LAST, s.variant_idx NULLS FIRST) = 1
)
SELECT t.* REPLACE (
           CASE WHEN t.t_stat_d IS NOT NULL THEN t.variant_idx END AS variant_idx,
           CASE WHEN t.t_stat_d IS NOT NULL THEN t.number_of_samples ELSE 0 END
               AS number_of_samples,
           CASE WHEN t.t_stat_d IS NOT NULL THEN t.status ELSE 5 END AS status),
       v.variant_id, v.pos, v.ref, v.alt
FROM top AS t
JOIN runs AS u USING (run_id)
LEFT JOIN variants AS v
  ON t.t_stat_d IS NOT NULL
 AND v.cohort = u.cohort AND v.chr = t.variant_chr AND v.variant_idx = t.variant_idx
ORDER BY t.run_id, t.chr, t.phenotype_idx;
