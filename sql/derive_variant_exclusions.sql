-- derive_variant_exclusions: the source cohort's variants a derived cohort leaves out.
--
-- Inputs (parameters): $source (cohort), $has_include (an --include-variants list was given),
--          $has_ranges (--range was given), $exclude_detail, $include_detail, $range_detail.
-- Reads : variants; temp tables derive_lists (kind, action, id) and derive_ranges (chr, start,
--          "end").
-- Output: chr, variant_idx, id (variant_id), reason ('excluded' before 'not_included' before
--          'outside_range'), detail; one row per variant left out.
-- Coordinates: a variant is in range when start <= pos <= "end" for a range of its
--          chromosome (1-based, inclusive, as written in the genotype files).
WITH flags AS (
    SELECT v.chr, v.variant_idx, v.variant_id,
           v.variant_id IN (SELECT id FROM derive_lists
                            WHERE kind = 'variants' AND action = 'exclude') AS excluded,
           $has_include AND v.variant_id NOT IN (SELECT id FROM derive_lists
                            WHERE kind = 'variants' AND action = 'include') AS not_included,
           $has_ranges AND NOT EXISTS (
               SELECT 1 FROM derive_ranges AS r
               WHERE r.chr = v.chr AND v.pos BETWEEN r.start AND r."end") AS outside
    FROM variants AS v
    WHERE v.cohort = $source
)
SELECT chr, variant_idx, variant_id AS id,
       CASE WHEN excluded THEN 'excluded' WHEN not_included THEN 'not_included'
            ELSE 'outside_range' END AS reason,
       CASE WHEN excluded THEN $exclude_detail WHEN not_included THEN $include_detail
            ELSE $range_detail END AS detail
FROM flags
WHERE excluded OR not_included OR outside
ORDER BY chr, variant_idx
