-- unit_top_rows: a unit's top hit per phenotype into nominal_top_stats.
--
-- Inputs (parameters): $run_id, $unit_id, $chr (the phenotypes' chromosome), $variant_chr
--          (the variants'); the unit's rows as the relation unit_main: the worker's frame,
--          i.e. nominal_stats' columns without run_id, unit_id, chr and variant_chr (the
--          same rows the transaction inserts into nominal_stats).
-- Reads : unit_main, runs, variants.
-- Output: one row per phenotype of the unit with rows into nominal_top_stats (migration 010;
--          docs/methods.md#top-hits): the row with the largest |t_stat_d|, the first in
--          variant order on ties, with its variant's variant_id, pos, ref, alt; a phenotype
--          without a fitted variant gets the best-variant run's empty row (variant NULL,
--          number_of_samples 0, status 5 = no_testable_variant).
-- Coordinates: as nominal_stats.
INSERT INTO nominal_top_stats BY NAME
-- One aggregate per phenotype over the unit's own rows (not over nominal_stats, whose scan
-- for the unit's rows costs several times more and grows with the warehouse): the row
-- maximising (has a t, |t|, no variant, -variant_idx) is the first row of
-- ORDER BY abs(t_stat_d) DESC NULLS LAST, variant_idx NULLS FIRST; the key is unique within a
-- phenotype (one row per variant, at most one without a variant).
WITH best AS (
    SELECT arg_max(m, (m.t_stat_d IS NOT NULL, coalesce(abs(m.t_stat_d), 0),
                       m.variant_idx IS NULL, -coalesce(m.variant_idx, 0))) AS r
    FROM unit_main AS m
    GROUP BY m.phenotype_idx
),
top AS (
    SELECT unnest(r) FROM best
)
SELECT $run_id AS run_id, $unit_id AS unit_id, $chr AS chr, $variant_chr AS variant_chr,
       t.* REPLACE (
           CASE WHEN t.t_stat_d IS NOT NULL THEN t.variant_idx END AS variant_idx,
           CASE WHEN t.t_stat_d IS NOT NULL THEN t.number_of_samples ELSE 0 END
               AS number_of_samples,
           CASE WHEN t.t_stat_d IS NOT NULL THEN t.status ELSE 5 END AS status),
       v.variant_id, v.pos, v.ref, v.alt
FROM top AS t
JOIN runs AS u ON u.run_id = $run_id
LEFT JOIN variants AS v
  ON t.t_stat_d IS NOT NULL
 AND v.cohort = u.cohort AND v.chr = $variant_chr AND v.variant_idx = t.variant_idx
ORDER BY t.phenotype_idx
