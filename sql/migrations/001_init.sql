-- Migration 001: the initial warehouse schema.
--
-- Inputs : none (creates tables in an empty database).
-- Outputs: cohort tables (cohorts, cohort_files, samples, phenotypes, variants, covariates,
--          copynumber, phenotype_covariate, segments, one genotypes_<id> per cohort and the
--          genotypes view), run bookkeeping (runs, run_parameters, run_units), result tables
--          (result_status, nominal_stats) and the nominal_results view.
-- Coordinates: positions are 1-based integers as written in the input files; segments are
--          closed intervals [startpos, endpos]. Per-sample values are stored as DOUBLE[] arrays
--          in the cohort's sample order (samples.sample_idx, the quantification column order);
--          NULL elements are missing values. Values are stored exactly as parsed (DOUBLE).
-- Chromosome names are normalised to the 'chr' prefix ('8' -> 'chr8').

CREATE SEQUENCE cohort_id_seq START 1;

CREATE TABLE cohorts (
    cohort          VARCHAR PRIMARY KEY,
    cohort_id       INTEGER NOT NULL,      -- names this cohort's genotype table: genotypes_<id>
    n_samples       INTEGER NOT NULL,
    checksum        VARCHAR NOT NULL,      -- sha256 over the input files' checksums
    has_copynumber  BOOLEAN NOT NULL,
    has_phenotype_covariate BOOLEAN NOT NULL,
    segqtl_version  VARCHAR NOT NULL,
    created_at      TIMESTAMP NOT NULL
);

CREATE TABLE cohort_files (
    cohort      VARCHAR NOT NULL,
    role        VARCHAR NOT NULL,          -- quantifications, covariates, genotypes_alt, ...
    path        VARCHAR NOT NULL,
    size_bytes  BIGINT NOT NULL,
    sha256      VARCHAR NOT NULL
);

CREATE TABLE samples (
    cohort      VARCHAR NOT NULL,
    sample_idx  INTEGER NOT NULL,          -- 0-based position in the quantification file
    sample_id   VARCHAR NOT NULL
);

CREATE TABLE phenotypes (
    cohort        VARCHAR NOT NULL,
    chr           VARCHAR NOT NULL,
    phenotype_idx INTEGER NOT NULL,        -- 0-based row among this chromosome's phenotypes
    file_row      INTEGER NOT NULL,        -- 0-based data row in the quantification file
    gene_id       VARCHAR NOT NULL,
    start         BIGINT NOT NULL,
    "end"         BIGINT NOT NULL,
    "values"      DOUBLE[] NOT NULL
);

CREATE TABLE variants (
    cohort      VARCHAR NOT NULL,
    chr         VARCHAR NOT NULL,
    variant_idx INTEGER NOT NULL,          -- 0-based row in the genotype files (file order)
    variant_id  VARCHAR NOT NULL,          -- chr:pos:ref:alt as written
    pos         BIGINT NOT NULL,
    ref         VARCHAR NOT NULL,
    alt         VARCHAR NOT NULL
);

-- The dosages of cohort k live in genotypes_<k> (created at ingest, one row per variant,
-- sorted by chr and variant_idx):
--   chr VARCHAR, variant_idx INTEGER, variant_id VARCHAR, pos BIGINT,
--   altlr DOUBLE[n], reflr DOUBLE[n]      -- fixed-size arrays, n = the cohort's samples
-- Fixed-size arrays are read several times faster than variable-length lists.  The view
-- `genotypes` (recreated at every ingest) unions them with a `cohort` column.

CREATE TABLE covariates (
    cohort   VARCHAR NOT NULL,
    cov_idx  INTEGER NOT NULL,             -- 0-based order in the covariates file
    name     VARCHAR NOT NULL,
    "values" DOUBLE[] NOT NULL
);

CREATE TABLE copynumber (
    cohort   VARCHAR NOT NULL,
    gene_id  VARCHAR NOT NULL,
    "values" DOUBLE[] NOT NULL
);

CREATE TABLE phenotype_covariate (
    cohort   VARCHAR NOT NULL,
    gene_id  VARCHAR NOT NULL,
    "values" DOUBLE[] NOT NULL
);

CREATE TABLE segments (
    cohort     VARCHAR NOT NULL,
    sample_idx INTEGER NOT NULL,
    chr        VARCHAR NOT NULL,
    startpos   BIGINT NOT NULL,
    endpos     BIGINT NOT NULL
);

CREATE SEQUENCE run_id_seq START 1;

