-- unit_top_rows: a just-inserted unit's top hit per phenotype into nominal_top_stats.
--
-- Inputs (parameters): $run_id, $unit_id.
-- Reads : nominal_stats (the unit's rows, inserted in the same transaction), runs, variants.
-- Output: one row per phenotype of the unit with rows into nominal_top_stats (migration 010;
--          docs/methods.md#top-hits): the row with the largest |t_stat_d|, the first in
--          variant order on ties, with its variant's variant_id, pos, ref, alt; a phenotype
--          without a fitted variant gets the best-variant run's empty row (variant NULL,
--          number_of_samples 0, status 5 = no_testable_variant).
-- Coordinates: as nominal_stats.
INSERT INTO nominal_top_stats
-- One aggregate per phenotype rather than a window over the unit's rows (3x faster; the
-- parent commits every unit): the row maximising (has a t, |t|, no variant, -variant_idx) is
-- the first row of ORDER BY abs(t_stat_d) DESC NULLS LAST, variant_idx NULLS FIRST.  The
-- aggregate keeps only that row's rowid, and the rows are read back by it: half the time of
-- carrying every row's columns through the aggregate.
WITH best AS (
    SELECT arg_max(s.rowid, (s.t_stat_d IS NOT NULL, coalesce(abs(s.t_stat_d), 0),
                             s.variant_idx IS NULL, -coalesce(s.variant_idx, 0))) AS row_id
    FROM nominal_stats AS s
    WHERE s.run_id = $run_id AND s.unit_id = $unit_id
    GROUP BY s.chr, s.phenotype_idx
),
top AS (
    SELECT * FROM nominal_stats WHERE rowid IN (SELECT row_id FROM best)
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
ORDER BY t.chr, t.phenotype_idx
