-- plot_locus: every stored variant row of one phenotype of a nominal run (segqtl plot locus).
--
-- Inputs (parameters): $run_id, $phenotype (gene_id).
-- Reads : nominal_results (view).
-- Output: chr, phenotype, phenotype_start, phenotype_end, variant, variant_chr, pos,
--          nominal_p (NULL when untested), number_of_samples (the samples tested: gene and
--          variant in one segment, genotype observed; 0 when untested), status; one row per
--          reported variant (an all-variants run reports every cis variant), ordered by pos.
--          A phenotype with no testable variant gives one row with the variant columns NULL.
-- Coordinates: 1-based positions as written in the input files.
SELECT chr, phenotype, phenotype_start, phenotype_end, variant, variant_chr, pos, nominal_p,
       number_of_samples, status
FROM nominal_results
WHERE run_id = $run_id AND phenotype = $phenotype
ORDER BY pos NULLS LAST, variant_idx
