"""``--min-samples-observed``: leave out pairs with too few samples observed, then compute.

A pair (phenotype, variant) counts the samples whose phenotype value and both genotype values
(ALTlr and REFlr) are present.  Pairs below the threshold are removed from the unit's cis
windows before the mode's own worker runs, so they take no part in any test, permutation
minimum or fine-mapping design; they are returned to the parent, which records them in
``run_pair_exclusions`` (view ``run_exclusions``) with the unit's results.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import polars as pl

from .pool import resolve
from .units import CohortSlice, GenotypeRows, UnitPayload, list_matrix, read_rows

#: Columns of the excluded pairs' frame (run_pair_exclusions after run, unit and chromosome).
EXCLUDED_COLUMNS = ("phenotype_idx", "variant_idx", "n_observed")


def observed_counts(cohort: CohortSlice) -> np.ndarray:
    """Samples observed for each of the slice's pairs.

    Returns
    -------
    ndarray of int64, shape (p,)
        For pair i of ``cohort.pairs``: samples where the phenotype and both genotype values
        are present.
    """
    pairs = cohort.pairs
    if pairs is None or pairs.height == 0:
        return np.zeros(0, dtype=np.int64)
    n = cohort.n_samples
    phen_idx = cohort.phenotypes["phenotype_idx"].to_numpy()
    obs_y = ~np.isnan(list_matrix(cohort.phenotypes["values"], n))
    if isinstance(cohort.genotypes, GenotypeRows):
        alt, ref = cohort.genotypes.alt, cohort.genotypes.ref
    else:
        alt, ref, _, _ = read_rows(cohort.genotypes, cohort.rows)
    obs_g = ~(np.isnan(np.asarray(alt)) | np.isnan(np.asarray(ref)))
    # counts are small integers: exact in float32, and one GEMM does every pair of the unit
    table = obs_y.astype(np.float32) @ obs_g.astype(np.float32).T  # (m, r)
    rows = np.searchsorted(phen_idx, pairs["phenotype_idx"].to_numpy())
    cols = np.searchsorted(cohort.rows, pairs["variant_idx"].to_numpy())
    return np.rint(table[rows, cols]).astype(np.int64)


def filter_pairs(cohort: CohortSlice, minimum: int) -> tuple[CohortSlice, pl.DataFrame]:
    """``cohort`` without the pairs observed in fewer than ``minimum`` samples, and those pairs
    (:data:`EXCLUDED_COLUMNS`)."""
    counts = observed_counts(cohort)
    low = counts < minimum
    pairs = cohort.pairs
    if pairs is None or not low.any():
        return cohort, pl.DataFrame(schema=dict.fromkeys(EXCLUDED_COLUMNS, pl.Int64))
    excluded = pairs.filter(pl.Series(low)).select("phenotype_idx", "variant_idx")
    excluded = excluded.with_columns(n_observed=pl.Series(counts[low]))
    return replace(cohort, pairs=pairs.filter(pl.Series(~low))), excluded


def compute_unit(payload: UnitPayload):
    """The mode's worker (``payload.worker``) on the pairs observed in at least
    ``payload.min_observed`` samples.

    Returns
    -------
    (results, counts, excluded)
        The mode worker's two values, and the excluded pairs' frame.
    """
    main, excluded = filter_pairs(payload.main, payload.min_observed)
    frame, counts = resolve(payload.worker)(replace(payload, main=main))
    return frame, counts, excluded


__all__ = ["EXCLUDED_COLUMNS", "compute_unit", "filter_pairs", "observed_counts"]
