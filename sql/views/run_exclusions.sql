-- run_exclusions (view): what each run left out and why (SNPTEST's EntityDataView).
--
-- Reads : runs, cohort_exclusions, run_pair_exclusions, phenotypes, variants.
-- Output: run_id, kind ('sample' | 'variant' | 'phenotype' | 'pair'), id (sample_id,
--          variant_id, gene_id; a pair is 'gene_id variant_id'), reason ('excluded': named by
--          an --exclude-* list; 'not_included': missing from an --include-* list;
--          'outside_range': off every --range; 'min_samples_observed': fewer samples with both
--          values observed than --min-samples-observed), detail (the list file, the ranges, or
--          'N observed').  A run without exclusions has no rows.
-- Coordinates: none (identifiers as written in the input files).

CREATE OR REPLACE VIEW run_exclusions AS
SELECT r.run_id, e.kind, e.id, e.reason, e.detail
FROM runs AS r
JOIN cohort_exclusions AS e ON e.cohort = r.cohort
UNION ALL
SELECT x.run_id, 'pair' AS kind, p.gene_id || ' ' || v.variant_id AS id,
       'min_samples_observed' AS reason, x.n_observed || ' observed' AS detail
FROM run_pair_exclusions AS x
JOIN runs AS r USING (run_id)
JOIN phenotypes AS p
  ON p.cohort = r.cohort AND p.chr = x.chr AND p.phenotype_idx = x.phenotype_idx
JOIN variants AS v
  ON v.cohort = r.cohort AND v.chr = x.chr AND v.variant_idx = x.variant_idx
