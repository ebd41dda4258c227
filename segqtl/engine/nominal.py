"""Worker side of nominal and perm modes: one work unit (payload in, result frame out)."""

from __future__ import annotations

import numpy as np
import polars as pl

from ..kernels.conditional import MAX_VIF, conditioning_columns
from ..kernels.nominal import (
    OK,
    SINGULAR,
    SKIP_REASONS,
    STAT_FIELDS,
    NominalStats,
    nominal_scan_many,
)
from ..kernels.perm import beta_pvalue, direct_pvalue, max_t_null
from .units import UnitCohort, UnitPayload

STAT_COLUMNS = list(STAT_FIELDS)
#: Columns of a unit's result frame (the nominal_stats columns after run, unit and chromosome,
#: without variant_chr).
RESULT_COLUMNS = [
    "phenotype_idx",
    "variant_idx",
    "number_of_samples",
    *STAT_COLUMNS,
    "delta_aic_alt_minus_null",
    "p_adj",
    "status",
    "beta_shape1",
    "beta_shape2",
]
NO_TESTABLE_VARIANT = 5  # result_status code: a phenotype without any testable variant
#: Phenotypes whose masked products share one pass over the unit's variants
#: (:func:`~segqtl.kernels.nominal.nominal_scan_many`).  Their cis windows overlap, so each
#: variant's s and d come from memory once for all of them; each holds its sums (a few MB at
#: real density) until the pass is done, which bounds the group.
SCAN_GROUP = 8


def neg_control_subset(n_total: int, max_variants: int, phenotype_idx: int) -> np.ndarray:
    """Rows of the trans chromosome tested for one phenotype, shape (min(n_total,
    max_variants),), sorted (docs/methods.md#negative-control: the reference's RNG rule)."""
    if n_total <= max_variants:
        return np.arange(n_total)
    rng = np.random.default_rng(42 + phenotype_idx)
    return np.sort(rng.choice(n_total, max_variants, replace=False))


