-- Migration 013: conditional (independent-signal) analysis (mode conditional;
-- docs/methods.md#conditional-analysis).
--
-- Inputs : none (new tables only).
-- Outputs: conditional_stats: one row per scan of a phenotype (round 0, 1, ... in the order
--          they ran: forward rounds, then backward ones): pass ('forward' | 'backward'),
--          signal_rank (forward: the rank the round's best variant takes if it passes, i.e.
--          2, 3, ...; backward: the rank of the signal re-tested), conditioned_on (the
--          variant_idx of the conditioning variants, in signal order), the round's best
--          variant and its nominal statistics (as nominal_stats), p_adj and beta shapes
--          (as perm), threshold (the perm run's adjusted-p threshold) and passes
--          (p_adj <= threshold);
--          conditional_signals: one row per forward signal (rank 1 = the perm run's lead
--          variant): variant_idx (the backward scan's best variant when kept, else the forward
--          one), forward_variant_idx, kept (the backward verdict; true for a lone signal),
--          forward_round / backward_round (conditional_stats.round of the scans that found and
--          confirmed it; NULL for rank 1's forward / a lone signal's backward).
-- Coordinates: phenotype_idx / variant_idx are 0-based rows within (cohort, chromosome), as in
--          nominal_stats; cis only (variants on the phenotype's chromosome).
CREATE TABLE conditional_stats (
    run_id            INTEGER NOT NULL,
    unit_id           INTEGER NOT NULL,
    chr               VARCHAR NOT NULL,
    phenotype_idx     INTEGER NOT NULL,
    round             INTEGER NOT NULL,
    pass              VARCHAR NOT NULL,
    signal_rank       INTEGER NOT NULL,
    conditioned_on    INTEGER[] NOT NULL,
    variant_idx       INTEGER,
    number_of_samples INTEGER NOT NULL,
    beta_s            DOUBLE,
    se_s              DOUBLE,
    beta_d            DOUBLE,
    se_d              DOUBLE,
    t_stat_d          DOUBLE,
    nominal_p         DOUBLE,
    p_adj             DOUBLE,
    beta_shape1       DOUBLE,
    beta_shape2       DOUBLE,
    threshold         DOUBLE NOT NULL,
    passes            BOOLEAN NOT NULL
);

CREATE TABLE conditional_signals (
    run_id              INTEGER NOT NULL,
    unit_id             INTEGER NOT NULL,
    chr                 VARCHAR NOT NULL,
    phenotype_idx       INTEGER NOT NULL,
    rank                INTEGER NOT NULL,
    variant_idx         INTEGER NOT NULL,
    forward_variant_idx INTEGER NOT NULL,
    kept                BOOLEAN NOT NULL,
    forward_round       INTEGER,
    backward_round      INTEGER
);
