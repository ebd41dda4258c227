-- bundle_covariates: the sample covariates in their file order (segqtl bundle; segqtl/ingest/bundle.py).
--
-- Inputs (parameters): $cohort.
-- Output: name, values (DOUBLE[], sample order), ordered by cov_idx.
-- Coordinates: none.
SELECT name, "values" FROM covariates WHERE cohort = $cohort ORDER BY cov_idx
