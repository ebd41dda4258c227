-- chromosome_variants: dosages of a range of one chromosome's variants, copied by the parent
-- into memory-mapped scratch files that the workers read.
--
-- Inputs (parameters): $genotype_table (the cohort's genotypes_<id> table, from
--          cohorts.cohort_id), $chr, $first_variant, $last_variant (variant_idx range, inclusive).
-- Reads : the cohort's genotype table.
-- Output: variant_idx, pos, altlr, reflr (DOUBLE[n] in sample order, NULL = missing), in
--          storage order; the caller places rows by variant_idx (genotype-file order).
SELECT variant_idx, pos, altlr, reflr
FROM query_table($genotype_table)
WHERE chr = $chr AND variant_idx BETWEEN $first_variant AND $last_variant
