-- derive_phenotype_exclusions: the source cohort's phenotypes a derived cohort leaves out.
--
-- Inputs (parameters): $source (cohort), $window (bp, the run's cis window), $has_include
--          (an --include-phenotypes list was given), $has_ranges (--range was given),
--          $exclude_detail, $include_detail, $range_detail (texts stored as detail).
-- Reads : phenotypes; temp tables derive_lists (kind, action, id) and derive_ranges (chr,
--          start, "end").
-- Output: chr, phenotype_idx, id (gene_id), reason ('excluded' before 'not_included' before
--          'outside_range': the first that applies), detail; one row per phenotype left out.
-- Coordinates: a phenotype is in range when its cis window [start - $window, "end" + $window]
--          overlaps a range [start, "end"] of its chromosome; all 1-based, inclusive.
WITH flags AS (
    SELECT p.chr, p.phenotype_idx, p.gene_id,
           p.gene_id IN (SELECT id FROM derive_lists
                         WHERE kind = 'phenotypes' AND action = 'exclude') AS excluded,
           $has_include AND p.gene_id NOT IN (SELECT id FROM derive_lists
                         WHERE kind = 'phenotypes' AND action = 'include') AS not_included,
           $has_ranges AND NOT EXISTS (
               SELECT 1 FROM derive_ranges AS r
               WHERE r.chr = p.chr AND r.start <= p."end" + $window
                 AND r."end" >= p.start - $window) AS outside
    FROM phenotypes AS p
    WHERE p.cohort = $source
)
SELECT chr, phenotype_idx, gene_id AS id,
       CASE WHEN excluded THEN 'excluded' WHEN not_included THEN 'not_included'
            ELSE 'outside_range' END AS reason,
       CASE WHEN excluded THEN $exclude_detail WHEN not_included THEN $include_detail
            ELSE $range_detail END AS detail
FROM flags
WHERE excluded OR not_included OR outside
ORDER BY chr, phenotype_idx
