-- bundle_phenotypes: the quantification rows in their file order (segqtl bundle; segqtl/ingest/bundle.py).
--
-- Inputs (parameters): $cohort.
-- Output: chr, start, end, gene_id, values (DOUBLE[], sample order), ordered by file_row.
-- Coordinates: start/end 1-based as ingested; chr normalised ('chr' prefix).
SELECT chr, start, "end", gene_id, "values"
FROM phenotypes
WHERE cohort = $cohort
ORDER BY file_row
