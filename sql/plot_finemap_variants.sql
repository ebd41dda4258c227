-- plot_finemap_variants: a finemap run's variants of one phenotype (segqtl plot locus marks
-- the selected ones).
--
-- Inputs (parameters): $run_id (a finemap run), $phenotype (gene_id).
-- Reads : finemap_results (view).
-- Output: variant, pos, stability_score, beta_full; rows with status 'tested' and a variant,
--          ordered by pos.
-- Coordinates: 1-based positions as written in the input files.
SELECT variant, pos, stability_score, beta_full
FROM finemap_results
WHERE run_id = $run_id AND phenotype = $phenotype AND status = 'tested' AND variant IS NOT NULL
ORDER BY pos
