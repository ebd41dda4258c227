-- validate_val_segment_bounds: per (validation phenotype, validation sample) segment consistency
-- for one work unit's main phenotypes (SPEC §2, applied to the validation cohort with its own
-- phenotype start/end and its own segmentation).
--
-- Inputs (parameters): $cohort (main cohort), $val_cohort, $chr, $first_idx, $last_idx (MAIN
--          phenotype_idx range, inclusive), $only_gene (gene_id or NULL).
-- Reads : phenotypes (both cohorts), segments (validation cohort).
-- Output: (phenotype_idx, sample_idx, lb, ub), indices of the VALIDATION cohort, for every
--          sample whose segmentation has exactly one segment of this chromosome containing the
--          phenotype start, and whose phenotype end lies in that same segment; the sample is
--          usable for a variant at pos iff lb <= pos <= ub.  Ordered by phenotype_idx, sample_idx.
-- Coordinate rule: segments are closed intervals [startpos, endpos]; containment is inclusive at
--          both ends; positions are 1-based as written in the input files.
WITH ph AS (
    SELECT v.phenotype_idx, v.start, v."end"
    FROM phenotypes AS m
    JOIN phenotypes AS v
      ON v.cohort = $val_cohort AND v.chr = m.chr AND v.gene_id = m.gene_id
    WHERE m.cohort = $cohort
      AND m.chr = $chr
      AND m.phenotype_idx BETWEEN $first_idx AND $last_idx
      AND ($only_gene IS NULL OR m.gene_id = $only_gene)
),
containing AS (
    SELECT ph.phenotype_idx, s.sample_idx,
           count(*)        AS n_segments,
           min(s.startpos) AS lb,
           min(s.endpos)   AS ub
    FROM ph
    JOIN segments AS s
      ON s.cohort = $val_cohort
     AND s.chr = $chr
     AND s.startpos <= ph.start
     AND ph.start <= s.endpos
    GROUP BY ph.phenotype_idx, s.sample_idx
)
SELECT c.phenotype_idx, c.sample_idx, c.lb, c.ub
FROM containing AS c
JOIN ph USING (phenotype_idx)
WHERE c.n_segments = 1
  AND ph."end" >= c.lb
  AND ph."end" <= c.ub
ORDER BY c.phenotype_idx, c.sample_idx
