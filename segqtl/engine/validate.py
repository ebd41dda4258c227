"""Worker side of validate mode: one work unit (payload in, result frames out).

docs/methods.md#validate-pipeline.  Each main phenotype of the unit is prepared in both cohorts
exactly as finemap prepares it (docs/methods.md#finemap-preparation: segment mask, good samples,
unpenalised design), then handed to the validate kernel.  Unlike SegmentQTL, a phenotype that
raises is reported with status ``failed`` and its message, and the run goes on
(docs/methods.md#differences).
"""

from __future__ import annotations

import numpy as np
import polars as pl

from ..kernels import finemap as fm
from ..kernels import validate_pipeline as vk
from .finemap import prepare_phenotype
from .units import UnitCohort, UnitPayload

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


def compute_unit(payload: UnitPayload) -> tuple[dict[str, pl.DataFrame], dict]:
    """validate results of one unit's main phenotypes.

    Parameters
    ----------
    payload : UnitPayload
        :func:`segqtl.warehouse.validate_reads.validate_payload`: both cohorts' slices (the
        validation cohort's phenotypes with ``main_phenotype_idx``), ``params`` (finemap's),
        ``options`` and ``finemap_rows`` (None: refit).

    Returns
    -------
    (frames, counts)
        ``frames`` maps validate_stats / validate_residuals_stats / validate_model_stats to their
        rows;
        ``counts`` maps status name -> number of phenotypes.
    """
    params = payload.params
    opts = payload.options
    main = UnitCohort(payload.main)
    val = UnitCohort(payload.val)
    for cohort in (main, val):  # read before the per-phenotype try: a bad file fails the unit
        cohort.differences()
    main_of_val = payload.val.phenotypes["main_phenotype_idx"].to_list()
    val_pos = {int(m): j for j, m in enumerate(main_of_val)}
    source = payload.finemap_rows
    fm_rows = _finemap_rows(source)
    no_rows = vk.FinemapRows([], *(np.empty(0),) * 5)
    cov_names = payload.main.covariate_names

    stats: list[dict] = []
    residuals: list[pl.DataFrame] = []
    models: list[pl.DataFrame] = []
    counts = dict.fromkeys(STATUS_NAMES.values(), 0)
    for i, ph_idx in enumerate(main.idx.tolist()):
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
                # an unsupported phenotype is left out of the files whatever else would have
                # made it an empty row (docs/methods.md#differences)
                status = UNSUPPORTED
            elif j is None:
                status = NOT_IN_VALIDATION_COHORT
            else:
                prep_m, ids_m, _ = prepare_phenotype(main, i)
                if not isinstance(prep_m, fm.Prepared):
                    status = int(prep_m)
                else:
                    prep_v, ids_v, raw_v = prepare_phenotype(val, j)
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
                        status = _status(res)
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


#: The kernel's reasons for not scoring a phenotype, as status codes (both preparations
#: succeeded, so vk.NOT_PREPARED cannot occur here).
_REASON_STATUS = {
    vk.NO_VARIANT_PASSES_COVERAGE: fm.NO_VARIANT_PASSES_COVERAGE,
    vk.NO_FINEMAP_RESULT: NO_FINEMAP_RESULT,
    vk.NO_SHARED_VARIANT: NO_SHARED_VARIANT,
    vk.UNSUPPORTED: UNSUPPORTED,
}


def _status(res: vk.ValidateResult) -> int:
    """The status code of a kernel result: SCORED, or the reason the kernel reports."""
    return SCORED if res.status == vk.SCORED else _REASON_STATUS[res.reason]


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
