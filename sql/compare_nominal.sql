-- compare_nominal: a nominal run's results as segqtl compare matches them (compare_source of
-- segqtl/modes/nominal.py, inserted into sql/compare_pairs.sql).
--
-- Inputs (parameters): $run_a, $run_b.  Uses the CTE qv of compare_pairs.sql.
-- Reads : nominal_results (view), pair_qvalue_stats.
-- Output: run_id, chr, phenotype, variant, effect = beta_d, p = nominal_p, q (the run's q-value:
--          the pair's for an all-variants run after segqtl fdr (pair_qvalue_stats), the
--          phenotype's for a best-variant run of an older segqtl (qv); else NULL), hit_value =
--          nominal_p; rows with status 'tested' and a variant.
SELECT r.run_id, r.chr, r.phenotype, r.variant, r.beta_d AS effect, r.nominal_p AS p,
       coalesce(pq.qvalue, q.qvalue) AS q, r.nominal_p AS hit_value
FROM nominal_results AS r
LEFT JOIN qv AS q
  ON q.run_id = r.run_id AND q.chr = r.chr AND q.phenotype_idx = r.phenotype_idx
LEFT JOIN pair_qvalue_stats AS pq
  ON pq.run_id = r.run_id AND pq.chr = r.chr AND pq.phenotype_idx = r.phenotype_idx
 AND pq.variant_idx = r.variant_idx
WHERE r.run_id IN ($run_a, $run_b) AND r.status = 'tested' AND r.variant IS NOT NULL
