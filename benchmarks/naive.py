"""Naive per-variant baselines, one per mode, for the benchmarks (``bench_all.py`` tables).

Each is the reference's (SegmentQTL's) way of computing, written plainly in Python + numpy:

* nominal: one masked ``numpy.linalg.lstsq`` fit (and an inverse for the standard errors) per
  cis variant — :func:`nominal`;
* perm: for every permutation of the phenotype, that same masked fit for every cis variant,
  keeping the largest |t| — :func:`perm`, timed on a few phenotypes and permutations and
  extrapolated per (permutation x variant) to the full workload;
* finemap: the pure-Python per-variant elastic-net solver of ``tests/reference_enet.py`` on one
  phenotype, a reduced workload extrapolated per fit to the whole pipeline — :func:`finemap`.

Validate has no naive baseline.
"""

from __future__ import annotations

import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import stats

from segqtl.engine.units import list_matrix
from segqtl.warehouse.db import connect, query_pl

#: Fewest usable samples for a variant to be tested (the run's --min-samples default).
MIN_SAMPLES = 30
#: finemap's work per phenotype as counted for the reference: 5 folds x 30 lambdas of CV,
#: 1 full fit, 200 stability subsamples = 351 elastic-net fits (compute_r2 off).
N_FOLDS, N_LAMBDA, N_BOOTSTRAP = 5, 30, 200
FITS_PER_PHENOTYPE = N_FOLDS * N_LAMBDA + 1 + N_BOOTSTRAP
FINEMAP_BUDGET_S = 90.0  # wall-time cap of the naive finemap baseline
FINEMAP_CV_BUDGET_S = 60.0  # ... of which the CV path may use at most this
FINEMAP_STABILITY_FITS = 50


@dataclass
class Subset:
    """The first phenotypes of a cohort's chromosome with their cis variants, as arrays.

    ``y`` (k, n) phenotype values; ``lb``/``ub`` (k, n) each sample's segment bounds around the
    phenotype (NaN: none); ``rows[i]`` the rows of ``alt``/``ref``/``pos`` in phenotype i's cis
    window; ``alt``/``ref`` (V, n) allele dosages (log ratios); ``pos`` (V,); ``cov`` (n, c).
    """

    n: int
    cov: np.ndarray
    y: np.ndarray
    lb: np.ndarray
    ub: np.ndarray
    rows: list[np.ndarray]
    alt: np.ndarray
    ref: np.ndarray
    pos: np.ndarray


def load_subset(
    db, cohort: str, n_phenotypes: int, chrom: str = "chr1", window: int = 1_000_000
) -> Subset:
    """Read the first ``n_phenotypes`` phenotypes of ``chrom`` and their cis variants."""
    con = connect(db, read_only=True)
    n = con.execute("SELECT n_samples FROM cohorts WHERE cohort = ?", [cohort]).fetchall()[0][0]
    cov = list_matrix(
        con.sql(
            'SELECT "values" FROM covariates WHERE cohort = ? ORDER BY cov_idx', params=[cohort]
        ).pl()["values"],
        n,
    ).T
    rng = dict(cohort=cohort, chr=chrom, first_idx=0, last_idx=n_phenotypes - 1)
    phen = query_pl(con, "unit_phenotypes", only_gene=None, **rng)
    variants = con.sql(
        "SELECT variant_idx, pos, altlr, reflr FROM genotypes WHERE cohort = ? AND chr = ? "
        "ORDER BY variant_idx",
        params=[cohort, chrom],
    ).pl()
    pairs = query_pl(con, "cis_pairs", window=window, **rng)
    bounds = query_pl(con, "segment_bounds", **rng)
    con.close()
    vidx = variants["variant_idx"].to_numpy()
    k = phen.height
    lb = np.full((k, n), np.nan)
    ub = np.full((k, n), np.nan)
    rows = []
    for i, ph in enumerate(phen["phenotype_idx"].to_list()):
        b = bounds.filter(bounds["phenotype_idx"] == ph)
        lb[i, b["sample_idx"].to_numpy()] = b["lb"].to_numpy()
        ub[i, b["sample_idx"].to_numpy()] = b["ub"].to_numpy()
        rows.append(
            np.searchsorted(
                vidx, pairs.filter(pairs["phenotype_idx"] == ph)["variant_idx"].to_numpy()
            )
        )
    return Subset(
        n,
        cov,
        list_matrix(phen["values"], n),
        lb,
        ub,
        rows,
        list_matrix(variants["altlr"], n),
        list_matrix(variants["reflr"], n),
        variants["pos"].to_numpy(),
    )


