-- unit_variants: genotype rows needed by one work unit (the union of its cis windows).
--
-- Inputs (parameters): $cohort, $chr, $window (bp), $first_idx, $last_idx (phenotype_idx range).
-- Reads : phenotypes, variants.
-- Output: variant_idx, variant_id, pos, altlr, reflr (DOUBLE[] in sample order) for every
--          variant with  min(start) - $window <= pos <= max("end") + $window  over the unit's
--          phenotypes (closed at both ends, 1-based positions), ordered by variant_idx.
--          The exact per-phenotype windows come from cis_pairs.sql.
WITH span AS (
    SELECT min(start) - $window AS lo, max("end") + $window AS hi
    FROM phenotypes
    WHERE cohort = $cohort AND chr = $chr AND phenotype_idx BETWEEN $first_idx AND $last_idx
)
SELECT v.variant_idx, v.variant_id, v.pos, v.altlr, v.reflr
FROM variants AS v, span
WHERE v.cohort = $cohort AND v.chr = $chr AND v.pos BETWEEN span.lo AND span.hi
ORDER BY v.variant_idx
