-- bundle_genotypes: one block of a chromosome's dosages (segqtl bundle; segqtl/ingest/bundle.py).
--
-- Inputs (parameters): $cohort, $chr, $start, $stop (variant_idx range [start, stop)).
-- Output: variant_id, altlr, reflr (DOUBLE[], sample order), ordered by variant_idx.
-- Coordinates: variant_idx 0-based file row.
SELECT variant_id, altlr, reflr
FROM genotypes
WHERE cohort = $cohort AND chr = $chr AND variant_idx >= $start AND variant_idx < $stop
ORDER BY variant_idx
