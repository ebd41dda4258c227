-- bundle_chromosomes: the cohort's genotype chromosomes (segqtl bundle; segqtl/ingest/bundle.py).
--
-- Inputs (parameters): $cohort.
-- Output: chr, n_variants, ordered by chr.
-- Coordinates: none.
SELECT chr, count(*) AS n_variants FROM variants WHERE cohort = $cohort GROUP BY chr ORDER BY chr
