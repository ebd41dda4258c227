-- variant_ids: the IDs of a range of one chromosome's variants (for result labels in workers).
--
-- Inputs (parameters): $cohort, $chr, $first_variant, $last_variant (variant_idx range,
--          inclusive).
-- Reads : variants.
-- Output: variant_idx, variant_id (chr:pos:ref:alt as written), ordered by variant_idx
--          (genotype-file order).
SELECT variant_idx, variant_id
FROM variants
WHERE cohort = $cohort
  AND chr = $chr
  AND variant_idx BETWEEN $first_variant AND $last_variant
ORDER BY variant_idx
