-- derive_tables: a derived cohort's rows of the cohort tables (one statement per table below,
-- separated by lines '-- next'; segqtl/warehouse/derive.py runs them in order, in one
-- transaction).
--
-- Inputs (parameters): $source, $target (cohort names), $keep (1-based positions of the kept
--          samples in the source's value lists, in sample order; every sample when nothing
--          is left out).
-- Reads : samples, phenotypes, variants, covariates, copynumber, phenotype_covariate,
--          segments, cohort_files of $source; temp tables derive_sample_map (old_idx,
--          new_idx), derive_x_phenotypes and derive_x_variants (chr and index of the rows left
--          out).
-- Writes: the same tables' rows of $target: the source's rows minus those left out, in the
--          same order, with sample_idx, phenotype_idx (per chromosome), file_row and
--          variant_idx renumbered from 0 as if the rows had been removed from the input files,
--          and every value list reduced to the kept samples.
-- Coordinates: positions unchanged (1-based, as written in the input files).
INSERT INTO samples
SELECT $target, m.new_idx, s.sample_id
FROM samples AS s JOIN derive_sample_map AS m ON m.old_idx = s.sample_idx
WHERE s.cohort = $source
ORDER BY m.new_idx;
-- next
INSERT INTO phenotypes
SELECT $target, p.chr,
       (row_number() OVER (PARTITION BY p.chr ORDER BY p.phenotype_idx) - 1)::INTEGER,
       (row_number() OVER (ORDER BY p.file_row) - 1)::INTEGER,
       p.gene_id, p.start, p."end", list_select(p."values", $keep)
FROM phenotypes AS p
ANTI JOIN derive_x_phenotypes AS x ON x.chr = p.chr AND x.phenotype_idx = p.phenotype_idx
WHERE p.cohort = $source
ORDER BY p.chr, p.phenotype_idx;
-- next
INSERT INTO variants
SELECT $target, v.chr,
       (row_number() OVER (PARTITION BY v.chr ORDER BY v.variant_idx) - 1)::INTEGER,
       v.variant_id, v.pos, v.ref, v.alt
FROM variants AS v
ANTI JOIN derive_x_variants AS x ON x.chr = v.chr AND x.variant_idx = v.variant_idx
WHERE v.cohort = $source
ORDER BY v.chr, v.variant_idx;
-- next
INSERT INTO covariates
SELECT $target, cov_idx, name, list_select("values", $keep)
FROM covariates WHERE cohort = $source ORDER BY cov_idx;
-- next
INSERT INTO copynumber
SELECT $target, gene_id, list_select("values", $keep)
FROM copynumber WHERE cohort = $source ORDER BY rowid;
-- next
INSERT INTO phenotype_covariate
SELECT $target, gene_id, list_select("values", $keep)
FROM phenotype_covariate WHERE cohort = $source ORDER BY rowid;
-- next
INSERT INTO segments
SELECT $target, m.new_idx, s.chr, s.startpos, s.endpos
FROM segments AS s JOIN derive_sample_map AS m ON m.old_idx = s.sample_idx
WHERE s.cohort = $source
ORDER BY s.rowid;
-- next
INSERT INTO cohort_files
SELECT $target, role, path, size_bytes, sha256
FROM cohort_files WHERE cohort = $source ORDER BY rowid;
