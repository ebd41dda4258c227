"""Worker side of validate mode: one work unit (frames in, result frames out).

SPEC_FINEMAP_VALIDATE §11–§13.  Each main phenotype of the unit is prepared in both cohorts
exactly as finemap prepares it (§1–§2: segment mask, good samples, unpenalised design), then
handed to :func:`segqtl.kernels.validate.validate_phenotype`.  Unlike SegmentQTL (§11 step 16)
a phenotype that raises is reported with status ``failed`` and its message, and the run goes on
(segqtl §0 policy).
"""

from __future__ import annotations

import numpy as np
import polars as pl

from ..kernels import finemap as fm
from ..kernels import validate as vk
from .finemap import UnitCohort, params_from_dict

#: validate_stats.status codes (result_status; 9-12 are validate's own).
SCORED = 0
NOT_IN_VALIDATION_COHORT = 9
NO_SHARED_VARIANT = 10
NO_FINEMAP_RESULT = 11
UNSUPPORTED = 12

STATUS_NAMES = {
    SCORED: "tested",  # counted as tested in the run records
    NOT_IN_VALIDATION_COHORT: "not_in_validation_cohort",
    NO_SHARED_VARIANT: "no_shared_variant",
    NO_FINEMAP_RESULT: "no_finemap_result",
    UNSUPPORTED: "unsupported",
    fm.TOO_FEW_SAMPLES: "too_few_samples",
    fm.NO_CIS_VARIANT: "no_cis_variant",
    fm.NO_VARIANT_PASSES_COVERAGE: "no_variant_passes_coverage",
    fm.FAILED: "failed",
}

_COUNTS = ("n_samples_main", "n_samples_val", "n_variants_main_kept", "n_variants_shared")
_METRICS = tuple(c for c in vk.ROW_COLUMNS if c not in _COUNTS)
_FLOAT_BEFORE_MODE = _METRICS[: _METRICS.index("validation_mode")]
_FLOAT_AFTER_MODE = _METRICS[_METRICS.index("validation_mode") + 1 :]

STATS_SCHEMA = {
    "phenotype_idx": pl.Int32,
    "status": pl.Int8,
    "message": pl.Utf8,
    **dict.fromkeys(_COUNTS, pl.Int32),
    **dict.fromkeys(_FLOAT_BEFORE_MODE, pl.Float64),
    "validation_mode": pl.Utf8,
    **dict.fromkeys(_FLOAT_AFTER_MODE, pl.Float64),
}
RESIDUALS_SCHEMA = {
    "phenotype_idx": pl.Int32,
    "sample_idx": pl.Int32,
    **dict.fromkeys(("y", "y_hat", "y_hat_base", "residual", "residual_base"), pl.Float64),
    "n_obs_used": pl.Int32,
}
MODEL_SCHEMA = {
    "phenotype_idx": pl.Int32,
    "row_idx": pl.Int32,
    "block": pl.Utf8,
    "name": pl.Utf8,
    "value_main": pl.Float64,
    "value_val": pl.Float64,
    "shared_with_val": pl.Boolean,
}


def options_from_dict(options: dict) -> vk.ValidateOptions:
    return vk.ValidateOptions(
        **{k: options[k] for k in vk.ValidateOptions.__dataclass_fields__ if k in options}
    )


def _finemap_rows(frame: pl.DataFrame | None) -> dict[int, vk.FinemapRows]:
    if frame is None:
        return {}
    out = {}
    for (ph_idx,), part in frame.group_by("phenotype_idx", maintain_order=True):
        out[int(ph_idx)] = vk.FinemapRows(
            variant=part["variant"].to_list(),
            **{
                c: part[c].cast(pl.Float64).fill_null(np.nan).to_numpy()
                for c in ("mean_d", "sd_d", "stability_score", "lambda_selected", "beta_full")
            },
        )
    return out


