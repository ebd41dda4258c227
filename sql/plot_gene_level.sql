-- plot_gene_level: one gene-level p-value per phenotype of a nominal or perm run, with its
-- q-value and hit flag (segqtl plot manhattan).
--
-- Inputs (parameters): $run_id.
-- Reads : nominal_top (view), runs, qvalues (view).
-- Output: chr, phenotype_idx, phenotype, phenotype_start, phenotype_end, variant (the lead),
--          p (perm runs: p_adj; nominal runs: nominal_p of the phenotype's top variant), qvalue
--          and is_hit (the run's q-values at its FDR level; NULL when the run has none).
--          Phenotypes without a p-value are left out.  Ordered by chr (as text), start, row.
-- Coordinates: 1-based positions as written in the input files.
SELECT t.chr, t.phenotype_idx, t.phenotype, t.phenotype_start, t.phenotype_end, t.variant,
       CASE WHEN u.mode = 'perm' THEN t.p_adj ELSE t.nominal_p END AS p,
       q.qvalue, q.is_hit
FROM nominal_top AS t
JOIN runs AS u USING (run_id)
LEFT JOIN qvalues AS q
  ON q.run_id = t.run_id AND q.chr = t.chr AND q.phenotype_idx = t.phenotype_idx
WHERE t.run_id = $run_id
  AND (CASE WHEN u.mode = 'perm' THEN t.p_adj ELSE t.nominal_p END) IS NOT NULL
ORDER BY t.chr, t.phenotype_start, t.phenotype_idx
