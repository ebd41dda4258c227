-- compare_pairs: match the results of two completed runs of one mode (segqtl compare).
--
-- Inputs (parameters): $run_a, $run_b (run ids); $by_variant (BOOLEAN: key on (phenotype,
--          variant) when true, on phenotype alone when false); $rule_a, $rule_b (each run's hit
--          rule: qvalue | at_most | at_least); $threshold_a, $threshold_b (each rule's
--          threshold: the FDR level, or finemap's stability threshold).
-- Template: the placeholder in the results CTE is replaced by the mode's compare_source file (sql/compare_<mode>.sql,
--          named in segqtl/modes/<mode>.py): a SELECT of the two runs' results with columns
--          run_id, chr, phenotype, variant, effect, p, q, hit_value, which may use the CTE qv.
-- Reads : qvalues, and what the mode's compare_source reads.
-- Output: one row per key present in either run (a full outer join): phenotype, variant_a,
--          variant_b, in_a, in_b, chr, effect_a, effect_b, p_a, p_b, q_a, q_b, hit_a, hit_b,
--          same_variant; ordered by phenotype, then variant.  The _a/_b columns of a run the key
--          is missing from are NULL.
-- Which rows are results: the compare_source's (status 'tested' and, for modes with variants,
--          a variant: a phenotype's "empty row" with no variant is left out).
-- Matching: on names, never on row numbers, so runs of different cohorts compare:
--          phenotype = gene_id, variant = variant ID exactly as written (chr:pos:ref:alt).
--          $by_variant: key (phenotype, variant), so variant_a = variant_b when in both.
--          Otherwise the key is the phenotype and variant_a/variant_b are each run's lead variant
--          (NULL for validate, whose rows have none); same_variant = variant_a = variant_b (NULL
--          unless the key is in both runs and has variants).  Pairs on a chromosome only one
--          run covers are simply only in that run.
-- Values : effect and p as the mode declares them (Mode.effect_column, Mode.p_column); q = the
--          run's q-value (qvalues, joined on run_id, chr, phenotype_idx) or NULL; hit_value = the
--          value the mode's non-q hit rule compares.
-- Hit rules (hit is false, not NULL, when the rule's value is missing):
--          qvalue: q <= threshold;  at_most: hit_value <= threshold;
--          at_least: hit_value >= threshold.
WITH side AS (
    SELECT 'a' AS side, CAST($run_a AS INTEGER) AS run_id, CAST($rule_a AS VARCHAR) AS rule,
           CAST($threshold_a AS DOUBLE) AS threshold
    UNION ALL
    SELECT 'b', CAST($run_b AS INTEGER), CAST($rule_b AS VARCHAR), CAST($threshold_b AS DOUBLE)
),
qv AS (
    SELECT run_id, chr, phenotype_idx, qvalue
    FROM qvalues
    WHERE run_id IN ($run_a, $run_b)
),
results AS (
    -- the mode's results (its compare_source file, inserted here by segqtl.warehouse.compare)
    {results}
),
sided AS (
    SELECT s.side, r.run_id, r.chr, r.phenotype, r.variant, r.effect, r.p, r.q,
           -- the join key's variant part: '' when matching on the phenotype alone, so the
           -- full outer join stays an equality (hash) join
           CASE WHEN $by_variant THEN r.variant ELSE '' END AS key_variant,
           CASE s.rule
               WHEN 'qvalue' THEN coalesce(r.q <= s.threshold, false)
               WHEN 'at_most' THEN coalesce(r.hit_value <= s.threshold, false)
               WHEN 'at_least' THEN coalesce(r.hit_value >= s.threshold, false)
               ELSE error('compare_pairs: unknown hit rule ' || s.rule)
           END AS hit
    FROM results AS r
    JOIN side AS s ON s.run_id = r.run_id
),
a AS (SELECT * FROM sided WHERE side = 'a'),
b AS (SELECT * FROM sided WHERE side = 'b')
SELECT coalesce(a.phenotype, b.phenotype) AS phenotype,
       a.variant AS variant_a, b.variant AS variant_b,
       a.run_id IS NOT NULL AS in_a, b.run_id IS NOT NULL AS in_b,
       coalesce(a.chr, b.chr) AS chr,
       a.effect AS effect_a, b.effect AS effect_b,
       a.p AS p_a, b.p AS p_b, a.q AS q_a, b.q AS q_b,
       a.hit AS hit_a, b.hit AS hit_b,
       a.variant = b.variant AS same_variant
FROM a
FULL OUTER JOIN b
  ON a.phenotype = b.phenotype AND a.key_variant = b.key_variant
ORDER BY phenotype, coalesce(variant_a, variant_b)
