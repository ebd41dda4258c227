-- genotypes_view: (re)create the `genotypes` view over every cohort's genotype table.
--
-- Inputs : none; the caller appends one SELECT per cohort (generated from cohorts.cohort_id,
--          never from user text) in place of the selects placeholder below.
-- Output : view genotypes(cohort, chr, variant_idx, variant_id, pos, altlr DOUBLE[],
--          reflr DOUBLE[]) - dosages in the cohort's sample order, NULL = missing.
CREATE OR REPLACE VIEW genotypes AS
{selects}
