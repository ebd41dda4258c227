-- sample_pcs (view): the principal components of derived cohorts, one row per sample and PC.
--
-- Reads : cohort_pcs, samples.
-- Output: cohort (the derived cohort whose covariates hold them), kind ('phenotype' |
--          'genotype'), pc (1-based), covariate (the covariate's name), sample_id, value,
--          explained_variance_ratio; ordered by cohort, kind, pc, sample order.
-- Coordinates: none.

CREATE OR REPLACE VIEW sample_pcs AS
SELECT c.cohort, c.kind, c.pc, c.covariate, s.sample_id, c."values"[s.sample_idx + 1] AS value,
       c.explained_variance_ratio
FROM cohort_pcs AS c
JOIN samples AS s ON s.cohort = c.cohort
ORDER BY c.cohort, c.kind, c.pc, s.sample_idx
