"""Worker side of interaction mode: one work unit in, its pairs and gene-level rows out."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from ..kernels.interaction import SKIP_REASONS, STAT_FIELDS, effective_tests, interaction_scan_block
from .units import UnitCohort, UnitPayload

NO_TESTABLE_VARIANT = 5  # result_status code: a phenotype without any cis variant


@dataclass(frozen=True)
class InteractionParams:
    """What an interaction worker needs besides the data.

    ``term`` (n,) is the interaction term per sample of the cohort (NaN = missing).
    """

    min_samples: int
    interaction_s: bool
    term: tuple[float, ...]


PAIR_COLUMNS = ["phenotype_idx", "variant_idx", "number_of_samples", *STAT_FIELDS, "status"]
TOP_COLUMNS = [
    "phenotype_idx",
    "variant_idx",
    "n_tested",
    "n_eff",
    "pval_di",
    "pval_emt",
    "qvalue_bh",
]


def compute_unit(payload: UnitPayload) -> tuple[dict[str, pl.DataFrame], dict]:
    """Interaction statistics of one unit's phenotypes (docs/methods.md#interaction-model).

    Returns
    -------
    (frames, counts)
        ``frames``: ``interaction_stats`` (every cis pair; one empty row for a phenotype
        without cis variants) and ``interaction_top_stats`` (one row per phenotype);
        ``counts``: status name -> number of pairs.
    """
    params = payload.params
    cohort = UnitCohort(payload.main)
    term = np.asarray(params.term, dtype=np.float64)
    pcov_all = cohort.pcov if cohort.pcov_present.any() else None
    cov = cohort.cov.T
    block, vidx, vpos = cohort.block()
    counts = {name: 0 for name in SKIP_REASONS.values()}
    pairs: dict[str, list] = {c: [] for c in PAIR_COLUMNS}
    top: dict[str, list] = {c: [] for c in TOP_COLUMNS}
    for i, ph_idx in enumerate(cohort.idx.tolist()):
        covs = cov if pcov_all is None else np.column_stack([pcov_all[i], cov])
        if cohort.cn_present[i]:  # the phenotype's copy number: part of the interaction model
            covs = np.column_stack([cohort.cn[i], covs])
        rows = cohort.window(i)
        lb, ub = cohort.bounds(i)
        stats = interaction_scan_block(
            cohort.y[i],
            block,
            rows,
            covs,
            term,
            vpos[rows],
            lb,
            ub,
            with_s=params.interaction_s,
            min_samples=params.min_samples,
        )
        codes, freq = np.unique(stats.status, return_counts=True)
        for c, f in zip(codes, freq, strict=True):
            counts[SKIP_REASONS[int(c)]] += int(f)
        k = len(rows)
        if k == 0:
            _append(pairs, phenotype_idx=[ph_idx], variant_idx=[None], number_of_samples=[0],
                    status=[NO_TESTABLE_VARIANT], **{f: [np.nan] for f in STAT_FIELDS})  # fmt: skip
        else:
            _append(
                pairs,
                phenotype_idx=np.full(k, ph_idx),
                variant_idx=vidx[rows],
                number_of_samples=stats.number_of_samples,
                status=stats.status,
                **{f: getattr(stats, f) for f in STAT_FIELDS},
            )
        tested = np.flatnonzero(stats.status == 0)
        best = stats.best()
        if best < 0:
            nan = [np.nan]
            _append(top, phenotype_idx=[ph_idx], variant_idx=[None], n_tested=[0],
                    n_eff=nan, pval_di=nan, pval_emt=nan, qvalue_bh=nan)  # fmt: skip
            continue
        # eigenMT over the tested variants' d on the samples the phenotype can use at all.
        sel = rows[tested]
        n_eff = effective_tests(block.d[sel], block.observed[sel])
        p_best = float(stats.pval_di[best])
        _append(
            top,
            phenotype_idx=[ph_idx],
            variant_idx=[int(vidx[rows][best])],
            n_tested=[tested.size],
            n_eff=[n_eff],
            pval_di=[p_best],
            pval_emt=[min(1.0, p_best * n_eff)],
            qvalue_bh=[np.nan],  # set over the whole run by its last step
        )
    frames = {
        "interaction_stats": _frame(pairs, PAIR_COLUMNS, {"status": pl.Int8}),
        "interaction_top_stats": _frame(top, TOP_COLUMNS, {"n_tested": pl.Int32}),
    }
    return frames, counts


def _append(cols: dict, **values) -> None:
    for name, v in values.items():
        cols[name].append(np.asarray(v, dtype=object if name == "variant_idx" else None))


def _frame(cols: dict, order: list[str], types: dict) -> pl.DataFrame:
    data = {}
    for name in order:
        parts = cols[name]
        if name in ("phenotype_idx", "variant_idx", "number_of_samples"):
            flat = [None if v is None else int(v) for p in parts for v in p.tolist()]
            data[name] = pl.Series(name, flat, dtype=pl.Int32)
        elif name in types:
            flat = np.concatenate(parts) if parts else np.empty(0)
            data[name] = pl.Series(name, flat).cast(types[name])
        else:
            flat = np.concatenate(parts).astype(np.float64) if parts else np.empty(0)
            data[name] = pl.Series(name, flat).fill_nan(None)
    return pl.DataFrame(data)


__all__ = ["compute_unit", "InteractionParams"]
