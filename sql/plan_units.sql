-- plan_units: split a chromosome's phenotypes into work units of consecutive phenotype_idx.
--
-- Inputs (parameters): $cohort, $chr, $size (phenotypes per unit), $only_gene (gene_id or NULL).
-- Reads : phenotypes.
-- Output: unit (0-based within the chromosome), first_idx, last_idx (inclusive), n_phenotypes,
--          ordered by unit.
SELECT phenotype_idx // $size AS unit,
       min(phenotype_idx) AS first_idx,
       max(phenotype_idx) AS last_idx,
       count(*) AS n_phenotypes
FROM phenotypes
WHERE cohort = $cohort AND chr = $chr
  AND ($only_gene IS NULL OR gene_id = $only_gene)
GROUP BY ALL
ORDER BY unit
