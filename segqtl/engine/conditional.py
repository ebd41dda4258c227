"""Worker side of conditional mode: a unit's significant phenotypes, forward–backward."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from ..kernels.conditional import RoundResult, forward_backward, scan_round
from ..kernels.nominal import SKIP_REASONS
from .units import UnitCohort, UnitPayload


@dataclass(frozen=True)
class ConditionalParams:
    """What a conditional worker needs besides the data.

    ``leads`` maps a significant phenotype's ``phenotype_idx`` to its lead ``variant_idx``
    in the perm run; ``threshold`` is the perm run's adjusted-p threshold; the permutation
    settings are the perm run's (same seed rule: ``seed + phenotype_idx``).
    """

    min_samples: int
    num_permutations: int
    perm_method: str
    seed: int
    max_signals: int
    threshold: float
    leads: tuple[tuple[int, int], ...]


STAT_COLUMNS = ["beta_s", "se_s", "beta_d", "se_d", "t_stat_d", "nominal_p"]
ROUND_COLUMNS = [
    "phenotype_idx", "round", "pass", "signal_rank", "conditioned_on", "variant_idx",
    "number_of_samples", *STAT_COLUMNS, "p_adj", "beta_shape1", "beta_shape2", "threshold",
    "passes",
]  # fmt: skip
SIGNAL_COLUMNS = [
    "phenotype_idx", "rank", "variant_idx", "forward_variant_idx", "kept", "forward_round",
    "backward_round",
]  # fmt: skip


def compute_unit(payload: UnitPayload) -> tuple[dict[str, pl.DataFrame], dict]:
    """Independent signals of a unit's significant phenotypes
    (docs/methods.md#conditional-analysis).

    Returns
    -------
    (frames, counts)
        ``conditional_stats`` (one row per scan) and ``conditional_signals`` (one row per
        forward signal); ``counts``: status name -> pairs over every scan.
    """
    params = payload.params
    leads = dict(params.leads)
    cohort = UnitCohort(payload.main)
    pcov_all = cohort.pcov if cohort.pcov_present.any() else None
    cov = cohort.cov.T
    block, vidx, vpos = cohort.block()
    counts = {name: 0 for name in SKIP_REASONS.values()}
    rounds: list[dict] = []
    signals: list[dict] = []
    for i, ph_idx in enumerate(cohort.idx.tolist()):
        if ph_idx not in leads:
            continue
        rows = cohort.window(i)
        var_idx = vidx[rows]
        where = np.flatnonzero(var_idx == leads[ph_idx])
        if where.size == 0:  # the perm run's lead is not among this run's cis variants
            continue
        covs = cov if pcov_all is None else np.column_stack([pcov_all[i], cov])
        lb, ub = cohort.bounds(i)
        pos = vpos[rows]

        def scan(conditioned_on, *, i=i, ph_idx=ph_idx, covs=covs, rows=rows, lb=lb, ub=ub,
                 pos=pos) -> RoundResult:  # fmt: skip
            res = scan_round(
                cohort.y[i], cohort.cn[i], covs, block, rows, pos, lb, ub, conditioned_on,
                n_perm=params.num_permutations, seed=params.seed + ph_idx,
                perm_method=params.perm_method, min_samples=params.min_samples,
            )  # fmt: skip
            codes, freq = np.unique(res.stats.status, return_counts=True)
            for c, f in zip(codes, freq, strict=True):
                counts[SKIP_REASONS[int(c)]] += int(f)
            return res

        first = scan([])  # round 0: the perm run's scan again (its lead, its statistics)
        first.stage, first.signal_rank = "forward", 1
        history, found = forward_backward(
            scan, int(where[0]), params.threshold, max_signals=params.max_signals
        )
        all_rounds = [first, *history]
        number = {id(r): n for n, r in enumerate(all_rounds)}
        for n, res in enumerate(all_rounds):
            rounds.append(_round_row(ph_idx, n, res, var_idx, params.threshold))
        for s in found:
            signals.append(
                {
                    "phenotype_idx": ph_idx,
                    "rank": s.rank,
                    "variant_idx": int(var_idx[s.variant]),
                    "forward_variant_idx": int(
                        var_idx[where[0] if s.forward is None else s.forward.best]
                    ),
                    "kept": s.backward is not None or len(found) == 1,
                    "forward_round": 0 if s.forward is None else number[id(s.forward)],
                    "backward_round": None if s.backward is None else number[id(s.backward)],
                }
            )
    return {
        "conditional_stats": _frame(rounds, ROUND_COLUMNS, ROUND_TYPES),
        "conditional_signals": _frame(signals, SIGNAL_COLUMNS, SIGNAL_TYPES),
    }, counts


def _round_row(ph_idx: int, n: int, res: RoundResult, var_idx, threshold: float) -> dict:
    best = res.best
    row = {
        "phenotype_idx": ph_idx,
        "round": n,
        "pass": res.stage,
        "signal_rank": res.signal_rank,
        "conditioned_on": [int(var_idx[c]) for c in res.conditioned_on],
        "variant_idx": None if best < 0 else int(var_idx[best]),
        "number_of_samples": 0 if best < 0 else int(res.stats.number_of_samples[best]),
        "p_adj": res.p_adj,
        "beta_shape1": res.beta_shape1,
        "beta_shape2": res.beta_shape2,
        "threshold": threshold,
        "passes": bool(best >= 0 and res.p_adj <= threshold),
    }
    for c in STAT_COLUMNS:
        row[c] = np.nan if best < 0 else float(getattr(res.stats, c)[best])
    return row


ROUND_TYPES = {
    "phenotype_idx": pl.Int32, "round": pl.Int32, "pass": pl.Utf8, "signal_rank": pl.Int32,
    "conditioned_on": pl.List(pl.Int32), "variant_idx": pl.Int32,
    "number_of_samples": pl.Int32, "threshold": pl.Float64, "passes": pl.Boolean,
}  # fmt: skip
SIGNAL_TYPES = {
    "phenotype_idx": pl.Int32, "rank": pl.Int32, "variant_idx": pl.Int32,
    "forward_variant_idx": pl.Int32, "kept": pl.Boolean, "forward_round": pl.Int32,
    "backward_round": pl.Int32,
}  # fmt: skip


def _frame(rows: list[dict], columns: list[str], types: dict) -> pl.DataFrame:
    schema = {c: types.get(c, pl.Float64) for c in columns}
    frame = pl.DataFrame(rows, schema=schema) if rows else pl.DataFrame(schema=schema)
    floats = [c for c, t in schema.items() if t == pl.Float64]
    return frame.with_columns(pl.col(floats).fill_nan(None)) if floats else frame


__all__ = ["compute_unit", "ConditionalParams"]
