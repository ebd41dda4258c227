"""Tests of segqtl.kernels.conditional: conditioned scans and forward–backward selection.

Each round's statistics are checked against statsmodels' OLS with the conditioning variants'
s and d as covariates, on the samples of the stated sample rule (re-implemented here in loop
form); the selection is checked on a simulated phenotype with two planted causal variants and
on a scripted scan.
"""

from __future__ import annotations

import numpy as np
import statsmodels.api as sm

from segqtl.kernels.conditional import (
    RoundResult,
    conditioning_columns,
    forward_backward,
    kept,
    scan_round,
)
from segqtl.kernels.nominal import OK, DosageBlock, NominalStats


def _lr(rng, shape):
    return np.minimum(np.log2(1.0 + rng.gamma(4.0, 0.5, shape)), 3.0)


def _cohort(seed, n=200, n_var=25, effects=((3, 0.7), (17, 0.5))):
    rng = np.random.default_rng(seed)
    alt = _lr(rng, (n_var, n))
    ref = _lr(rng, (n_var, n))
    cov = np.column_stack([rng.normal(60, 10, n), rng.integers(0, 2, n)])
    cn = rng.normal(0.0, 0.3, n)
    y = rng.normal(0, 1, n) + 0.2 * cn
    for v, b in effects:
        y += b * (ref[v] - alt[v])
    return rng, y, alt, ref, cov, cn


def _usable(y, cn, cov, alt, ref, v, pos, lb, ub):
    use = ~np.isnan(y) & ~np.isnan(cn) & ~np.isnan(cov).any(axis=1)
    use &= ~np.isnan(alt[v]) & ~np.isnan(ref[v])
    if lb is not None:
        with np.errstate(invalid="ignore"):
            use &= (lb <= pos[v]) & (pos[v] <= ub)
    return use


def test_scan_round__statistics_equal_ols_with_conditioning_covariates():
    rng, y, alt, ref, cov, cn = _cohort(1)
    n = y.size
    alt[rng.random(alt.shape) < 0.04] = np.nan  # missing genotypes, conditioning ones too
    pos = np.sort(rng.integers(1_000_000, 1_400_000, alt.shape[0]))
    lb = rng.uniform(900_000, 1_150_000, n)
    ub = lb + rng.uniform(200_000, 600_000, n)
    block = DosageBlock.from_dosages(alt, ref)
    rows = np.arange(alt.shape[0])
    cond = [3, 17]
    res = scan_round(y, cn, cov, block, rows, pos, lb, ub, cond, n_perm=50, seed=7)
    n_checked = 0
    for v in range(alt.shape[0]):
        use = _usable(y, cn, cov, alt, ref, v, pos, lb, ub)
        for w in cond:  # the sample rule: every conditioning variant usable too
            use &= _usable(y, cn, cov, alt, ref, w, pos, lb, ub)
        if v in cond:
            assert res.stats.status[v] != OK  # collinear with its own conditioning columns
            continue
        if use.sum() < 30:
            assert res.stats.status[v] != OK
            continue
        x = np.column_stack(
            [
                np.ones(use.sum()),
                (ref[v] + alt[v])[use],
                (ref[v] - alt[v])[use],
                cov[use],
                *[(ref[w] + alt[w])[use] for w in cond],
                *[(ref[w] - alt[w])[use] for w in cond],
            ]
        )
        fit = sm.OLS(y[use], x).fit()
        assert res.stats.status[v] == OK
        assert res.stats.number_of_samples[v] == use.sum()
        np.testing.assert_allclose(res.stats.beta_d[v], fit.params[2], rtol=1e-8)
        np.testing.assert_allclose(res.stats.se_d[v], fit.bse[2], rtol=1e-8)
        np.testing.assert_allclose(res.stats.nominal_p[v], fit.pvalues[2], rtol=1e-7)
        n_checked += 1
    assert n_checked >= 15
    assert res.best not in cond and res.p_nominal == res.stats.nominal_p[res.best]


def test_conditioning_columns__missing_where_the_variant_is_unusable():
    rng, y, alt, ref, cov, cn = _cohort(2, n=50, n_var=3, effects=())
    alt[1, :5] = np.nan
    block = DosageBlock.from_dosages(alt, ref)
    lb = np.zeros(50)
    ub = np.full(50, 100.0)
    ub[45:] = 10.0  # off the segment for a variant at 20
    cols = conditioning_columns(block, [1], [20], lb, ub)
    assert cols.shape == (50, 2)
    assert np.isnan(cols[:5]).all() and np.isnan(cols[45:]).all()
    np.testing.assert_allclose(cols[5:45, 1], (ref[1] - alt[1])[5:45])


