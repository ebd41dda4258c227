-- compare_pairs: match the results of two completed runs of one mode (segqtl compare).
--
-- Inputs (parameters): $run_a, $run_b (run ids); $by_variant (BOOLEAN: key on (phenotype,
--          variant) when true, on phenotype alone when false); $rule_a, $rule_b (each run's hit
--          rule: qvalue | p_adj | nominal_p | stability_score | pearson_pval); $threshold_a,
--          $threshold_b (each rule's threshold: the FDR level, or finemap's stability
--          threshold).
-- Reads : runs, nominal_results, finemap_results, validate_results (views), qvalues.
-- Output: one row per key present in either run (a full outer join): phenotype, variant_a,
--          variant_b, in_a, in_b, chr, effect_a, effect_b, p_a, p_b, q_a, q_b, hit_a, hit_b,
--          same_variant; ordered by phenotype, then variant.  The _a/_b columns of a run the key
--          is missing from are NULL.
-- Which rows are results: status 'tested' (result_status code 0) and, for nominal, perm and
--          finemap, a variant (a phenotype's "empty row" with no variant is left out).
-- Matching: on names, never on row numbers, so runs of different cohorts compare:
--          phenotype = gene_id, variant = variant ID exactly as written (chr:pos:ref:alt).
--          $by_variant: key (phenotype, variant), so variant_a = variant_b when in both.
--          Otherwise the key is the phenotype and variant_a/variant_b are each run's lead variant
--          (NULL for validate, whose rows have none); same_variant = variant_a = variant_b (NULL
--          unless the key is in both runs and has variants).  Pairs on a chromosome only one
--          run covers are simply only in that run.
-- Values : effect = beta_d (nominal, perm), beta_full (finemap), pearson_r (validate);
--          p = nominal_p (nominal), p_adj (perm), stability_score (finemap), pearson_pval
--          (validate); q = the run's q-value (qvalues, joined on run_id, chr, phenotype_idx)
--          or NULL.
-- Hit rules (hit is false, not NULL, when the rule's value is missing):
--          qvalue: q <= threshold;  p_adj: p_adj <= threshold;  nominal_p: nominal_p <= threshold;
--          stability_score: stability_score >= threshold;  pearson_pval: pearson_pval <= threshold.
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
    -- nominal and perm (both stored in nominal_stats)
    SELECT r.run_id, r.chr, r.phenotype, r.variant, r.beta_d AS effect,
           CASE WHEN u.mode = 'perm' THEN r.p_adj ELSE r.nominal_p END AS p,
           q.qvalue AS q, r.p_adj, r.nominal_p,
           NULL::DOUBLE AS stability_score, NULL::DOUBLE AS pearson_pval
    FROM nominal_results AS r
    JOIN runs AS u ON u.run_id = r.run_id
    LEFT JOIN qv AS q
      ON q.run_id = r.run_id AND q.chr = r.chr AND q.phenotype_idx = r.phenotype_idx
    WHERE r.run_id IN ($run_a, $run_b) AND r.status = 'tested' AND r.variant IS NOT NULL
    UNION ALL
    SELECT f.run_id, f.chr, f.phenotype, f.variant, f.beta_full, f.stability_score,
           NULL::DOUBLE, NULL::DOUBLE, NULL::DOUBLE, f.stability_score, NULL::DOUBLE
    FROM finemap_results AS f
    WHERE f.run_id IN ($run_a, $run_b) AND f.status = 'tested' AND f.variant IS NOT NULL
    UNION ALL
    SELECT v.run_id, v.chr, v.phenotype, NULL::VARCHAR, v.pearson_r, v.pearson_pval,
           NULL::DOUBLE, NULL::DOUBLE, NULL::DOUBLE, NULL::DOUBLE, v.pearson_pval
    FROM validate_results AS v
    WHERE v.run_id IN ($run_a, $run_b) AND v.status = 'tested'
),
sided AS (
    SELECT s.side, r.run_id, r.chr, r.phenotype, r.variant, r.effect, r.p, r.q,
           -- the join key's variant part: '' when matching on the phenotype alone, so the
           -- full outer join stays an equality (hash) join
           CASE WHEN $by_variant THEN r.variant ELSE '' END AS key_variant,
           CASE s.rule
               WHEN 'qvalue' THEN coalesce(r.q <= s.threshold, false)
               WHEN 'p_adj' THEN coalesce(r.p_adj <= s.threshold, false)
               WHEN 'nominal_p' THEN coalesce(r.nominal_p <= s.threshold, false)
               WHEN 'stability_score' THEN coalesce(r.stability_score >= s.threshold, false)
               WHEN 'pearson_pval' THEN coalesce(r.pearson_pval <= s.threshold, false)
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
