"""Worker side of finemap mode: one work unit (payload in, result frames out)."""

from __future__ import annotations

import numpy as np
import polars as pl

from ..kernels import finemap as fm
from ..kernels.segments import segment_mask
from .units import UnitCohort, UnitPayload

STATUS_NAMES = {
    fm.OK: "tested",
    fm.TOO_FEW_SAMPLES: "too_few_samples",
    fm.NO_CIS_VARIANT: "no_cis_variant",
    fm.NO_VARIANT_PASSES_COVERAGE: "no_variant_passes_coverage",
    fm.FAILED: "failed",
}

STATS_SCHEMA = {
    "phenotype_idx": pl.Int32,
    "variant_idx": pl.Int32,
    "n_samples": pl.Int32,
    "n_variants": pl.Int32,
    "n_obs": pl.Int32,
    **{
        c: pl.Float64
        for c in (
            "median_n_obs",
            "mean_d",
            "sd_d",
            "frac_alt_gain",
            "frac_ref_gain",
            "frac_balanced",
            "stability_score",
            "mean_beta",
            "sign_consistency",
            "lambda_selected",
            "beta_full",
            "beta_full_raw",
            "beta_cnlr",
        )
    },
    "effect_interpretation": pl.Utf8,
    "status": pl.Int8,
    "message": pl.Utf8,
}
BOOT_SCHEMA = {
    "phenotype_idx": pl.Int32,
    "variant_idx": pl.Int32,
    "bootstrap_iteration": pl.Int32,
    "beta_full": pl.Float64,
}
R2_SCHEMA = {
    "phenotype_idx": pl.Int32,
    "n_samples": pl.Int32,
    **{
        c: pl.Float64
        for c in (
            "r2_baseline",
            "r2_baseline_adj",
            "r2_full",
            "r2_full_adj",
            "delta_r2",
            "delta_r2_adj",
        )
    },
    "r2_n_variants": pl.Int32,
    "r2_variants": pl.Utf8,
}
_PER_VARIANT = (
    "n_obs",
    "mean_d",
    "sd_d",
    "frac_alt_gain",
    "frac_ref_gain",
    "frac_balanced",
    "stability_score",
    "mean_beta",
    "sign_consistency",
    "beta_full",
    "beta_full_raw",
)


def prepare_phenotype(
    cohort: UnitCohort, i: int
) -> tuple[fm.Prepared | int, list[str], np.ndarray | None]:
    """Phenotype i of a decoded cohort prepared as finemap and validate fit it
    (docs/methods.md#finemap-preparation).

    Returns
    -------
    prep : Prepared or int
        The model inputs of the good samples, or a status code.
    ids : list of str
        The window variants' IDs (w), in variant order.
    raw : ndarray, shape (n_good, b), or None
        The unpenalised blocks (copy number, phenotype covariate, covariates: those present)
        of the good samples, untransformed; None when ``prep`` is a status code.
    """
    win = cohort.window(i)
    d_rows, pos_rows = cohort.differences()
    lb, ub = cohort.bounds(i)
    d = np.where(segment_mask(pos_rows[win], lb, ub), d_rows[win], np.nan)
    blocks = []
    if cohort.cn_present[i]:
        blocks.append(cohort.cn[i])
    if cohort.pcov_present[i]:
        blocks.append(cohort.pcov[i])
    blocks.extend(cohort.cov)
    prep = fm.prepare(cohort.y[i], blocks, d, has_cn=bool(cohort.cn_present[i]))
    ids = [cohort.ids[j] for j in win]
    raw = None
    if isinstance(prep, fm.Prepared):
        raw = np.column_stack([b[prep.good] for b in blocks]) if blocks else np.empty((prep.n, 0))
    return prep, ids, raw