def compute_unit(payload: UnitPayload) -> tuple[pl.DataFrame, dict]:
    """Nominal statistics of one unit (and, in perm mode, the permutation p-values).

    Parameters
    ----------
    payload : UnitPayload
        ``main``: the cohort's slice (``rows``/``pairs``/``bounds`` None for negative
        controls, whose variants are every one of the next chromosome); ``params``:
        :class:`~segqtl.engine.units.NominalParams`.

    Returns
    -------
    (results, counts)
        ``results`` has :data:`RESULT_COLUMNS`; ``counts`` maps status name -> number of pairs.
    """
    params = payload.params
    cohort = UnitCohort(payload.main)
    y_all = cohort.y
    # a unit with a phenotype covariate gives it to every phenotype (NaN where one lacks it)
    pcov_all = cohort.pcov if cohort.pcov_present.any() else None
    cov = cohort.cov.T  # (n, c)
    block, vidx, vpos = cohort.block()
    perm = params.perm
    cn_all = cohort.cn if perm else None
    neg = not cohort.cis

    counts = {name: 0 for name in SKIP_REASONS.values()}
    cols: dict[str, list] = {c: [] for c in RESULT_COLUMNS}
    jobs = []
    ph_all = cohort.idx.tolist()
    for i, ph_idx in enumerate(ph_all):
        covs = cov if pcov_all is None else np.column_stack([pcov_all[i], cov])
        y = y_all[i]
        if perm:  # the nominal scan uses the permutation null's samples: copy number observed
            y = np.where(np.isnan(cn_all[i]), np.nan, y)
        if neg:
            rows = neg_control_subset(len(vidx), params.neg_control_max_variants, ph_idx)
            pos = lb = ub = None
        else:
            rows = cohort.window(i)
            lb, ub = cohort.bounds(i)
            pos = vpos[rows]
        # --condition-on: the chosen variants in this phenotype's window join the covariates
        # (docs/methods.md#conditional-analysis: their sample rule); they and their copies are
        # not tested.
        cond = rows[np.isin(vidx[rows], params.condition_on_idx)] if not neg else rows[:0]
        if cond.size:
            covs = np.column_stack([covs, conditioning_columns(block, cond, vpos[cond], lb, ub)])
        jobs.append(
            dict(y=y, rows=rows, covariates=covs, pos=pos, lb=lb, ub=ub, cond=cond,
                 max_vif=MAX_VIF if cond.size else None)
        )  # fmt: skip
    # A few phenotypes at a time share one pass over their variants for the masked products;
    # their results are then taken as before, phenotype by phenotype.
    for lo in range(0, len(jobs), SCAN_GROUP):
        chunk_stats = nominal_scan_many(
            block,
            jobs[lo : lo + SCAN_GROUP],
            min_samples=params.min_samples,
            record_aic=params.record_aic,
        )
        for i, stats in enumerate(chunk_stats, start=lo):
            ph_idx, job = ph_all[i], jobs[i]
            rows, pos, lb, ub, cond, covs = (
                job[key] for key in ("rows", "pos", "lb", "ub", "cond", "covariates")
            )
            codes, freq = np.unique(stats.status, return_counts=True)
            for c, f in zip(codes, freq, strict=True):
                counts[SKIP_REASONS[int(c)]] += int(f)
            if params.all_variants:
                keep = np.arange(len(rows))
            else:
                best = stats.best()
                keep = np.array([best] if best >= 0 else [], dtype=np.int64)
            if keep.size == 0 and not params.all_variants:
                _append_empty(cols, ph_idx)
                continue
            _append_rows(cols, ph_idx, stats, keep, vidx[rows])
            if perm:
                null_rows, null_pos = rows, pos
                if cond.size:
                    scanned = stats.status != SINGULAR
                    null_rows, null_pos = rows[scanned], pos[scanned]
                p_null = max_t_null(
                    y_all[i],
                    cn_all[i],
                    covs,
                    block,
                    null_rows,
                    null_pos,
                    lb,
                    ub,
                    n_perm=params.num_permutations,
                    seed=params.seed + ph_idx,
                    min_samples=params.min_samples,
                )
                p_nom = float(stats.nominal_p[keep[0]])
                if params.perm_method == "direct":
                    cols["p_adj"][-1] = np.array([direct_pvalue(p_nom, p_null)])
                else:
                    p_adj, a, b = beta_pvalue(p_nom, p_null)
                    cols["p_adj"][-1] = np.array([p_adj])
                    cols["beta_shape1"][-1] = np.array([a])
                    cols["beta_shape2"][-1] = np.array([b])
    frame = pl.DataFrame(
        {c: np.concatenate(v) if v else np.empty(0) for c, v in cols.items()}, schema=_SCHEMA
    )
    frame = frame.with_columns(
        pl.col(FLOAT_COLUMNS).fill_nan(None),
        pl.col("variant_idx").fill_nan(None).cast(pl.Int32),
    )
    return frame, counts


def _append_rows(cols: dict, ph_idx: int, stats: NominalStats, keep, vidx) -> None:
    k = keep.size
    cols["phenotype_idx"].append(np.full(k, ph_idx, dtype=np.int32))
    cols["variant_idx"].append(vidx[keep].astype(np.float64))  # float: NaN marks "none"
    cols["number_of_samples"].append(stats.number_of_samples[keep].astype(np.int32))
    for f in STAT_COLUMNS:
        cols[f].append(getattr(stats, f)[keep])
    cols["delta_aic_alt_minus_null"].append(stats.aic_alt[keep] - stats.aic_null[keep])
    cols["p_adj"].append(np.full(k, np.nan))
    cols["status"].append(stats.status[keep].astype(np.int8))
    cols["beta_shape1"].append(np.full(k, np.nan))
    cols["beta_shape2"].append(np.full(k, np.nan))


def _append_empty(cols: dict, ph_idx: int) -> None:
    for c in RESULT_COLUMNS:
        cols[c].append(np.full(1, np.nan))
    cols["phenotype_idx"][-1] = np.array([ph_idx], dtype=np.int32)
    cols["number_of_samples"][-1] = np.zeros(1, dtype=np.int32)
    cols["status"][-1] = np.array([NO_TESTABLE_VARIANT], dtype=np.int8)


FLOAT_COLUMNS = [*STAT_COLUMNS, "delta_aic_alt_minus_null", "p_adj", "beta_shape1", "beta_shape2"]
_TYPES = {"phenotype_idx": pl.Int32, "number_of_samples": pl.Int32, "status": pl.Int8}
# in RESULT_COLUMNS order, which is the result table's column order
_SCHEMA = {c: _TYPES.get(c, pl.Float64) for c in RESULT_COLUMNS}


__all__ = ["compute_unit", "RESULT_COLUMNS", "OK"]
