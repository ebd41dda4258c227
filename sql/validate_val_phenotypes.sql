-- validate_val_phenotypes: the validation cohort's rows of one work unit's main phenotypes
-- (docs/methods.md#validate-pipeline).
--
-- Inputs (parameters): $cohort (main cohort), $val_cohort, $chr, $first_idx, $last_idx (MAIN
--          phenotype_idx range, inclusive), $only_gene (a gene_id to restrict to, or NULL).
-- Reads : phenotypes (both cohorts), phenotype_covariate, copynumber (validation cohort).
-- Output: main_phenotype_idx, phenotype_idx (the row in the VALIDATION cohort's chromosome
--          table), gene_id, start, "end", values (DOUBLE[] in validation sample order), pcov and
--          cn (DOUBLE[], or NULL when the validation cohort has none), ordered by
--          main_phenotype_idx.  A main phenotype whose gene_id is not on the same chromosome of
--          the validation cohort has no row.
-- Coordinate rule: start/"end" are the validation cohort's own (1-based as written); each cohort
--          has its own cis window.
SELECT m.phenotype_idx AS main_phenotype_idx, v.phenotype_idx, v.gene_id, v.start, v."end",
       v."values", pc."values" AS pcov, cn."values" AS cn
FROM phenotypes AS m
JOIN phenotypes AS v
  ON v.cohort = $val_cohort AND v.chr = m.chr AND v.gene_id = m.gene_id
LEFT JOIN phenotype_covariate AS pc
  ON pc.cohort = v.cohort AND pc.gene_id = v.gene_id
LEFT JOIN copynumber AS cn
  ON cn.cohort = v.cohort AND cn.gene_id = v.gene_id
WHERE m.cohort = $cohort
  AND m.chr = $chr
  AND m.phenotype_idx BETWEEN $first_idx AND $last_idx
  AND ($only_gene IS NULL OR m.gene_id = $only_gene)
ORDER BY m.phenotype_idx
