-- cis_pairs: the cis window join (docs/methods.md#cis-window).
--
-- Inputs (parameters): $cohort, $chr, $window (bp), $first_idx, $last_idx (phenotype_idx range,
--          inclusive).
-- Reads : phenotypes, variants.
-- Output: one row per (phenotype_idx, variant_idx) with the variant in the phenotype's window,
--          ordered by phenotype_idx then variant_idx (genotype-file order).
-- Window rule: same chromosome and  start - $window <= pos <= "end" + $window, both ends
--          inclusive; positions are 1-based as written in the input files.
SELECT p.phenotype_idx, v.variant_idx
FROM phenotypes AS p
JOIN variants AS v
  ON v.cohort = p.cohort
 AND v.chr = p.chr
 AND v.pos >= p.start - $window
 AND v.pos <= p."end" + $window
WHERE p.cohort = $cohort
  AND p.chr = $chr
  AND p.phenotype_idx BETWEEN $first_idx AND $last_idx
ORDER BY p.phenotype_idx, v.variant_idx
