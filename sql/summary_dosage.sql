-- summary_dosage: per-variant summary of one dosage over a cohort's samples, for one chromosome
-- (the data section of a pyhegp summary file, segqtl/warehouse/summary.py).
--
-- Inputs (parameters): $cohort, $chr (normalised, 'chr' prefix), $dosage ('d', 'altlr' or
--          'reflr').  {genotypes} is replaced by the cohort's genotype table genotypes_<id>
--          (an identifier built from an integer, never user text).
-- Reads : variants, {genotypes} (altlr, reflr: DOUBLE[n] per variant, n = the cohort's samples,
--          NULL elements missing).
-- Output: chromosome, position, reference, mean, "standard-deviation", "number-observed",
--          variant_idx (the genotype-file order, for the caller to sort by; not written); one
--          row per variant of the chromosome with at least 2 observed values.
-- Rules : per sample, d = REFlr - ALTlr (docs/methods.md#inputs: s = REFlr + ALTlr, d = REFlr - ALTlr), missing
--          when either is; altlr/reflr are the stored log-ratios.  mean = the mean of the
--          observed values (favg: compensated summation), standard-deviation = their sample
--          standard deviation (n - 1 denominator, what pyhegp's pool assumes),
--          number-observed = how many values were observed.  Variants with fewer than 2
--          observed values have no standard deviation and are left out (pyhegp reads the
--          numbers without a missing-value marker).
-- The list functions work row by row on the arrays: much faster here than unnest + GROUP BY.
WITH obs AS (
    SELECT g.variant_idx,
           CASE $dosage
               WHEN 'altlr' THEN g.altlr::DOUBLE[]
               WHEN 'reflr' THEN g.reflr::DOUBLE[]
               ELSE list_transform(list_zip(g.reflr::DOUBLE[], g.altlr::DOUBLE[]),
                                   lambda p: p[1] - p[2])
           END AS x
    FROM {genotypes} AS g
    WHERE g.chr = $chr
), stats AS (
    SELECT variant_idx,
           list_count(x) AS n_obs,
           list_aggregate(x, 'favg') AS mean,
           list_aggregate(x, 'stddev_samp') AS sd
    FROM obs
)
SELECT v.chr AS chromosome, v.pos AS position, v.ref AS reference, s.mean,
       s.sd AS "standard-deviation", s.n_obs AS "number-observed", v.variant_idx
FROM stats AS s
JOIN variants AS v ON v.cohort = $cohort AND v.chr = $chr AND v.variant_idx = s.variant_idx
WHERE s.n_obs >= 2
