-- validate_model (view): model audit rows of validate runs with save_model_audit (long format).
--
-- Reads : validate_model_stats, validate_runs (view), runs, phenotypes, variants.
-- Output: one row per audit row: run_id, run_name, cohort, validation_cohort, chr,
--          phenotype_idx, row_idx (order within the phenotype), phenotype, block, name,
--          value_main, value_val, shared_with_val, pos, ref, alt, phenotype_start,
--          phenotype_end, distance (docs/methods.md#validate-outputs).  Rows naming a
--          discovery-cohort variant of the phenotype's chromosome (blocks beta, variant_mu,
--          variant_sd, ...) carry its pos/ref/alt and distance; other rows have them NULL.
-- Coordinates: 1-based positions as written in the input files; distance = variant pos -
--          phenotype start (signed).

CREATE OR REPLACE VIEW validate_model AS
SELECT m.run_id, x.name AS run_name, u.cohort, u.validation_cohort, m.chr, m.phenotype_idx,
       m.row_idx, p.gene_id AS phenotype, m.block, m.name, m.value_main, m.value_val,
       m.shared_with_val,
       v.pos, v.ref, v.alt,
       p.start AS phenotype_start, p."end" AS phenotype_end, v.pos - p.start AS distance
FROM validate_model_stats AS m
JOIN validate_runs AS u USING (run_id)
JOIN runs AS x USING (run_id)
JOIN phenotypes AS p
  ON p.cohort = u.cohort AND p.chr = m.chr AND p.phenotype_idx = m.phenotype_idx
LEFT JOIN variants AS v
  ON v.cohort = u.cohort AND v.chr = m.chr AND v.variant_id = m.name;
