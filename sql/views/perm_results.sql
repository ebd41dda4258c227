-- perm_results (view): perm runs' rows with the fitted Beta(shape1, shape2) of the beta method.
--
-- Reads : nominal_results (view), runs, nominal_stats.
-- Output: every column of nominal_results (same order) for runs of mode 'perm', then
--          beta_shape1, beta_shape2 (NULL for the direct method;
--          docs/methods.md#beta-approximation).  One row per phenotype (its lead variant).
-- Coordinates: as nominal_results.

CREATE OR REPLACE VIEW perm_results AS
SELECT r.*, s.beta_shape1, s.beta_shape2
FROM nominal_results AS r
JOIN runs AS u ON u.run_id = r.run_id AND u.mode = 'perm'
JOIN nominal_stats AS s
  ON s.run_id = r.run_id AND s.chr = r.chr AND s.phenotype_idx = r.phenotype_idx;
