-- compare_replication: replication figures of one stored comparison (segqtl compare), derived
-- from its stored pairs each time the comparison is loaded (so older comparisons get them too).
--
-- Inputs (parameters): $comparison_id.
-- Reads : comparison_pairs.
-- Output: one row:
--          n_corr_pairs      keys in both whose effects comparisons.corr_effect correlates
--                            (same variant, two non-NULL effects; see compare_summary.sql);
--          pi1_p             list of B's p (comparisons.p_column) at A's hits that are in B,
--                            p not NULL: the p-values whose 1 - pi0 is pi1
--                            (segqtl/warehouse/compare.py estimates pi0 from them);
--          hit_sign_agreement among A's hits in B with the same variant (every such key when
--                            same_variant is NULL: validate) and two nonzero effects
--                            (n_hit_sign_pairs), the share whose effects have one sign; NULL
--                            when there is none.
WITH p AS (
    SELECT in_a AND in_b AS in_both, coalesce(same_variant, true) AS same,
           coalesce(hit_a, false) AS ha, effect_a AS ea, effect_b AS eb, p_b
    FROM comparison_pairs
    WHERE comparison_id = $comparison_id
)
SELECT count(*) FILTER (WHERE in_both AND same AND ea IS NOT NULL AND eb IS NOT NULL)
           AS n_corr_pairs,
       coalesce(list(p_b ORDER BY p_b) FILTER (WHERE ha AND in_both AND p_b IS NOT NULL),
                []::DOUBLE[]) AS pi1_p,
       avg(CASE WHEN (ea > 0) = (eb > 0) THEN 1.0 ELSE 0.0 END)
           FILTER (WHERE ha AND in_both AND same AND ea <> 0 AND eb <> 0) AS hit_sign_agreement,
       count(*) FILTER (WHERE ha AND in_both AND same AND ea <> 0 AND eb <> 0)
           AS n_hit_sign_pairs
FROM p
