-- Migration 015: per-run exclusions, ranges and principal components (issue 15;
-- docs/inputs.md#exclusions-and-ranges, docs/methods.md#principal-components).
--
-- A run given --include-/--exclude-samples|variants|phenotypes, --range, --phenotype-pcs or
-- --genotype-pcs analyses a derived cohort: the source cohort's rows minus the excluded ones
-- (samples, variants and phenotypes renumbered in their source order), with the PCs added as
-- covariates.  Derived cohorts are named <source>-x<10 hex digits of their checksum> and made
-- once: every run with the same source, lists, ranges and PC settings reuses it.
--
-- Inputs : none (new columns and tables only).
-- Outputs: cohorts.source_cohort: the cohort a derived cohort was made from (NULL: ingested);
--          cohorts.derivation: what was done, JSON (the lists' sha256, ranges, window, PCs).
--          cohort_exclusions: one row per sample, variant or phenotype of the source left out
--          of a derived cohort: kind ('sample' | 'variant' | 'phenotype'), id (sample_id,
--          variant_id, gene_id as in the input files), reason ('excluded' | 'not_included' |
--          'outside_range'), detail (the list file's name, or the ranges).
--          cohort_pcs: the principal components added to a derived cohort's covariates: kind
--          ('phenotype' | 'genotype'), pc (1-based), covariate (its name among the
--          covariates), explained_variance_ratio, "values" (one per sample, sample order).
--          run_pair_exclusions: pairs a run left untested because fewer than
--          --min-samples-observed samples had both the phenotype and the genotype observed:
--          run_id, unit_id, chr, phenotype_idx, variant_idx, n_observed.
-- Coordinates: phenotype_idx / variant_idx are 0-based rows within (cohort, chromosome) of
--          the run's (derived) cohort, as in nominal_stats.
ALTER TABLE cohorts ADD COLUMN source_cohort VARCHAR;
ALTER TABLE cohorts ADD COLUMN derivation VARCHAR;

CREATE TABLE cohort_exclusions (
    cohort  VARCHAR NOT NULL,
    kind    VARCHAR NOT NULL,
    id      VARCHAR NOT NULL,
    reason  VARCHAR NOT NULL,
    detail  VARCHAR
);

CREATE TABLE cohort_pcs (
    cohort                   VARCHAR NOT NULL,
    kind                     VARCHAR NOT NULL,
    pc                       INTEGER NOT NULL,
    covariate                VARCHAR NOT NULL,
    explained_variance_ratio DOUBLE NOT NULL,
    "values"                 DOUBLE[] NOT NULL
);

CREATE TABLE run_pair_exclusions (
    run_id        INTEGER NOT NULL,
    unit_id       INTEGER NOT NULL,
    chr           VARCHAR NOT NULL,
    phenotype_idx INTEGER NOT NULL,
    variant_idx   INTEGER NOT NULL,
    n_observed    INTEGER NOT NULL
);
