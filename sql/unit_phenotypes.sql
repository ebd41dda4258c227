-- unit_phenotypes: phenotype rows of one work unit, with their phenotype-level inputs.
--
-- Inputs (parameters): $cohort, $chr, $first_idx, $last_idx (phenotype_idx range, inclusive),
--          $only_gene (a gene_id to restrict to, or NULL for all).
-- Reads : phenotypes, phenotype_covariate, copynumber.
-- Output: phenotype_idx, gene_id, start, "end", values (DOUBLE[] in sample order), pcov and cn
--          (DOUBLE[], or NULL when the cohort has no phenotype covariate / copy number),
--          ordered by phenotype_idx (quantification-file order within the chromosome).
SELECT p.phenotype_idx, p.gene_id, p.start, p."end", p."values",
       pc."values" AS pcov, cn."values" AS cn
FROM phenotypes AS p
LEFT JOIN phenotype_covariate AS pc
  ON pc.cohort = p.cohort AND pc.gene_id = p.gene_id
LEFT JOIN copynumber AS cn
  ON cn.cohort = p.cohort AND cn.gene_id = p.gene_id
WHERE p.cohort = $cohort
  AND p.chr = $chr
  AND p.phenotype_idx BETWEEN $first_idx AND $last_idx
  AND ($only_gene IS NULL OR p.gene_id = $only_gene)
ORDER BY p.phenotype_idx