def masked_ols(s: Subset, i: int, r: int, y: np.ndarray):
    """One variant's fit the reference's way: mask, design, ``lstsq``, inverse for the se.

    Returns (beta, se, df) of ``y ~ 1 + (ref + alt) + (ref - alt) + covariates`` over the
    samples with everything observed and the variant inside their segment, or None when fewer
    than :data:`MIN_SAMPLES` remain.
    """
    a, f = s.alt[r], s.ref[r]
    with np.errstate(invalid="ignore"):
        m = (
            np.isfinite(y)
            & np.isfinite(a)
            & np.isfinite(f)
            & np.isfinite(s.cov).all(1)
            & (s.pos[r] >= s.lb[i])
            & (s.pos[r] <= s.ub[i])
        )
    k = int(m.sum())
    if k < MIN_SAMPLES:
        return None
    x = np.column_stack([np.ones(k), f[m] + a[m], f[m] - a[m], s.cov[m]])
    beta, rss, *_ = np.linalg.lstsq(x, y[m], rcond=None)
    df = k - x.shape[1]
    se = np.sqrt(np.diag(np.linalg.inv(x.T @ x)) * rss[0] / df)
    return beta, se, df


def nominal(db, cohort: str, n_phenotypes: int) -> dict:
    """Every cis pair of the first ``n_phenotypes`` phenotypes, one fit and p-value each.

    Returns ``{"phenotypes", "pairs", "seconds"}`` (pairs actually fitted; one core).
    """
    s = load_subset(db, cohort, n_phenotypes)
    t0 = time.perf_counter()
    count = 0
    for i, rows in enumerate(s.rows):
        for r in rows:
            fit = masked_ols(s, i, r, s.y[i])
            if fit is None:
                continue
            beta, se, df = fit
            2 * stats.t.sf(abs(beta[2] / se[2]), df)
            count += 1
    return {"phenotypes": n_phenotypes, "pairs": count, "seconds": time.perf_counter() - t0}


def perm(db, cohort: str, n_phenotypes: int, n_permutations: int, seed: int = 0) -> dict:
    """Permutation scan the reference's way on a subset: per permutation, per variant, one fit.

    For each of the first ``n_phenotypes`` phenotypes and each of ``n_permutations`` shuffles
    of its values, fits every cis variant and keeps the largest |t| of the d term (the null
    distribution's draw).  Returns the count of (permutation x variant) fits, their seconds
    (one core) and the seconds per fit, which ``bench_all.py`` scales to the full
    workload (permutations x cis pairs).
    """
    s = load_subset(db, cohort, n_phenotypes)
    rng = np.random.default_rng(seed)
    t0 = time.perf_counter()
    fits = 0
    for i, rows in enumerate(s.rows):
        for _ in range(n_permutations):
            y = rng.permutation(s.y[i])
            best = 0.0
            for r in rows:
                fit = masked_ols(s, i, r, y)
                if fit is None:
                    continue
                beta, se, _ = fit
                best = max(best, abs(beta[2] / se[2]))
                fits += 1
    secs = time.perf_counter() - t0
    return {
        "phenotypes": n_phenotypes,
        "permutations": n_permutations,
        "perm_variants": fits,
        "seconds": secs,
        "seconds_per_perm_variant": secs / max(fits, 1),
    }


def _standardise(d: np.ndarray, cols: np.ndarray, min_count: int):
    """The reference's per-variant Python loop over a subsample: mask, mean, std, zero-fill."""
    p = d.shape[0]
    Z = np.zeros((p, cols.size))
    keep = np.zeros(p, dtype=bool)
    for v in range(p):
        row = d[v, cols]
        obs = np.flatnonzero(~np.isnan(row))
        if obs.size < min_count:
            continue
        vals = row[obs]
        mu, sd = np.mean(vals), np.std(vals)
        if sd < 1e-10:
            continue
        keep[v] = True
        Z[v, obs] = (vals - mu) / sd
    return keep, Z


