"""Worker side of finemap mode: one work unit (frames in, result frames out)."""

from __future__ import annotations

import numpy as np
import polars as pl

from ..kernels import finemap as fm
from .nominal import list_matrix

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


def params_from_dict(params: dict) -> fm.FinemapParams:
    return fm.FinemapParams(**{k: params[k] for k in fm.FinemapParams.__dataclass_fields__})


class UnitCohort:
    """One cohort's unit data, decoded once: phenotypes, blocks, genotype rows, pairs, bounds."""

    def __init__(self, payload: dict, prefix: str, phen: pl.DataFrame):
        n = payload[f"{prefix}n_samples"]
        self.n = n
        self.idx = phen["phenotype_idx"].to_numpy()
        self.y = list_matrix(phen["values"], n)
        self.cn = list_matrix(phen["cn"], n) if phen["cn"].null_count() < phen.height else None
        self.pcov = (
            list_matrix(phen["pcov"], n) if phen["pcov"].null_count() < phen.height else None
        )
        self.cn_present = (~phen["cn"].is_null()).to_numpy()
        self.pcov_present = (~phen["pcov"].is_null()).to_numpy()
        self.cov = list_matrix(payload[f"{prefix}covariates"]["values"], n)
        files = payload[f"{prefix}genotypes"]
        rows = payload[f"{prefix}rows"]
        self.rows = rows
        if files is None:  # the cohort has no genotypes on this chromosome: empty windows
            self.d_rows = np.empty((0, n))
            self.pos_rows = np.empty(0, dtype=np.int64)
        else:
            alt = np.load(files.alt, mmap_mode="r")
            ref = np.load(files.ref, mmap_mode="r")
            pos = np.load(files.pos, mmap_mode="r")
            self.d_rows = np.asarray(ref[rows], dtype=np.float64) - np.asarray(
                alt[rows], dtype=np.float64
            )
            self.pos_rows = np.asarray(pos[rows])
        self.ids = payload[f"{prefix}variant_ids"]
        pairs = payload[f"{prefix}pairs"]
        self.p_ph = pairs["phenotype_idx"].to_numpy()
        self.p_row = np.searchsorted(rows, pairs["variant_idx"].to_numpy())
        b = payload[f"{prefix}bounds"]
        self.b_ph = b["phenotype_idx"].to_numpy()
        self.b_s = b["sample_idx"].to_numpy()
        self.b_lb = b["lb"].to_numpy().astype(np.float64)
        self.b_ub = b["ub"].to_numpy().astype(np.float64)

    def window(self, i: int) -> np.ndarray:
        """Positions in ``rows`` of phenotype i's window variants, in variant order."""
        return self.p_row[self.p_ph == self.idx[i]]

    def prepare(self, i: int):
        """(Prepared or status code, window variant IDs, raw blocks of the good samples)."""
        win = self.window(i)
        sel = self.b_ph == self.idx[i]
        lb = np.full(self.n, np.nan)
        ub = np.full(self.n, np.nan)
        lb[self.b_s[sel]] = self.b_lb[sel]
        ub[self.b_s[sel]] = self.b_ub[sel]
        d = np.where(fm.segment_mask(self.pos_rows[win], lb, ub), self.d_rows[win], np.nan)
        blocks = []
        if self.cn_present[i]:
            blocks.append(self.cn[i])
        if self.pcov_present[i]:
            blocks.append(self.pcov[i])
        blocks.extend(self.cov)
        prep = fm.prepare(self.y[i], blocks, d, has_cn=bool(self.cn_present[i]))
        ids = [self.ids[j] for j in win]
        raw = None
        if isinstance(prep, fm.Prepared):
            raw = (
                np.column_stack([b[prep.good] for b in blocks]) if blocks else np.empty((prep.n, 0))
            )
        return prep, ids, raw


def compute_unit(payload: dict) -> tuple[dict[str, pl.DataFrame], dict]:
    """finemap results of one unit's phenotypes.

    Parameters
    ----------
    payload : dict
        As for nominal units (``n_samples``, ``phenotypes`` with ``cn``/``pcov``,
        ``covariates``, ``genotypes``, ``rows``, ``pairs``, ``bounds``) with ``params`` holding
        the finemap hyper-parameters.

    Returns
    -------
    (frames, counts)
        ``frames`` maps finemap_stats / finemap_bootstrap_stats / finemap_r2_stats to their rows;
        ``counts`` maps status name -> (phenotype, kept variant) rows or empty phenotypes.
    """
    params = params_from_dict(payload["params"])
    phen = payload["phenotypes"]
    cohort = UnitCohort(payload, "", phen)
    rows = payload["rows"]

    stats: list[pl.DataFrame] = []
    boots: list[pl.DataFrame] = []
    r2s: list[dict] = []
    counts = {name: 0 for name in STATUS_NAMES.values()}
    for i, ph_idx in enumerate(phen["phenotype_idx"].to_list()):
        vidx = rows[cohort.window(i)]
        message = None
        ids: list[str] = []
        try:
            prep, ids, _ = cohort.prepare(i)
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
