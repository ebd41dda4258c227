-- compare_finemap: a finemap run's results as segqtl compare matches them (compare_source of
-- segqtl/modes/finemap.py, inserted into sql/compare_pairs.sql).
--
-- Inputs (parameters): $run_a, $run_b.
-- Reads : finemap_results (view).
-- Output: run_id, chr, phenotype, variant, effect = beta_full, p = stability_score (a score, not
--          a p-value), q = NULL, hit_value = stability_score; rows with status 'tested' and a
--          variant.
SELECT f.run_id, f.chr, f.phenotype, f.variant, f.beta_full AS effect, f.stability_score AS p,
       NULL::DOUBLE AS q, f.stability_score AS hit_value
FROM finemap_results AS f
WHERE f.run_id IN ($run_a, $run_b) AND f.status = 'tested' AND f.variant IS NOT NULL
