-- bundle_copynumber: the copynumber rows (segqtl bundle; segqtl/ingest/bundle.py).
--
-- Inputs (parameters): $cohort.
-- Output: gene_id, values (DOUBLE[], sample order), in the quantification file's row order (rows of genes it lacks last, by gene_id).
-- Coordinates: none.
SELECT t.gene_id, t."values"
FROM copynumber AS t
LEFT JOIN phenotypes AS p ON p.cohort = t.cohort AND p.gene_id = t.gene_id
WHERE t.cohort = $cohort
ORDER BY p.file_row NULLS LAST, t.gene_id