CREATE TABLE runs (
    run_id          INTEGER PRIMARY KEY,
    name            VARCHAR,
    mode            VARCHAR NOT NULL,
    cohort          VARCHAR NOT NULL,
    chromosomes     VARCHAR NOT NULL,      -- comma-separated, normalised names
    status          VARCHAR NOT NULL,      -- running | completed | failed
    segqtl_version  VARCHAR NOT NULL,
    duckdb_version  VARCHAR NOT NULL,
    numpy_version   VARCHAR NOT NULL,
    cohort_checksum VARCHAR NOT NULL,
    started_at      TIMESTAMP NOT NULL,
    finished_at     TIMESTAMP,
    seconds         DOUBLE,
    n_units         INTEGER NOT NULL,
    n_phenotypes    INTEGER,
    n_pairs         BIGINT,                -- cis pairs considered
    n_pairs_tested  BIGINT,
    n_pairs_skipped BIGINT,
    n_rows          BIGINT,                -- result rows written
    error           VARCHAR
);

CREATE TABLE run_parameters (
    run_id INTEGER NOT NULL,
    key    VARCHAR NOT NULL,
    value  VARCHAR                         -- JSON-encoded
);

CREATE TABLE run_units (
    run_id        INTEGER NOT NULL,
    unit_id       INTEGER NOT NULL,
    chr           VARCHAR NOT NULL,
    first_phenotype_idx INTEGER NOT NULL,
    last_phenotype_idx  INTEGER NOT NULL,
    status        VARCHAR NOT NULL,        -- pending | done
    n_phenotypes  INTEGER,
    n_pairs       BIGINT,
    n_pairs_tested BIGINT,
    skipped       VARCHAR,                 -- JSON {reason: count}
    n_rows        BIGINT,
    seconds       DOUBLE,
    finished_at   TIMESTAMP
);

-- Why a (phenotype, variant) pair has no statistics; codes used by result tables.
CREATE TABLE result_status (
    code TINYINT PRIMARY KEY,
    name VARCHAR NOT NULL
);
INSERT INTO result_status VALUES
    (0, 'tested'), (1, 'too_few_samples'), (2, 'constant_phenotype'), (3, 'constant_d'),
    (4, 'singular_design'), (5, 'no_testable_variant');

-- Nominal statistics keyed by run and row numbers only (names come from the view below);
-- written sorted by (run, chromosome, phenotype_idx, variant_idx).
CREATE TABLE nominal_stats (
    run_id            INTEGER NOT NULL,
    unit_id           INTEGER NOT NULL,
    chr               VARCHAR NOT NULL,    -- the phenotype's chromosome
    phenotype_idx     INTEGER NOT NULL,
    variant_chr       VARCHAR NOT NULL,    -- differs from chr only for negative controls
    variant_idx       INTEGER,             -- NULL when the phenotype had no testable variant
    number_of_samples INTEGER NOT NULL,
    beta_s            DOUBLE,
    se_s              DOUBLE,
    beta_d            DOUBLE,
    se_d              DOUBLE,
    t_stat_d          DOUBLE,
    nominal_p         DOUBLE,
    r2_alt            DOUBLE,
    aic_null          DOUBLE,
    aic_alt           DOUBLE,
    delta_aic_alt_minus_null DOUBLE,
    p_adj             DOUBLE,
    status            TINYINT NOT NULL     -- result_status.code
);

-- Nominal results with names and annotations: SegmentQTL's columns plus the variant's
-- position/alleles, the phenotype's start/end and the variant's distance to the phenotype start.
CREATE VIEW nominal_results AS
SELECT r.run_id, u.cohort, r.chr, r.phenotype_idx, r.variant_idx,
       p.gene_id AS phenotype, v.variant_id AS variant, r.number_of_samples,
       r.beta_s, r.se_s, r.beta_d, r.se_d, r.t_stat_d, r.nominal_p, r.r2_alt,
       r.aic_null, r.aic_alt, r.delta_aic_alt_minus_null, r.p_adj, st.name AS status,
       v.chr AS variant_chr, v.pos, v.ref, v.alt,
       p.start AS phenotype_start, p."end" AS phenotype_end, v.pos - p.start AS distance
FROM nominal_stats AS r
JOIN runs AS u USING (run_id)
JOIN phenotypes AS p
  ON p.cohort = u.cohort AND p.chr = r.chr AND p.phenotype_idx = r.phenotype_idx
LEFT JOIN variants AS v
  ON v.cohort = u.cohort AND v.chr = r.variant_chr AND v.variant_idx = r.variant_idx
JOIN result_status AS st ON st.code = r.status;

-- Replaced at every ingest by sql/genotypes_view.sql (one SELECT per cohort).
CREATE VIEW genotypes AS
SELECT NULL::VARCHAR AS cohort, NULL::VARCHAR AS chr, NULL::INTEGER AS variant_idx,
       NULL::VARCHAR AS variant_id, NULL::BIGINT AS pos, NULL::DOUBLE[] AS altlr,
       NULL::DOUBLE[] AS reflr
WHERE false;