def compute_unit(payload: UnitPayload) -> tuple[dict[str, pl.DataFrame], dict]:
    """finemap results of one unit's phenotypes.

    Parameters
    ----------
    payload : UnitPayload
        ``main``: the cohort's slice, with ``variant_ids``; ``params``:
        :class:`~segqtl.kernels.finemap.FinemapParams`.

    Returns
    -------
    (frames, counts)
        ``frames`` maps finemap_stats / finemap_bootstrap_stats / finemap_r2_stats to their rows;
        ``counts`` maps status name -> (phenotype, kept variant) rows or empty phenotypes.
    """
    params = payload.params
    cohort = UnitCohort(payload.main)
    cohort.differences()  # read before the per-phenotype try: an unreadable file fails the unit
    rows = cohort.rows

    stats: list[pl.DataFrame] = []
    boots: list[pl.DataFrame] = []
    r2s: list[dict] = []
    counts = {name: 0 for name in STATUS_NAMES.values()}
    for i, ph_idx in enumerate(cohort.idx.tolist()):
        vidx = rows[cohort.window(i)]
        message = None
        ids: list[str] = []
        try:
            prep, ids, _ = prepare_phenotype(cohort, i)
            res = fm.finemap_phenotype(prep, ph_idx, params)
        except Exception as exc:  # one bad phenotype is reported, never aborts the run
            res = fm.FinemapResult(status=fm.FAILED, n_samples=0)
            message = f"{type(exc).__name__}: {exc}"
        if res.status != fm.OK:
            counts[STATUS_NAMES[res.status]] += 1
            stats.append(_empty_row(ph_idx, res, message))
            continue
        counts["tested"] += int(res.kept.size)
        stats.append(_variant_rows(ph_idx, res, vidx))
        boots.append(
            pl.DataFrame(
                {
                    "phenotype_idx": np.full(res.boot_beta.size, ph_idx),
                    "variant_idx": vidx[res.kept[res.boot_variant]],
                    "bootstrap_iteration": res.boot_iteration,
                    "beta_full": res.boot_beta,
                },
                schema=BOOT_SCHEMA,
            )
        )
        if res.r2 is not None:
            r2 = {k: v for k, v in res.r2.items() if k != "cand"}
            chosen = res.kept[res.r2["cand"]]
            r2.update(
                phenotype_idx=ph_idx,
                n_samples=res.n_samples,
                r2_variants=";".join(ids[j] for j in chosen) if chosen.size else None,
            )
            r2s.append(r2)
    frames = {
        "finemap_stats": pl.concat(stats) if stats else pl.DataFrame(schema=STATS_SCHEMA),
        "finemap_bootstrap_stats": pl.concat(boots) if boots else pl.DataFrame(schema=BOOT_SCHEMA),
        "finemap_r2_stats": pl.DataFrame(
            [{c: r[c] for c in R2_SCHEMA} for r in r2s], schema=R2_SCHEMA
        )
        if r2s
        else pl.DataFrame(schema=R2_SCHEMA),
    }
    for name in ("finemap_stats", "finemap_r2_stats"):
        frames[name] = frames[name].with_columns(pl.selectors.float().fill_nan(None))
    return frames, counts


def _variant_rows(ph_idx: int, res: fm.FinemapResult, vidx: np.ndarray) -> pl.DataFrame:
    p = res.kept.size
    cols: dict = {
        "phenotype_idx": np.full(p, ph_idx),
        "variant_idx": vidx[res.kept],
        "n_samples": np.full(p, res.n_samples),
        "n_variants": np.full(p, p),
        "median_n_obs": np.full(p, res.median_n_obs),
        "lambda_selected": np.full(p, res.lambda_selected),
        "beta_cnlr": np.full(p, res.beta_cnlr),
        "effect_interpretation": res.effect_interpretation,
        "status": np.full(p, fm.OK),
        "message": [None] * p,
    }
    for c in _PER_VARIANT:
        cols[c] = getattr(res, c)
    return pl.DataFrame({c: cols[c] for c in STATS_SCHEMA}, schema=STATS_SCHEMA)


def _empty_row(ph_idx: int, res: fm.FinemapResult, message: str | None) -> pl.DataFrame:
    row = {c: [None] for c in STATS_SCHEMA}
    row.update(
        phenotype_idx=[ph_idx],
        n_samples=[res.n_samples],
        n_variants=[0],
        n_obs=[0],
        status=[res.status],
        message=[message],
    )
    return pl.DataFrame(row, schema=STATS_SCHEMA)


__all__ = ["compute_unit"]