def finemap(prep, ph_idx: int, lam_sel: float, params) -> dict:
    """Pure-Python per-variant solver (``tests/reference_enet.py``) on one phenotype.

    A reduced workload — as many whole CV folds' warm-started 30-lambda paths as fit in
    :data:`FINEMAP_CV_BUDGET_S`, the full fit and :data:`FINEMAP_STABILITY_FITS` stability
    fits, all capped at :data:`FINEMAP_BUDGET_S` of wall time — extrapolated per fit to the
    whole pipeline (``extrapolated_seconds_per_phenotype``).  ``prep`` is
    ``prepare_phenotype``'s output, ``params`` the run's ``FinemapParams``.
    """
    from threadpoolctl import threadpool_limits

    from segqtl.kernels import finemap as fm

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/ is a package there
    from tests import reference_enet as enet

    alpha = params.alpha_en
    y, X, n = np.ascontiguousarray(prep.y), prep.X, prep.n
    required = max(fm.MIN_SAMPLES, int(params.coverage_tau * n))
    _, _, _, keep, Zall = fm.standardise(prep.d, np.arange(n), required)  # not timed
    kept = np.flatnonzero(keep)
    Z = np.ascontiguousarray(Zall[kept])
    d_kept = np.ascontiguousarray(prep.d[kept])
    grid = fm.lambda_grid(enet.lambda_max(y, Z, X, alpha), params.n_lambda, params.lambda_ratio)
    E_kernel = fm.cv_errors(y, Z, X, grid, alpha, 42 + ph_idx)  # to check the naive numbers
    out: dict = {"phenotype_idx": ph_idx, "n_samples": n, "p_kept": int(kept.size)}
    with threadpool_limits(1):
        start = time.perf_counter()
        # (1) whole folds' warm-started lambda paths (enet_path's loop, one enet_fit per lambda,
        # so that the wall-time cap can also stop a fold part-way), while the CV budget allows
        cv_times, cv_sweeps, max_err_diff, folds_done = [], [], 0.0, 0
        for f_idx, (tr, te) in enumerate(enet.cv_folds(n, 42 + ph_idx)):
            elapsed = time.perf_counter() - start
            if folds_done and elapsed + elapsed / folds_done > FINEMAP_CV_BUDGET_S:
                break  # the next fold would not finish in time
            beta = theta = None
            ytr, Ztr, Xtr = y[tr], Z[:, tr], X[tr]
            for t, lam in enumerate(grid):
                if time.perf_counter() - start > FINEMAP_CV_BUDGET_S:
                    break
                t0 = time.perf_counter()
                f = enet.enet_fit(ytr, Ztr, Xtr, float(lam), alpha, *fm.CV_PATH, beta, theta)
                cv_times.append(time.perf_counter() - t0)
                cv_sweeps.append(f.n_iter)
                beta, theta = f.beta, f.theta
                err = np.mean((y[te] - enet.predict(X[te], Z[:, te], f)) ** 2)
                max_err_diff = max(max_err_diff, abs(err - E_kernel[t, f_idx]))
            else:
                folds_done += 1
                continue
            break
        # (2) the full-data fit at lambda_sel (cold)
        t0 = time.perf_counter()
        f = enet.enet_fit(y, Z, X, lam_sel, alpha, *fm.FULL_FIT)
        full_time, full_sweeps = time.perf_counter() - t0, f.n_iter
        # (3) stability fits at lambda_sel on the first subsamples (the kernel's first ones)
        n_sub = fm.n_subsample(n, params.subsample_frac)
        subs = fm.stability_subsamples(n, n_sub, FINEMAP_STABILITY_FITS, 42 + ph_idx)
        st_times, st_sweeps = [], []
        for sub in subs:
            if st_times and time.perf_counter() - start > FINEMAP_BUDGET_S:
                break
            t0 = time.perf_counter()
            keep_b, Zb = _standardise(d_kept, sub, params.min_obs_boot)
            if keep_b.any():
                f = enet.enet_fit(y[sub], Zb, X[sub], lam_sel, alpha, *fm.STABILITY_FIT)
                st_sweeps.append(f.n_iter)
            st_times.append(time.perf_counter() - t0)
        total = time.perf_counter() - start
    n_fits = len(cv_times) + 1 + len(st_times)
    mean_cv = statistics.fmean(cv_times) if cv_times else float("nan")
    mean_st = statistics.fmean(st_times) if st_times else float("nan")
    # the whole pipeline at the measured per-fit costs: 150 CV fits, 1 full fit, 200 stability
    per_phenotype = N_FOLDS * N_LAMBDA * mean_cv + full_time + N_BOOTSTRAP * mean_st
    out.update(
        seconds=total,
        fits=n_fits,
        fits_per_s=n_fits / total,
        cv_fits=len(cv_times),
        cv_folds_completed=folds_done,
        cv_seconds=sum(cv_times),
        cv_sweeps=cv_sweeps,
        cv_max_abs_err_diff_vs_kernel=max_err_diff,
        full_fit_seconds=full_time,
        full_fit_sweeps=full_sweeps,
        stability_fits=len(st_times),
        stability_seconds=sum(st_times),
        stability_sweeps=st_sweeps,
        extrapolated_seconds_per_phenotype=per_phenotype,
        extrapolated_fits_per_s=FITS_PER_PHENOTYPE / per_phenotype,
    )
    return out
