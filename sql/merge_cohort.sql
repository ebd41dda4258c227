-- merge_cohort: copy a cohort's rows of one cohort table from a shard warehouse.
--
-- Inputs (template): {shard} = the attached shard warehouse's alias; {table} = one of the
--          cohort tables cohort_files, samples, phenotypes, variants, covariates, copynumber,
--          phenotype_covariate, segments (named by segqtl, never user text).
-- Inputs (parameters): $cohort (the cohort's name, the same in both warehouses).
-- Reads : {shard}.{table}.
-- Writes: {table} rows of the cohort, columns matched by name, values unchanged (positions
--          1-based as in the input files; sample_idx, phenotype_idx, variant_idx are the
--          0-based file rows the results refer to, so they must not be renumbered).
INSERT INTO {table} BY NAME
SELECT * FROM {shard}.{table} WHERE cohort = $cohort