def test_forward_backward__finds_two_planted_signals_in_order_and_no_third():
    rng, y, alt, ref, cov, cn = _cohort(3, n=300, n_var=30, effects=((4, 0.9), (22, 0.5)))
    block = DosageBlock.from_dosages(alt, ref)
    rows = np.arange(30)
    pos = np.arange(30) * 1000 + 1_000_000

    def scan(cond):
        return scan_round(y, cn, cov, block, rows, pos, None, None, cond, n_perm=300, seed=11)

    lead = scan([])
    assert lead.best == 4
    rounds, signals = forward_backward(scan, lead.best, threshold=1e-3)
    assert [s.variant for s in signals] == [4, 22]
    assert [s.rank for s in signals] == [1, 2]
    assert [s.variant for s in kept(signals)] == [4, 22]
    # The last forward round's best variant did not pass: no third signal.
    assert rounds[1].p_adj > 1e-3
    # Backward: each signal rescanned conditioning on the other only.
    assert [r.conditioned_on for r in rounds[2:]] == [(22,), (4,)]


def _fake(best, p_adj):
    return RoundResult((), best, p_adj, p_adj, np.nan, np.nan, NominalStats.empty(0))


def test_forward_backward__backward_keeps_the_rescanned_variant_and_drops_failures():
    script = {
        (0,): _fake(5, 1e-6),
        (0, 5): _fake(9, 1e-5),
        (0, 5, 9): _fake(2, 0.5),
        (5, 9): _fake(1, 1e-7),  # signal 1 rescanned: variant 1 now leads
        (0, 9): _fake(5, 0.2),  # signal 2 no longer passes
    }  # signal 3's backward scan conditions on (0, 5) again: variant 9 passes
    calls = []

    def scan(cond):
        calls.append(tuple(cond))
        return script[tuple(cond)]

    rounds, signals = forward_backward(scan, 0, threshold=1e-3)
    assert calls == [(0,), (0, 5), (0, 5, 9), (5, 9), (0, 9), (0, 5)]
    assert [(s.variant, s.rank) for s in kept(signals)] == [(1, 1), (9, 3)]
    assert signals[1].backward is None


def test_forward_backward__max_signals_and_single_signal():
    def scan(cond):
        return _fake(len(cond) + 100, 1e-9)

    _, signals = forward_backward(scan, 0, threshold=0.01, max_signals=3)
    assert len(signals) == 3
    _, single = forward_backward(lambda c: _fake(7, 0.9), 0, threshold=0.01)
    assert [(s.variant, s.rank) for s in kept(single)] == [(0, 1)]


def test_scan_round__copies_of_a_signal_are_untested_and_round_one_is_the_perm_scan():
    from segqtl.kernels.perm import beta_pvalue, max_t_null

    rng, y, alt, ref, cov, cn = _cohort(5, n=150, n_var=12, effects=((3, 0.8),))
    alt[7], ref[7] = alt[3], ref[3]  # same copy-number profile as the signal
    block = DosageBlock.from_dosages(alt, ref)
    rows = np.arange(12)
    pos = np.arange(12) * 100
    first = scan_round(y, cn, cov, block, rows, pos, None, None, [], n_perm=100, seed=4)
    p_null = max_t_null(y, cn, cov, block, rows, None, None, None, n_perm=100, seed=4)
    assert first.best in (3, 7)
    assert first.p_adj == beta_pvalue(first.p_nominal, p_null)[0]
    cond = scan_round(y, cn, cov, block, rows, pos, None, None, [3], n_perm=100, seed=4)
    assert cond.stats.status[3] != OK and cond.stats.status[7] != OK
    assert cond.best not in (3, 7) and np.isfinite(cond.p_adj)


def test_scan_round__a_conditioning_variant_is_never_tested_whatever_the_data():
    for seed in range(12):
        rng, y, alt, ref, cov, cn = _cohort(100 + seed, n=120, n_var=10, effects=((2, 0.8),))
        if seed % 2:
            alt[rng.random(alt.shape) < 0.05] = np.nan
        block = DosageBlock.from_dosages(alt, ref)
        rows = np.arange(10)
        pos = np.arange(10) * 10
        cond = [2, 5] if seed % 3 else [2]
        res = scan_round(y, cn, cov, block, rows, pos, None, None, cond, n_perm=20, seed=seed)
        assert all(res.stats.status[c] != OK for c in cond), seed
        assert all(np.isnan(res.stats.nominal_p[c]) for c in cond), seed
