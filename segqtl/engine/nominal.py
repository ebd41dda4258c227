"""Worker side of nominal mode: one work unit (frames in, result frame out)."""

from __future__ import annotations

import numpy as np
import polars as pl

from ..kernels.nominal import OK, SKIP_REASONS, DosageBlock, NominalStats, nominal_scan_block

RESULT_COLUMNS = [
    "phenotype_idx",
    "variant_idx",
    "phenotype",
    "variant",
    "number_of_samples",
    "beta_s",
    "se_s",
    "beta_d",
    "se_d",
    "t_stat_d",
    "nominal_p",
    "r2_alt",
    "aic_null",
    "aic_alt",
    "delta_aic_alt_minus_null",
    "p_adj",
    "status",
]


def list_matrix(series: pl.Series, width: int) -> np.ndarray:
    """A list or array column of ``width`` floats per row as a ``(rows, width)`` array.

    Nulls (missing values) become NaN.
    """
    if series.len() == 0:
        return np.empty((0, width))
    if series.dtype == pl.Null or series.null_count() == series.len():
        return np.full((series.len(), width), np.nan)
    if not isinstance(series.dtype, pl.Array):
        series = series.list.to_array(width)
    return np.asarray(series.cast(pl.Array(pl.Float64, width)).to_numpy(), dtype=np.float64)


def neg_control_subset(n_total: int, max_variants: int, phenotype_idx: int) -> np.ndarray:
    """Rows of the trans chromosome tested for one phenotype (SPEC §3, reference's RNG rule)."""
    if n_total <= max_variants:
        return np.arange(n_total)
    rng = np.random.default_rng(42 + phenotype_idx)
    return np.sort(rng.choice(n_total, max_variants, replace=False))


def compute_unit(payload: dict) -> tuple[pl.DataFrame, dict]:
    """Nominal statistics of one unit.

    Parameters
    ----------
    payload : dict
        ``n_samples``; ``phenotypes`` (phenotype_idx, gene_id, values, pcov); ``covariates``
        (values); ``variants`` (variant_idx, variant_id, pos, altlr, reflr, sorted by
        variant_idx); ``pairs`` (phenotype_idx, variant_idx) and ``bounds`` (phenotype_idx,
        sample_idx, lb, ub), both None for negative controls; ``params``.

    Returns
    -------
    (results, counts)
        ``results`` has :data:`RESULT_COLUMNS`; ``counts`` maps status name -> number of pairs.
    """
    n = payload["n_samples"]
    params = payload["params"]
    phen = payload["phenotypes"]
    variants = payload["variants"]
    y_all = list_matrix(phen["values"], n)
    has_pcov = phen["pcov"].null_count() < phen.height
    pcov_all = list_matrix(phen["pcov"], n) if has_pcov else None
    cov = list_matrix(payload["covariates"]["values"], n).T  # (n, c)
    block = DosageBlock.from_dosages(
        list_matrix(variants["altlr"], n), list_matrix(variants["reflr"], n)
    )
    vidx = variants["variant_idx"].to_numpy()
    vpos = variants["pos"].to_numpy()
    vid = variants["variant_id"].to_numpy()
    neg = payload["pairs"] is None
    if not neg:
        pairs = payload["pairs"]
        p_ph = pairs["phenotype_idx"].to_numpy()
        p_row = np.searchsorted(vidx, pairs["variant_idx"].to_numpy())
        b = payload["bounds"]
        b_ph = b["phenotype_idx"].to_numpy()
        b_s = b["sample_idx"].to_numpy()
        b_lb = b["lb"].to_numpy().astype(np.float64)
        b_ub = b["ub"].to_numpy().astype(np.float64)

    counts = {name: 0 for name in SKIP_REASONS.values()}
    parts: list[dict] = []
    for i, (ph_idx, gene) in enumerate(zip(phen["phenotype_idx"], phen["gene_id"], strict=True)):
        covs = cov if pcov_all is None else np.column_stack([pcov_all[i], cov])
        if neg:
            rows = neg_control_subset(len(vidx), params["neg_control_max_variants"], ph_idx)
            stats = nominal_scan_block(
                y_all[i],
                block,
                rows,
                covs,
                min_samples=params["min_samples"],
                record_aic=params["record_aic"],
            )
        else:
            rows = p_row[p_ph == ph_idx]
            sel = b_ph == ph_idx
            lb = np.full(n, np.nan)
            ub = np.full(n, np.nan)
            lb[b_s[sel]] = b_lb[sel]
            ub[b_s[sel]] = b_ub[sel]
            stats = nominal_scan_block(
                y_all[i],
                block,
                rows,
                covs,
                vpos[rows],
                lb,
                ub,
                min_samples=params["min_samples"],
                record_aic=params["record_aic"],
            )
        codes, freq = np.unique(stats.status, return_counts=True)
        for c, f in zip(codes, freq, strict=True):
            counts[SKIP_REASONS[int(c)]] += int(f)
        if params["all_variants"]:
            keep = np.arange(len(rows))
        else:
            best = stats.best()
            keep = np.array([best]) if best >= 0 else np.array([], dtype=np.int64)
        if keep.size == 0 and not params["all_variants"]:
            parts.append(_empty_row(ph_idx, gene))
            continue
        parts.append(_rows(ph_idx, gene, stats, keep, vidx[rows], vid[rows]))
    if not parts:
        return pl.DataFrame(schema=_SCHEMA), counts
    floats = RESULT_COLUMNS[5:16]
    return pl.concat(parts).with_columns(pl.col(floats).fill_nan(None)), counts


def _rows(ph_idx, gene, stats: NominalStats, keep, vidx, vid) -> dict:
    k = keep.size
    out = {
        "phenotype_idx": np.full(k, ph_idx, dtype=np.int32),
        "variant_idx": vidx[keep].astype(np.int32),
        "phenotype": [gene] * k,
        "variant": vid[keep].tolist(),
        "number_of_samples": stats.number_of_samples[keep].astype(np.int32),
        "p_adj": np.full(k, np.nan),
        "status": _STATUS_NAMES[stats.status[keep]].tolist(),
    }
    for f in (
        "beta_s",
        "se_s",
        "beta_d",
        "se_d",
        "t_stat_d",
        "nominal_p",
        "r2_alt",
        "aic_null",
        "aic_alt",
    ):
        out[f] = getattr(stats, f)[keep]
    out["delta_aic_alt_minus_null"] = out["aic_alt"] - out["aic_null"]
    return pl.DataFrame({c: out[c] for c in RESULT_COLUMNS}, schema=_SCHEMA)


def _empty_row(ph_idx, gene) -> pl.DataFrame:
    out = {c: [None] for c in RESULT_COLUMNS}
    out.update(
        phenotype_idx=[ph_idx],
        phenotype=[gene],
        number_of_samples=[0],
        status=["no_testable_variant"],
    )
    return pl.DataFrame(out, schema=_SCHEMA)


_STATUS_NAMES = np.array([SKIP_REASONS[i] for i in range(len(SKIP_REASONS))], dtype=object)

_SCHEMA = {
    "phenotype_idx": pl.Int32,
    "variant_idx": pl.Int32,
    "phenotype": pl.String,
    "variant": pl.String,
    "number_of_samples": pl.Int32,
    **{c: pl.Float64 for c in RESULT_COLUMNS[5:16]},
    "status": pl.String,
}


__all__ = ["compute_unit", "RESULT_COLUMNS", "OK"]
