-- comparison_results (view): stored run comparisons' pairs with their runs and the changes.
--
-- Reads : comparison_pairs, comparisons.
-- Output: one row per matched or unmatched key of a comparison: comparison_id, run_a, run_b,
--          mode, chr, phenotype, variant (the key variant: match_key 'phenotype, variant'
--          only, else NULL), variant_a, variant_b, same_variant, in_a, in_b, presence (both |
--          only_a | only_b), effect_a, effect_b, delta = effect_b - effect_a, p_a, p_b, q_a,
--          q_b, hit_a, hit_b, hit_change (gained | lost | kept | none; a key missing from a run
--          is no hit there).  Missing = NULL.
-- Keys  : names, never row numbers: phenotype = gene_id, variant = variant ID as written
--          (see sql/migrations/006_compare.sql for the comparison tables).

CREATE OR REPLACE VIEW comparison_results AS
SELECT c.comparison_id, c.run_a, c.run_b, c.mode, p.chr, p.phenotype,
       CASE WHEN c.match_key = 'phenotype, variant' THEN coalesce(p.variant_a, p.variant_b)
       END AS variant,
       p.variant_a, p.variant_b, p.same_variant, p.in_a, p.in_b,
       CASE WHEN p.in_a AND p.in_b THEN 'both' WHEN p.in_a THEN 'only_a' ELSE 'only_b'
       END AS presence,
       p.effect_a, p.effect_b, p.effect_b - p.effect_a AS delta,
       p.p_a, p.p_b, p.q_a, p.q_b, p.hit_a, p.hit_b,
       CASE WHEN coalesce(p.hit_a, false) AND coalesce(p.hit_b, false) THEN 'kept'
            WHEN coalesce(p.hit_b, false) THEN 'gained'
            WHEN coalesce(p.hit_a, false) THEN 'lost'
            ELSE 'none' END AS hit_change
FROM comparison_pairs AS p
JOIN comparisons AS c USING (comparison_id);
