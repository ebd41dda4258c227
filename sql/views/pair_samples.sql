-- pair_samples (view): why each tested pair of a nominal or perm run has the samples it has.
--
-- Reads : nominal_stats, runs, run_parameters, cohorts, phenotypes, variants,
--          samples, covariates, phenotype_covariate, copynumber, segments, result_status,
--          genotypes (view); its own WITH steps run_info, covariate_gaps, run_phenotypes, bounds,
--          segment_arrays, conditioning, phenotype_reasons, pair_reasons.
-- Output: one row per stored (run, phenotype, variant) of nominal and perm runs that names a
--          variant (a phenotype without any testable variant has no pair, hence no row):
--          run_id, run_name, cohort, chr, phenotype_idx, variant_idx, phenotype, variant, status,
--          n_samples_total (the cohort's samples), then the samples dropped, each counted once,
--          under the first reason that applies in this order:
--            n_missing_phenotype  the phenotype value is empty;
--            n_missing_covariate  a sample covariate is empty, or the phenotype covariate (when
--                                 the cohort has one: ingest requires its row for every
--                                 phenotype), or, in perm runs, the copy number (the scan uses
--                                 the permutation null's samples);
--            n_segment_rule       the sample has no single segment holding the phenotype start
--                                 and end, or the variant lies outside that segment (not
--                                 applied to negative controls);
--            n_conditioning       (--condition-on runs) a conditioning variant in the
--                                 phenotype's cis window is empty or off the segment for the
--                                 sample (docs/methods.md#conditional-analysis);
--            n_missing_genotype   ALTlr or REFlr is empty;
--          n_usable = n_samples_total - the five drops (the samples the fit used), and
--          number_of_samples as stored: equal to n_usable for tested pairs, 0 for skipped ones
--          (status says why: too_few_samples when n_usable < min_samples, ...);
--          n_model_columns = the fit's columns (intercept, s, d, the phenotype covariate if
--          used, the sample covariates the run kept (run parameter covariates:dropped), s and
--          d of each conditioning variant in the window (run parameter
--          condition_on:variants)): the t test's degrees of freedom are
--          number_of_samples - n_model_columns.
-- Rules : the same as the scan (docs/methods.md#segment-mask, sql/segment_bounds.sql): segments
--          are closed intervals of the sample on the phenotype's chromosome; a sample needs
--          exactly one segment with startpos <= start <= endpos, and end inside it; the variant
--          is usable for it iff startpos <= pos <= endpos.  A value is missing when it is NULL or
--          not finite (copy number: NULL or NaN), as in the kernels.  Positions 1-based as
--          written in the input files.  Computed from the stored inputs when read: filter on
--          run_id (and phenotype/variant) for speed.

CREATE OR REPLACE VIEW pair_samples AS
WITH run_info AS (
    SELECT u.run_id, u.name AS run_name, u.cohort, u.mode = 'perm' AS perm, c.n_samples,
           c.has_phenotype_covariate AS pcov_used,
           coalesce((SELECT rp.value = 'true' FROM run_parameters AS rp
                     WHERE rp.run_id = u.run_id AND rp.key = 'neg_control'), false) AS neg,
           CAST((SELECT count(*) FROM covariates AS cv WHERE cv.cohort = u.cohort)
                - coalesce((SELECT json_array_length(rp.value) FROM run_parameters AS rp
                            WHERE rp.run_id = u.run_id AND rp.key = 'covariates:dropped'), 0)
                AS INTEGER) AS n_covariates,
           coalesce((SELECT from_json(rp.value, '["VARCHAR"]') FROM run_parameters AS rp
                     WHERE rp.run_id = u.run_id AND rp.key = 'condition_on:variants'),
                    []::VARCHAR[]) AS cond_ids,
           (SELECT rp.value::BIGINT FROM run_parameters AS rp
            WHERE rp.run_id = u.run_id AND rp.key = 'window') AS window
    FROM runs AS u
    JOIN cohorts AS c USING (cohort)
    WHERE u.mode IN ('nominal', 'perm')
),
-- Samples with an empty (or non-finite) sample covariate, per cohort.
covariate_gaps AS (
    SELECT cohort, list(DISTINCT i) AS samples
    FROM (SELECT cohort, generate_subscripts("values", 1) AS i, unnest("values") AS v
          FROM covariates)
    WHERE NOT coalesce(isfinite(v), false)
    GROUP BY cohort
),
-- The phenotypes of each run that have a pair, with their per-sample inputs.
run_phenotypes AS (
    SELECT DISTINCT run_id, chr, phenotype_idx
    FROM nominal_stats
    WHERE variant_idx IS NOT NULL
),
bounds AS (
    SELECT ph.run_id, ph.chr, ph.phenotype_idx, s.sample_idx,
           count(*) AS n_segments, min(s.startpos) AS lb, min(s.endpos) AS ub
    FROM run_phenotypes AS ph
    JOIN run_info AS ri USING (run_id)
    JOIN phenotypes AS p
      ON p.cohort = ri.cohort AND p.chr = ph.chr AND p.phenotype_idx = ph.phenotype_idx
    JOIN segments AS s
      ON s.cohort = ri.cohort AND s.chr = p.chr AND s.startpos <= p.start AND p.start <= s.endpos
    WHERE NOT ri.neg
    GROUP BY ph.run_id, ph.chr, ph.phenotype_idx, s.sample_idx, p."end"
    HAVING count(*) = 1 AND p."end" BETWEEN min(s.startpos) AND min(s.endpos)
),
segment_arrays AS (
    -- per phenotype: each sample's segment bounds in sample order, NULL = masked for all variants
    SELECT ph.run_id, ph.chr, ph.phenotype_idx,
           list(b.lb ORDER BY sm.sample_idx) AS lbs, list(b.ub ORDER BY sm.sample_idx) AS ubs
    FROM run_phenotypes AS ph
    JOIN run_info AS ri USING (run_id)
    JOIN samples AS sm ON sm.cohort = ri.cohort
    LEFT JOIN bounds AS b
      ON b.run_id = ph.run_id AND b.chr = ph.chr AND b.phenotype_idx = ph.phenotype_idx
     AND b.sample_idx = sm.sample_idx
    WHERE NOT ri.neg
    GROUP BY ph.run_id, ph.chr, ph.phenotype_idx
),
-- --condition-on: per phenotype, the conditioning variants in its cis window (m) and the
-- samples one of them cannot be used for (1-based).
conditioning AS (
    SELECT ph.run_id, ph.chr, ph.phenotype_idx, count(*) AS m,
           list_distinct(flatten(list(list_filter(range(1, ri.n_samples + 1), lambda i:
               NOT coalesce(isfinite(g.altlr[i] + g.reflr[i]), false)
               OR sa.lbs IS NULL OR sa.lbs[i] IS NULL
               OR v.pos < sa.lbs[i] OR v.pos > sa.ubs[i])))) AS bad
    FROM run_phenotypes AS ph
    JOIN run_info AS ri USING (run_id)
    JOIN phenotypes AS p
      ON p.cohort = ri.cohort AND p.chr = ph.chr AND p.phenotype_idx = ph.phenotype_idx
    JOIN variants AS v
      ON v.cohort = ri.cohort AND v.chr = p.chr AND list_contains(ri.cond_ids, v.variant_id)
     AND v.pos BETWEEN p.start - ri.window AND p."end" + ri.window
    JOIN genotypes AS g
      ON g.cohort = ri.cohort AND g.chr = v.chr AND g.variant_idx = v.variant_idx
    LEFT JOIN segment_arrays AS sa
      ON sa.run_id = ph.run_id AND sa.chr = ph.chr AND sa.phenotype_idx = ph.phenotype_idx
    WHERE NOT ri.neg AND len(ri.cond_ids) > 0
    GROUP BY ph.run_id, ph.chr, ph.phenotype_idx
),
phenotype_reasons AS (
    -- per phenotype and sample: 1 missing phenotype, 2 missing covariate, 0 usable so far
    SELECT ph.run_id, ph.chr, ph.phenotype_idx, p.gene_id, ri.neg,
           3 + ri.n_covariates + ri.pcov_used::INTEGER + 2 * coalesce(cd.m, 0)
               AS n_model_columns,
           coalesce(cd.bad, []) AS cond_bad,
           list_transform(range(1, ri.n_samples + 1), lambda i:
               CASE
                   WHEN NOT coalesce(isfinite(p."values"[i]), false) THEN 1
                   WHEN list_contains(coalesce(cg.samples, []), i)
                        OR (ri.pcov_used
                            AND NOT coalesce(isfinite(pc."values"[i]), false))
                        OR (ri.perm AND (cn."values"[i] IS NULL OR isnan(cn."values"[i])))
                       THEN 2
                   ELSE 0
               END) AS reasons,
           sa.lbs, sa.ubs
    FROM run_phenotypes AS ph
    JOIN run_info AS ri USING (run_id)
    JOIN phenotypes AS p
      ON p.cohort = ri.cohort AND p.chr = ph.chr AND p.phenotype_idx = ph.phenotype_idx
    LEFT JOIN covariate_gaps AS cg ON cg.cohort = ri.cohort
    LEFT JOIN phenotype_covariate AS pc ON pc.cohort = ri.cohort AND pc.gene_id = p.gene_id
    LEFT JOIN copynumber AS cn ON cn.cohort = ri.cohort AND cn.gene_id = p.gene_id
    LEFT JOIN segment_arrays AS sa
      ON sa.run_id = ph.run_id AND sa.chr = ph.chr AND sa.phenotype_idx = ph.phenotype_idx
    LEFT JOIN conditioning AS cd
      ON cd.run_id = ph.run_id AND cd.chr = ph.chr AND cd.phenotype_idx = ph.phenotype_idx
),
pair_reasons AS (
    SELECT r.run_id, r.chr, r.phenotype_idx, r.variant_idx, r.number_of_samples, r.status,
           pr.gene_id, pr.n_model_columns, v.variant_id,
           list_transform(range(1, len(pr.reasons) + 1), lambda i:
               CASE
                   WHEN pr.reasons[i] > 0 THEN pr.reasons[i]
                   WHEN NOT pr.neg
                        AND (pr.lbs IS NULL OR pr.lbs[i] IS NULL
                             OR v.pos < pr.lbs[i] OR v.pos > pr.ubs[i]) THEN 3
                   WHEN list_contains(pr.cond_bad, i) THEN 5
                   WHEN NOT coalesce(isfinite(g.altlr[i] + g.reflr[i]), false) THEN 4
                   ELSE 0
               END) AS reasons
    FROM nominal_stats AS r
    JOIN run_info AS ri USING (run_id)
    JOIN phenotype_reasons AS pr
      ON pr.run_id = r.run_id AND pr.chr = r.chr AND pr.phenotype_idx = r.phenotype_idx
    JOIN variants AS v
      ON v.cohort = ri.cohort AND v.chr = r.variant_chr AND v.variant_idx = r.variant_idx
    JOIN genotypes AS g
      ON g.cohort = ri.cohort AND g.chr = r.variant_chr AND g.variant_idx = r.variant_idx
    WHERE r.variant_idx IS NOT NULL
)
SELECT x.run_id, ri.run_name, ri.cohort, x.chr, x.phenotype_idx, x.variant_idx,
       x.gene_id AS phenotype, x.variant_id AS variant, st.name AS status,
       ri.n_samples AS n_samples_total,
       len(list_filter(x.reasons, lambda c: c = 1)) AS n_missing_phenotype,
       len(list_filter(x.reasons, lambda c: c = 2)) AS n_missing_covariate,
       len(list_filter(x.reasons, lambda c: c = 3)) AS n_segment_rule,
       len(list_filter(x.reasons, lambda c: c = 5)) AS n_conditioning,
       len(list_filter(x.reasons, lambda c: c = 4)) AS n_missing_genotype,
       len(list_filter(x.reasons, lambda c: c = 0)) AS n_usable,
       x.number_of_samples, x.n_model_columns
FROM pair_reasons AS x
JOIN run_info AS ri USING (run_id)
JOIN result_status AS st ON st.code = x.status;
