"""Conditional (independent-signal) analysis on the segment-aware model.

For a phenotype that is significant in a permutation run, independent signals are found by
forward–backward stepwise selection (the scheme of tensorQTL's ``map_independent`` and
QTLtools' conditional pass; docs/methods.md#conditional-analysis):

* **forward**: the perm run's lead variant is signal 1.  Each round adds the s and d of every
  signal found so far as covariates, rescans the phenotype's cis variants with the same
  permutations (same seed) and takes the best variant; it becomes the next signal while its
  adjusted p passes the run's gene-level threshold.
* **backward**: with two or more signals, each is dropped in turn, the phenotype is rescanned
  conditioning on all the others, and the best variant of that scan is kept (with the dropped
  signal's rank) if its adjusted p still passes.

**Sample rule.**  A conditioning variant contributes only where it would itself be tested:
its ALTlr and REFlr observed and its position on the sample's segment (docs/methods.md#
segment-mask).  Its s and d are missing elsewhere, so a round uses the samples that every one
of its conditioning variants keeps (and that the tested variant keeps), exactly as a sample
with a missing covariate is left out of the nominal model.

Everything here is arrays in, arrays out; the data come from
:func:`segqtl.kernels.nominal.nominal_scan_block`'s inputs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from .nominal import SINGULAR, DosageBlock, NominalStats, nominal_scan_block
from .perm import beta_pvalue, direct_pvalue, max_t_null
from .segments import segment_mask

#: A variance inflation factor at or above this (R² ≥ 1 - 1e-8 on the other columns) makes a
#: variant untestable given the conditioning variants.
MAX_VIF = 1e8


def conditioning_columns(
    block: DosageBlock, rows: Sequence[int], pos: Sequence[int], lb, ub
) -> np.ndarray:
    """The s and d of conditioning variants as covariate columns, NaN where unusable.

    Parameters
    ----------
    block : DosageBlock
        The unit's genotypes.
    rows : sequence of int, length m
        The conditioning variants' rows of ``block``.
    pos : sequence of int, length m
        Their positions.
    lb, ub : (n,) float or None
        The phenotype's segment bounds per sample (None: no segment rule).

    Returns
    -------
    (n, 2m) float
        ``[s_1, d_1, s_2, d_2, ...]``; NaN where the variant is missing or off the segment.
    """
    n = block.s.shape[1]
    out = np.empty((n, 2 * len(rows)))
    for j, (r, p) in enumerate(zip(rows, pos, strict=True)):
        keep = block.observed[r].copy()
        if lb is not None:
            keep &= segment_mask(np.array([p]), lb, ub)[0]
        out[:, 2 * j] = np.where(keep, block.s[r], np.nan)
        out[:, 2 * j + 1] = np.where(keep, block.d[r], np.nan)
    return out


@dataclass
class RoundResult:
    """One scan of a phenotype conditioned on a set of variants.

    ``best`` indexes the scanned variants (-1: none testable); ``conditioned_on`` holds the
    conditioning variants' indices into the same list.  :func:`forward_backward` sets
    ``stage`` ('forward' | 'backward') and ``signal_rank`` (forward: the rank its best variant
    takes if it passes; backward: the rank of the signal re-tested).
    """

    conditioned_on: tuple[int, ...]
    best: int
    p_nominal: float
    p_adj: float
    beta_shape1: float
    beta_shape2: float
    stats: NominalStats = field(repr=False)
    stage: str = ""
    signal_rank: int = 0


def scan_round(
    y: np.ndarray,
    copy_number: np.ndarray,
    covariates: np.ndarray,
    block: DosageBlock,
    rows: np.ndarray,
    pos: np.ndarray,
    lb,
    ub,
    conditioned_on: Sequence[int],
    *,
    n_perm: int,
    seed: int,
    perm_method: str = "beta",
    min_samples: int = 30,
) -> RoundResult:
    """Nominal scan and permutation p-value of one phenotype conditioned on some variants.

    Parameters
    ----------
    y, copy_number : (n,) float
        Phenotype and its copy number (NaN = missing); copy number enters the null model only,
        as in perm mode.
    covariates : (n, c) float
        The perm run's covariates (phenotype covariate first).
    block, rows, pos, lb, ub
        The phenotype's cis variants (``rows`` (V,) into ``block``, ``pos`` (V,)) and segment
        bounds, as for :func:`~segqtl.kernels.nominal.nominal_scan_block`.
    conditioned_on : sequence of int
        Indices into ``rows`` of the conditioning variants.
    n_perm, seed, perm_method, min_samples
        As the perm run's (``seed`` = run seed + phenotype index: the same permutations in
        every round).

    Returns
    -------
    RoundResult
    """
    n = y.shape[0]
    covariates = np.asarray(covariates, dtype=np.float64).reshape(n, -1)
    cond = list(conditioned_on)
    if cond:
        extra = conditioning_columns(
            block, [int(rows[c]) for c in cond], [int(pos[c]) for c in cond], lb, ub
        )
        covariates = np.column_stack([covariates, extra])
    y_nom = np.where(np.isnan(copy_number), np.nan, y)  # perm mode's nominal sample set
    seg_pos = None if lb is None else np.asarray(pos)  # no bounds: no segment rule
    # A variant collinear with the conditioning columns (the signal itself, or a variant with
    # the same copy-number profile) is not tested, here or in the permutations.
    stats = nominal_scan_block(
        y_nom,
        block,
        rows,
        covariates,
        seg_pos,
        lb,
        ub,
        min_samples=min_samples,
        max_vif=MAX_VIF if cond else None,
    )
    best = stats.best()
    if best < 0:
        return RoundResult(tuple(cond), -1, np.nan, np.nan, np.nan, np.nan, stats)
    scanned = stats.status != SINGULAR if cond else np.ones(len(rows), dtype=bool)
    p_null = max_t_null(
        y,
        copy_number,
        covariates,
        block,
        np.asarray(rows)[scanned],
        None if seg_pos is None else seg_pos[scanned],
        lb,
        ub,
        n_perm=n_perm,
        seed=seed,
        min_samples=min_samples,
    )
    p_nom = float(stats.nominal_p[best])
    if perm_method == "direct":
        p_adj, a, b = direct_pvalue(p_nom, p_null), np.nan, np.nan
    else:
        p_adj, a, b = beta_pvalue(p_nom, p_null)
    return RoundResult(tuple(cond), best, p_nom, p_adj, a, b, stats)


@dataclass
class Signal:
    """An independent signal: its variant (index into the scanned variants), its rank, the
    forward round that found it and the backward round that confirmed it (None: dropped)."""

    variant: int
    rank: int
    forward: RoundResult | None
    backward: RoundResult | None


def forward_backward(
    scan: Callable[[Sequence[int]], RoundResult],
    lead: int,
    threshold: float,
    *,
    max_signals: int = 10,
) -> tuple[list[RoundResult], list[Signal]]:
    """Forward–backward selection of independent signals (module docstring).

    Parameters
    ----------
    scan : callable
        ``scan(conditioned_on) -> RoundResult`` for a list of variant indices.
    lead : int
        The perm run's lead variant (signal 1, found without conditioning).
    threshold : float
        The gene-level adjusted-p threshold (the perm run's ``p_threshold`` at its FDR).
    max_signals : int
        Stop the forward pass after this many signals.

    Returns
    -------
    rounds : list of RoundResult
        Every scan, forward ones first.
    signals : list of Signal
        One per forward signal, in forward order, with the backward verdict; a signal whose
        backward scan's best variant differs from the forward one is reported with the
        backward variant (as tensorQTL does).
    """
    rounds: list[RoundResult] = []
    forward: list[tuple[int, RoundResult | None]] = [(lead, None)]
    while len(forward) < max_signals:
        res = scan([v for v, _ in forward])
        res.stage, res.signal_rank = "forward", len(forward) + 1
        rounds.append(res)
        if res.best < 0 or not (res.p_adj <= threshold):
            break
        if res.best in {v for v, _ in forward}:  # cannot happen with a full-rank fit; stop
            break
        forward.append((res.best, res))
    signals = []
    for rank, (variant, found_by) in enumerate(forward, start=1):
        signals.append(Signal(variant, rank, found_by, None))
    if len(forward) == 1:
        return rounds, signals
    forward_variants = [v for v, _ in forward]
    for j, signal in enumerate(signals):
        res = scan(forward_variants[:j] + forward_variants[j + 1 :])
        res.stage, res.signal_rank = "backward", signal.rank
        rounds.append(res)
        if res.best >= 0 and res.p_adj <= threshold:
            signal.backward = res
            signal.variant = res.best
    return rounds, signals


def kept(signals: list[Signal]) -> list[Signal]:
    """The signals that pass the backward pass (all of them when there was only one)."""
    if len(signals) == 1:
        return signals
    return [s for s in signals if s.backward is not None]