def compute_unit(payload: dict) -> tuple[dict[str, pl.DataFrame], dict]:
    """validate results of one unit's main phenotypes.

    Parameters
    ----------
    payload : dict
        :func:`segqtl.warehouse.validate_reads.validate_payload`.

    Returns
    -------
    (frames, counts)
        ``frames`` maps validate_stats / validate_residuals_stats / validate_model_stats to their
        rows;
        ``counts`` maps status name -> number of phenotypes.
    """
    params = params_from_dict(payload["params"])
    opts = options_from_dict(payload["options"])
    phen = payload["phenotypes"]
    main = UnitCohort(payload, "", phen)
    val_phen = payload["val_phenotypes"]
    val = UnitCohort(payload, "val_", val_phen)
    val_pos = {int(m): j for j, m in enumerate(val_phen["main_phenotype_idx"].to_list())}
    source = payload["finemap"]
    fm_rows = _finemap_rows(source)
    no_rows = vk.FinemapRows([], *(np.empty(0),) * 5)
    cov_names = list(payload.get("cov_names") or [])

    stats: list[dict] = []
    residuals: list[pl.DataFrame] = []
    models: list[pl.DataFrame] = []
    counts = dict.fromkeys(STATUS_NAMES.values(), 0)
    for i, ph_idx in enumerate(phen["phenotype_idx"].to_list()):
        message = None
        res = None
        status = SCORED
        try:
            j = val_pos.get(int(ph_idx))
            rows = None if source is None else fm_rows.get(int(ph_idx), no_rows)
            if (
                opts.restrict_to_supported_phenotypes
                and rows is not None
                and not rows.supported(opts.support_definition, opts.support_min_stability)
            ):
                # §0 fixes §16.14: an unsupported phenotype is left out of the files whatever
                # else would have made it an empty row
                status = UNSUPPORTED
            elif j is None:
                status = NOT_IN_VALIDATION_COHORT
            else:
                prep_m, ids_m, _ = main.prepare(i)
                if not isinstance(prep_m, fm.Prepared):
                    status = int(prep_m)
                else:
                    prep_v, ids_v, raw_v = val.prepare(j)
                    if not isinstance(prep_v, fm.Prepared):
                        status = int(prep_v)
                    else:
                        names = (["CN"] if main.cn_present[i] else []) + (
                            ["phenotype_cov"] if main.pcov_present[i] else []
                        )
                        names += cov_names
                        res = vk.validate_phenotype(
                            prep_m, ids_m, prep_v, ids_v, int(ph_idx), params, opts,
                            finemap_rows=rows, val_raw_blocks=raw_v, block_names=names,
                        )  # fmt: skip
                        status = _status(res, prep_m, params, rows)
        except Exception as exc:  # one bad phenotype is reported, never aborts the run
            res = None
            status = fm.FAILED
            message = f"{type(exc).__name__}: {exc}"
        counts[STATUS_NAMES[status]] += 1
        stats.append(_stats_row(ph_idx, status, message, res, opts.validation_mode))
        if status != SCORED:
            continue
        m = res.y.shape[0]
        residuals.append(
            pl.DataFrame(
                {
                    "phenotype_idx": np.full(m, ph_idx),
                    "sample_idx": res.val_good,
                    "y": res.y,
                    "y_hat": res.y_hat,
                    "y_hat_base": res.y_hat_base,
                    "residual": res.residual,
                    "residual_base": res.residual_base,
                    "n_obs_used": res.n_obs_used,
                },
                schema=RESIDUALS_SCHEMA,
            )
        )
        if opts.save_model_audit and res.audit:
            a = res.audit
            models.append(
                pl.DataFrame(
                    {
                        "phenotype_idx": [ph_idx] * len(a),
                        "row_idx": list(range(len(a))),
                        "block": [r[0] for r in a],
                        "name": [r[1] for r in a],
                        "value_main": [r[2] for r in a],
                        "value_val": [r[3] for r in a],
                        "shared_with_val": [bool(r[4]) for r in a],
                    },
                    schema=MODEL_SCHEMA,
                )
            )
    frames = {
        "validate_stats": pl.DataFrame(stats, schema=STATS_SCHEMA)
        if stats
        else pl.DataFrame(schema=STATS_SCHEMA),
        "validate_residuals_stats": pl.concat(residuals)
        if residuals
        else pl.DataFrame(schema=RESIDUALS_SCHEMA),
        "validate_model_stats": pl.concat(models) if models else pl.DataFrame(schema=MODEL_SCHEMA),
    }
    for name in frames:
        frames[name] = frames[name].with_columns(pl.selectors.float().fill_nan(None))
    return frames, counts


def _status(res: vk.ValidateResult, prep_m, params, rows) -> int:
    """The status code of a kernel result, telling apart the reasons of an EMPTY row (§11)."""
    if res.status == vk.SCORED:
        return SCORED
    if res.status == vk.SKIPPED:
        return UNSUPPORTED
    # EMPTY after both preparations succeeded: step 3 (coverage), step 4 (no CSV/run rows)
    # or step 7 (no shared variant), checked in the kernel's order
    n = prep_m.n
    required = max(fm.MIN_SAMPLES, int(params.coverage_tau * n))
    keep = fm.standardise(prep_m.d, np.arange(n), required)[3]
    if not np.any(keep):
        return fm.NO_VARIANT_PASSES_COVERAGE
    if rows is not None and (
        len(rows.variant) == 0 or all(vk._is_missing_id(v) for v in rows.variant)
    ):
        return NO_FINEMAP_RESULT
    return NO_SHARED_VARIANT


def _stats_row(ph_idx, status, message, res: vk.ValidateResult | None, mode: str) -> dict:
    if res is None or status != SCORED:
        row = dict.fromkeys(STATS_SCHEMA)
        row.update(dict.fromkeys(_COUNTS, 0))
        row["validation_mode"] = mode
    else:
        row = res.row()
        for c in _METRICS:
            if c != "validation_mode":
                row[c] = float(row[c])
    row.update(phenotype_idx=ph_idx, status=status, message=message)
    return row


__all__ = ["compute_unit", "STATS_SCHEMA", "RESIDUALS_SCHEMA", "MODEL_SCHEMA", "STATUS_NAMES"]
