-- Migration 001: the initial warehouse schema.
--
-- Inputs : none (creates tables in an empty database).
-- Outputs: cohort tables (cohorts, cohort_files, samples, phenotypes, variants, covariates,
--          copynumber, phenotype_covariate, segments), run bookkeeping (runs, run_parameters,
--          run_units) and result tables (nominal_results).
-- Coordinates: positions are 1-based integers as written in the input files; segments are
--          closed intervals [startpos, endpos]. Per-sample values are stored as DOUBLE[] arrays
--          in the cohort's sample order (samples.sample_idx, the quantification column order);
--          NULL elements are missing values. Values are stored exactly as parsed (DOUBLE).
-- Chromosome names are normalised to the 'chr' prefix ('8' -> 'chr8').

CREATE TABLE cohorts (
    cohort          VARCHAR PRIMARY KEY,
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
    alt         VARCHAR NOT NULL,
    altlr       DOUBLE[] NOT NULL,
    reflr       DOUBLE[] NOT NULL
);

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

CREATE TABLE nominal_results (
    run_id            INTEGER NOT NULL,
    unit_id           INTEGER NOT NULL,
    chr               VARCHAR NOT NULL,    -- the phenotype's chromosome
    phenotype_idx     INTEGER NOT NULL,
    variant_idx       INTEGER,             -- row in the variant chromosome's genotype files
    phenotype         VARCHAR NOT NULL,
    variant           VARCHAR,             -- NULL when the phenotype had no testable variant
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
    status            VARCHAR NOT NULL     -- tested | too_few_samples | constant_phenotype | ...
);
