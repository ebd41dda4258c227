-- compare_summary: the summary of one stored comparison (segqtl compare).
--
-- Inputs (parameters): $comparison_id; $log10p (BOOLEAN: p_a/p_b are p-values, correlate
--          -log10 p; false for finemap, whose p_a/p_b hold stability scores, correlated as they
--          are).
-- Reads : comparison_pairs.
-- Output: one row: n_pairs_a, n_pairs_b, n_both, n_only_a, n_only_b, corr_effect,
--          corr_log10p, sign_agreement, n_sign_pairs, hits_a, hits_b, hits_both, hits_gained,
--          hits_lost.
-- Rules  : "both" = keys in both runs.  corr_effect: Pearson r of the effects over the keys in
--          both with the same variant (same_variant true; every key in both when same_variant
--          is NULL: validate, which has no variant) and two non-NULL effects, so that effects
--          of different lead variants are never correlated.  corr_log10p: over the keys in
--          both with two non-NULL values.  Either is NULL with fewer than 3 such keys or when
--          a side is constant over them; clamped to [-1, 1] against rounding.  p = 0 (underflow)
--          counts as the smallest normal double, so -log10 p stays finite (307.65).
--          sign_agreement: among keys in both with two nonzero, non-NULL effects (n_sign_pairs),
--          the share whose effects have the same sign; NULL when there is none.
--          Hits: a key missing from a run is not a hit there.  hits_gained = hit in B and not
--          in A (including keys only in B); hits_lost = hit in A and not in B (including keys
--          only in A).
WITH p AS (
    SELECT in_a, in_b, in_a AND in_b AS in_both, coalesce(same_variant, true) AS same,
           coalesce(hit_a, false) AS ha, coalesce(hit_b, false) AS hb,
           effect_a AS ea, effect_b AS eb,
           -- (greatest() would skip a NULL p, hence the CASE)
           CASE WHEN NOT $log10p THEN p_a
                WHEN p_a = 0 THEN -log10(2.2250738585072014e-308)
                ELSE -log10(p_a) END AS sa,
           CASE WHEN NOT $log10p THEN p_b
                WHEN p_b = 0 THEN -log10(2.2250738585072014e-308)
                ELSE -log10(p_b) END AS sb
    FROM comparison_pairs
    WHERE comparison_id = $comparison_id
),
flags AS (
    SELECT *,
           in_both AND same AND ea IS NOT NULL AND eb IS NOT NULL AS use_e,
           in_both AND sa IS NOT NULL AND sb IS NOT NULL AS use_s,
           in_both AND ea IS NOT NULL AND eb IS NOT NULL AND ea <> 0 AND eb <> 0 AS use_sign
    FROM p
),
agg AS (
    SELECT count(*) FILTER (WHERE in_a) AS n_pairs_a,
           count(*) FILTER (WHERE in_b) AS n_pairs_b,
           count(*) FILTER (WHERE in_both) AS n_both,
           count(*) FILTER (WHERE in_a AND NOT in_b) AS n_only_a,
           count(*) FILTER (WHERE in_b AND NOT in_a) AS n_only_b,
           count(*) FILTER (WHERE use_e) AS n_e,
           var_pop(ea) FILTER (WHERE use_e) AS var_ea,
           var_pop(eb) FILTER (WHERE use_e) AS var_eb,
           corr(ea, eb) FILTER (WHERE use_e) AS r_e,
           count(*) FILTER (WHERE use_s) AS n_s,
           var_pop(sa) FILTER (WHERE use_s) AS var_sa,
           var_pop(sb) FILTER (WHERE use_s) AS var_sb,
           corr(sa, sb) FILTER (WHERE use_s) AS r_s,
           avg(CASE WHEN (ea > 0) = (eb > 0) THEN 1.0 ELSE 0.0 END) FILTER (WHERE use_sign)
               AS sign_agreement,
           count(*) FILTER (WHERE use_sign) AS n_sign_pairs,
           count(*) FILTER (WHERE ha) AS hits_a,
           count(*) FILTER (WHERE hb) AS hits_b,
           count(*) FILTER (WHERE ha AND hb) AS hits_both,
           count(*) FILTER (WHERE hb AND NOT ha) AS hits_gained,
           count(*) FILTER (WHERE ha AND NOT hb) AS hits_lost
    FROM flags
)
SELECT n_pairs_a, n_pairs_b, n_both, n_only_a, n_only_b,
       CASE WHEN n_e >= 3 AND var_ea > 0 AND var_eb > 0 AND r_e IS NOT NULL
            THEN greatest(-1.0, least(1.0, r_e)) END AS corr_effect,
       CASE WHEN n_s >= 3 AND var_sa > 0 AND var_sb > 0 AND r_s IS NOT NULL
            THEN greatest(-1.0, least(1.0, r_s)) END AS corr_log10p,
       sign_agreement, n_sign_pairs, hits_a, hits_b, hits_both, hits_gained, hits_lost
FROM agg
