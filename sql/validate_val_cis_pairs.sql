-- validate_val_cis_pairs: the validation cohort's cis window join for one work unit's main
-- phenotypes (../shared/SPEC_FINEMAP_VALIDATE.md §11: each cohort has its own window).
--
-- Inputs (parameters): $cohort (main cohort), $val_cohort, $chr, $window (bp), $first_idx,
--          $last_idx (MAIN phenotype_idx range, inclusive), $only_gene (gene_id or NULL).
-- Reads : phenotypes (both cohorts), variants (validation cohort).
-- Output: one row per (phenotype_idx, variant_idx), both indices of the VALIDATION cohort,
--          with the variant in the validation phenotype's window, ordered by phenotype_idx then
--          variant_idx (validation genotype-file order).
-- Window rule: same chromosome and  start - $window <= pos <= "end" + $window with the
--          validation cohort's start/"end", both ends inclusive; 1-based positions as written.
WITH vp AS (
    SELECT v.phenotype_idx, v.start, v."end"
    FROM phenotypes AS m
    JOIN phenotypes AS v
      ON v.cohort = $val_cohort AND v.chr = m.chr AND v.gene_id = m.gene_id
    WHERE m.cohort = $cohort
      AND m.chr = $chr
      AND m.phenotype_idx BETWEEN $first_idx AND $last_idx
      AND ($only_gene IS NULL OR m.gene_id = $only_gene)
)
SELECT vp.phenotype_idx, var.variant_idx
FROM vp
JOIN variants AS var
  ON var.cohort = $val_cohort
 AND var.chr = $chr
 AND var.pos >= vp.start - $window
 AND var.pos <= vp."end" + $window
ORDER BY vp.phenotype_idx, var.variant_idx
