-- export_chunks: the phenotype ranges in which one chromosome of a run is exported.
--
-- Inputs (parameters): $run_id, $chr (the phenotypes' chromosome), $rows (rows per stretch,
--          roughly: a stretch ends once its units hold at least $rows result rows).
-- Reads : run_units (each unit's phenotype range and result row count).
-- Output: first_phenotype, last_phenotype (inclusive phenotype_idx bounds), consecutive and
--          covering every unit of the chromosome, in phenotype order.
-- Coordinates: phenotype_idx is the 0-based row among the chromosome's phenotypes.
SELECT min(first_phenotype_idx) AS first_phenotype, max(last_phenotype_idx) AS last_phenotype
FROM (
    SELECT first_phenotype_idx, last_phenotype_idx,
           (coalesce(sum(n_rows) OVER (ORDER BY first_phenotype_idx
                                       ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0))
               // $rows AS stretch
    FROM run_units
    WHERE run_id = $run_id AND chr = $chr
)
GROUP BY stretch
ORDER BY first_phenotype
