-- plot_status_counts: a run's stored rows and phenotypes by status (segqtl report).
--
-- Inputs (parameters): $run_id.
-- Reads : nominal_stats, finemap_stats, validate_stats, result_status.
-- Output: status (result_status name), n_rows (stored rows: pairs for nominal, variants for
--          finemap, phenotypes for perm and validate), n_phenotypes (distinct phenotypes);
--          ordered by n_rows descending, then status.  A run's rows live in one of the tables.
WITH stored AS (
    SELECT chr, phenotype_idx, status FROM nominal_stats WHERE run_id = $run_id
    UNION ALL
    SELECT chr, phenotype_idx, status FROM finemap_stats WHERE run_id = $run_id
    UNION ALL
    SELECT chr, phenotype_idx, status FROM validate_stats WHERE run_id = $run_id
)
SELECT st.name AS status, count(*) AS n_rows,
       count(DISTINCT (r.chr, r.phenotype_idx)) AS n_phenotypes
FROM stored AS r
JOIN result_status AS st ON st.code = r.status
GROUP BY st.name
ORDER BY n_rows DESC, status
