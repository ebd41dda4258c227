-- compare_run_info: what segqtl compare needs to know about its two runs before matching them.
--
-- Inputs (parameters): $run_a, $run_b (run ids; either may not exist).
-- Reads : runs, run_parameters, run_fdr.
-- Output: one row per existing run among the two: run_id, mode, cohort, status,
--          all_variants (the JSON text of the run parameter: false | true | "GENE"; NULL when
--          unset), r2_stability_threshold (DOUBLE; finemap's hit threshold, NULL when unset) and
--          n_qvalues (the run's rows in run_fdr: > 0 once q-values were computed, by a perm run
--          itself or by segqtl fdr: per phenotype in qvalue_stats, per pair of an
--          all-variants run in pair_qvalue_stats); ordered by run_id.
SELECT u.run_id, u.mode, u.cohort, u.status,
       av.value AS all_variants,
       CAST(json_extract(st.value, '$') AS DOUBLE) AS r2_stability_threshold,
       (SELECT count(*) FROM run_fdr AS f WHERE f.run_id = u.run_id) AS n_qvalues
FROM runs AS u
LEFT JOIN run_parameters AS av ON av.run_id = u.run_id AND av.key = 'all_variants'
LEFT JOIN run_parameters AS st ON st.run_id = u.run_id AND st.key = 'r2_stability_threshold'
WHERE u.run_id IN ($run_a, $run_b)
ORDER BY u.run_id
