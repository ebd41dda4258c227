-- derive_genotypes: a derived cohort's genotype table.
--
-- Inputs (template): {source_table}, {target_table} (genotypes_<cohort_id>: made from integer
--          ids, never user text), {n} (the derived cohort's samples).
-- Inputs (parameters): $keep (1-based positions of the kept samples, in sample order).
-- Reads : {source_table}; temp table derive_x_variants (chr, variant_idx left out).
-- Writes: {target_table} rows: the kept variants, variant_idx renumbered from 0 per chromosome
--          in file order (as the derived cohort's variants table), ALTlr/REFlr reduced to the
--          kept samples as DOUBLE[{n}]; sorted by chr and variant_idx as ingest writes them.
-- Coordinates: positions unchanged (1-based, as written).
INSERT INTO {target_table}
SELECT g.chr,
       (row_number() OVER (PARTITION BY g.chr ORDER BY g.variant_idx) - 1)::INTEGER,
       g.variant_id, g.pos,
       list_select(g.altlr::DOUBLE[], $keep)::DOUBLE[{n}],
       list_select(g.reflr::DOUBLE[], $keep)::DOUBLE[{n}]
FROM {source_table} AS g
ANTI JOIN derive_x_variants AS x ON x.chr = g.chr AND x.variant_idx = g.variant_idx
ORDER BY g.chr, g.variant_idx
