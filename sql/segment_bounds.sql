-- segment_bounds: per (phenotype, sample) segment consistency (docs/methods.md#segment-mask).
--
-- Inputs (parameters): $cohort, $chr, $first_idx, $last_idx (phenotype_idx range, inclusive).
-- Reads : phenotypes, segments.
-- Output: (phenotype_idx, sample_idx, lb, ub) for every sample whose segmentation has exactly one
--          segment of this chromosome containing the phenotype start, and whose phenotype end lies
--          in that same segment. lb/ub are that segment's bounds: the sample is usable for a
--          variant at pos iff lb <= pos <= ub.  Samples without a row are masked for every variant
--          of the phenotype.
-- Coordinate rule: segments are closed intervals [startpos, endpos]; containment is inclusive at
--          both ends; positions are 1-based as written in the input files.
WITH ph AS (
    SELECT phenotype_idx, start, "end"
    FROM phenotypes
    WHERE cohort = $cohort AND chr = $chr
      AND phenotype_idx BETWEEN $first_idx AND $last_idx
),
containing AS (
    SELECT ph.phenotype_idx, s.sample_idx,
           count(*)        AS n_segments,
           min(s.startpos) AS lb,
           min(s.endpos)   AS ub
    FROM ph
    JOIN segments AS s
      ON s.cohort = $cohort
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
