-- list_cohorts: the ingested cohorts, one row each (segqtl cohorts).
--
-- Inputs (parameters): none.
-- Reads : cohorts, phenotypes, variants.
-- Output: cohort, n_samples, n_phenotypes, n_variants, chromosomes (the chromosomes with
--          phenotypes, comma-separated in natural order: chr1, chr2, ..., chr10, ..., chrX),
--          has_copynumber, has_phenotype_covariate, created_at, checksum (sha256 over the input
--          files' checksums), source_cohort (for a cohort derived by a run's exclusions,
--          ranges or PCs: the cohort it was made from; else NULL); ordered by ingest order.
SELECT c.cohort, c.n_samples,
       (SELECT count(*) FROM phenotypes AS p WHERE p.cohort = c.cohort) AS n_phenotypes,
       (SELECT count(*) FROM variants AS v WHERE v.cohort = c.cohort) AS n_variants,
       (SELECT string_agg(chr, ',' ORDER BY
                   try_cast(regexp_extract(chr, '^chr(\d+)$', 1) AS INTEGER) NULLS LAST, chr)
        FROM (SELECT DISTINCT chr FROM phenotypes AS p WHERE p.cohort = c.cohort)) AS chromosomes,
       c.has_copynumber, c.has_phenotype_covariate, c.created_at, c.checksum,
       c.source_cohort
FROM cohorts AS c
ORDER BY c.cohort_id
