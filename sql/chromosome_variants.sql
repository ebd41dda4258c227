-- chromosome_variants: every variant of one chromosome (negative-control mode: trans variants).
--
-- Inputs (parameters): $cohort, $chr.
-- Reads : variants.
-- Output: variant_idx, variant_id, pos, altlr, reflr ordered by variant_idx (genotype-file order).
SELECT variant_idx, variant_id, pos, altlr, reflr
FROM variants
WHERE cohort = $cohort AND chr = $chr
ORDER BY variant_idx
