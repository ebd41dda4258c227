"""validate mode: transfer of finemap's models to an independent cohort
(docs/methods.md#validate-pipeline, docs/methods.md#validate-metrics)."""

from __future__ import annotations

import json
from pathlib import Path

from ..errors import UsageError
from .base import ExportFile, HitRule, normalized, planned_chromosomes
from .finemap import FinemapMode
from .parameters import Param

V = ("validate",)

PARAMS = (
    Param(
        "validation_cohort", str, None, "validate: the ingested validation cohort.",
        modes=V, nullable=True, metavar="NAME", dropin=False,
    ),
    Param(
        "validation_mode", str, "recalibrated",
        "validate: recalibrated (re-fit the covariates on the validation cohort) or frozen "
        "(the main cohort's covariate model).",
        modes=V, choices=("recalibrated", "frozen"), fix="select recalibrated or frozen",
    ),
    Param(
        "finemap_run", int, None,
        "validate: take the models from this completed finemap run of --cohort (recommended).",
        modes=V, nullable=True, metavar="RUN_ID", low=1, dropin=False,
        fix="give the id of a completed finemap run (see 'segqtl runs')",
    ),
    Param(
        "finemap_results_dir", str, None,
        "validate: take the models from DIR/finemap_<C>.csv (SegmentQTL's files); without it "
        "(or --finemap-run) they are re-fitted.",
        modes=V, nullable=True, metavar="DIR",
    ),
    Param(
        "validate_with_bootstrap", bool, False,
        "validate: zero the betas of variants with stability_score below "
        "--validation-stability-threshold.",
        modes=V,
    ),
    Param(
        "validation_stability_threshold", float, 0.6,
        "validate: stability a variant needs to keep its beta.",
        modes=V, low=0, high=1, fix="give a stability score such as 0.6",
    ),
    Param(
        "restrict_to_supported_phenotypes", bool, False,
        "validate: skip phenotypes without support in the finemap results (needs them).",
        modes=V,
    ),
    Param(
        "support_definition", str, "stability",
        "validate: support = some stability_score >= --support-min-stability (stability) or "
        "some nonzero beta_full (selected).",
        modes=V, choices=("stability", "selected"), fix="select stability or selected",
    ),
    Param(
        "support_min_stability", float, 0.6,
        "validate: stability score that counts as support.",
        modes=V, low=0, high=1, fix="give a stability score such as 0.6",
    ),
    Param(
        "bootstrap_ci", bool, False, "validate: bootstrap CIs of R2 and the calibration slope.",
        modes=V,
    ),
    Param(
        "n_boot_ci", int, 1000, "validate: bootstrap resamples for the CIs.",
        modes=V, low=1, high=10_000_000, fix="give the number of resamples, such as 1000",
    ),
    Param(
        "n_permutations", int, 0,
        "validate: permutations for p-values of R2 and rho (0 = none).",
        modes=V, low=0, high=10_000_000, fix="give 0 (no permutation p-values) or more",
    ),
    Param(
        "save_model_audit", bool, False,
        "validate: also write validate_model_<C>.csv (the fitted models).",
        modes=V,
    ),
)  # fmt: skip

#: Refused (not ignored) when given to another mode.
STRICT = ("validation_cohort", "finemap_run", "finemap_results_dir")

#: The drop-in's validation-cohort inputs that must be given.
REQUIRED_VAL_INPUTS = ("genotypes", "quantifications", "segmentation")


def finemap_csv_checksums(spec) -> dict[str, str]:
    """sha256 of each ``finemap_<chr>.csv`` a validate run reads (``input:finemap_csv:<chr>``)."""
    if spec.finemap_results_dir is None:
        return {}
    from ..ingest.readers import sha256_file

    folder = Path(spec.finemap_results_dir)
    return {
        f"input:finemap_csv:{c}": sha256_file(folder / f"finemap_{c}.csv") for c in spec.chromosomes
    }


class ValidateMode(FinemapMode):
    def check(self, spec, flag) -> None:
        super().check(spec, flag)  # finemap's: validate re-fits finemap's models

        def bad(name: str, rule: str, fix: str) -> UsageError:
            return UsageError(f"{flag(name)} {rule} (got {getattr(spec, name)!r}). Fix: {fix}")

        if spec.validation_cohort is None:
            raise UsageError(
                f"--mode validate needs a validation cohort. Fix: give "
                f"{flag('validation_cohort')} NAME (an ingested cohort), or the drop-in's "
                "--val_genotypes, --val_quantifications and --val_segmentation"
            )
        pcs = [p for p in ("phenotype_pcs", "genotype_pcs") if getattr(spec, p, 0)]
        if pcs and spec.validation_mode == "frozen":
            # the PCs are covariates of the discovery cohort only: a frozen model's covariate
            # coefficients have nothing to apply to in the validation cohort
            raise UsageError(
                f"{flag(pcs[0])} adds covariates to the discovery cohort only, and frozen "
                "validation applies the discovery model's covariate coefficients to the "
                "validation cohort's covariates. Fix: use "
                f"{flag('validation_mode')} recalibrated, or drop {flag(pcs[0])}"
            )
        if spec.finemap_run is not None and spec.finemap_results_dir is not None:
            raise UsageError(
                f"{flag('finemap_run')} and {flag('finemap_results_dir')} both give the finemap "
                "models. Fix: give only one of them"
            )
        if spec.restrict_to_supported_phenotypes and (
            spec.finemap_run is None and spec.finemap_results_dir is None
        ):
            from . import offered

            sources = [f"{flag('finemap_results_dir')} DIR"]
            if offered("finemap_run"):  # the drop-in has no runs to take models from
                sources.insert(0, f"{flag('finemap_run')} RUN_ID")
            raise UsageError(
                f"{flag('restrict_to_supported_phenotypes')} needs finemap results (the support "
                f"test reads their stability scores or betas). Fix: add {' or '.join(sources)}"
            )
        if spec.finemap_results_dir is not None:
            # stored absolute, so that a resume from another folder reads the same files
            folder = Path(spec.finemap_results_dir).resolve()
            spec.finemap_results_dir = str(folder)
            if not folder.is_dir():
                raise bad(
                    "finemap_results_dir",
                    "is not a folder",
                    "give the output folder of a finemap run (it holds finemap_<C>.csv)",
                )
            missing = [
                f"finemap_{c}.csv"
                for c in spec.chromosomes
                if not (folder / f"finemap_{c}.csv").is_file()
            ]
            if missing:
                raise bad(
                    "finemap_results_dir",
                    f"has no {', '.join(missing)}",
                    "run finemap on these chromosomes into that folder first (without "
                    f"{flag('phenotype_id')})",
                )

    def check_dropin_inputs(self, inputs, val_inputs, flag) -> None:
        missing = [f"--val_{k}" for k in REQUIRED_VAL_INPUTS if val_inputs.get(k) is None]
        if missing:
            raise UsageError(
                f"--mode validate requires {', '.join(missing)}. Fix: give the validation "
                "cohort's files with --val_genotypes, --val_quantifications and "
                "--val_segmentation"
            )

    def check_warehouse(self, con, spec, cohort: dict) -> None:
        """The validation cohort exists; the finemap run is a completed, matching one."""
        from ..warehouse.db import fetch_one
        from ..warehouse.runs import finish_fix, load_spec
        from . import flag_name as flag

        if (
            spec.validation_cohort is None
            or not fetch_one(
                con, "SELECT count(*) FROM cohorts WHERE cohort = ?", [spec.validation_cohort]
            )[0]
        ):
            raise UsageError(
                f"validation cohort {spec.validation_cohort!r} is not in the warehouse. Fix: "
                "ingest its files first with 'segqtl ingest --cohort NAME ...'"
            )
        if spec.finemap_run is None:
            return
        row = fetch_one(
            con,
            "SELECT mode, cohort, status, chromosomes FROM runs WHERE run_id = ?",
            [spec.finemap_run],
        )
        fix = (
            f"Fix: give a completed finemap run of cohort {spec.cohort!r} (see 'segqtl runs'), "
            f"or {flag('finemap_results_dir')}"
        )
        run = f"{flag('finemap_run')} {spec.finemap_run}"
        if row is None:
            raise UsageError(f"{run} does not exist. {fix}")
        mode, cohort_name, status, chromosomes = row
        if mode != "finemap":
            raise UsageError(f"{run} is a {mode} run, not finemap. {fix}")
        if cohort_name != spec.cohort:
            raise UsageError(f"{run} analysed cohort {cohort_name!r}, not {spec.cohort!r}. {fix}")
        if status != "completed":
            raise UsageError(
                f"{run} is {status}, not completed. {finish_fix(spec.finemap_run, status)}"
            )
        missing = [c for c in spec.chromosomes if c not in chromosomes.split(",")]
        if missing:
            raise UsageError(f"{run} does not cover {', '.join(missing)}. {fix}")
        # The finemap results must describe the same kept variants
        # (docs/methods.md#validate-pipeline).
        fm = load_spec(con, spec.finemap_run)
        for field in ("window", "coverage_tau"):
            if getattr(fm, field) != getattr(spec, field):
                raise UsageError(
                    f"{run} used {flag(field)} {getattr(fm, field)}, this run {flag(field)} "
                    f"{getattr(spec, field)}. Fix: use the finemap run's {flag(field)}"
                )
        if fm.phenotype_id is not None and fm.phenotype_id != spec.phenotype_id:
            raise UsageError(
                f"{run} fine-mapped phenotype {fm.phenotype_id!r} only. Fix: validate with "
                f"{flag('phenotype_id')} {fm.phenotype_id}, or give a finemap run of every "
                "phenotype"
            )

    def run_columns(self, spec) -> dict[str, object]:
        return {"validation_cohort": spec.validation_cohort}

    def genotype_cohorts(self, spec) -> tuple[str, ...]:
        return (spec.cohort, spec.validation_cohort)

    def provenance(self, con, spec) -> list[tuple[str, str]]:
        """The validation cohort's input checksums and the finemap CSVs' (if any)."""
        files = con.execute(
            "SELECT role, sha256 FROM cohort_files WHERE cohort = ? ORDER BY role",
            [spec.validation_cohort],
        ).fetchall()
        rows = [(f"input:val:{role}", json.dumps(sha)) for role, sha in files]
        return rows + [(k, json.dumps(v)) for k, v in finemap_csv_checksums(spec).items()]

    def before_execute(self, con, run_id: int, spec) -> None:
        """Refuse to go on when the finemap CSVs changed since the run started."""
        stored = dict(
            con.execute(
                "SELECT key, value FROM run_parameters WHERE run_id = ? "
                "AND key LIKE 'input:finemap_csv:%'",
                [run_id],
            ).fetchall()
        )
        try:
            now = finemap_csv_checksums(spec)
        except FileNotFoundError as exc:
            raise UsageError(
                f"run {run_id} reads {exc.filename}, which is gone. Fix: put the finemap CSVs "
                f"back in {spec.finemap_results_dir}"
            ) from None
        changed = sorted(k.split(":")[-1] for k, v in now.items() if json.dumps(v) != stored.get(k))
        if changed:
            raise UsageError(
                f"run {run_id}: finemap_{changed[0]}.csv in {spec.finemap_results_dir} changed "
                "since the run started. Fix: restore it, or start a new run"
            )

    def payloads(self, con, spec, units, info, exports, scratch):
        """Both cohorts' genotypes go to scratch files (``exports`` keys: (role, chromosome))."""
        from ..warehouse import reads
        from ..warehouse.validate_reads import validate_payload

        val_info = reads.cohort_info(con, spec.validation_cohort)
        main_cov = reads.covariates_frame(con, spec.cohort)
        val_cov = reads.covariates_frame(con, spec.validation_cohort)
        for unit in units:
            if ("main", unit.chr) not in exports:
                exports[("main", unit.chr)] = reads.GenotypeExport(
                    con, info, unit.chr, scratch / "main", cache=reads.genotype_cache()
                )
                # a validation cohort without genotypes on this chromosome scores nothing
                # there (every window is empty), which is not an error
                has_val = reads.has_genotypes(con, val_info, unit.chr)
                exports[("val", unit.chr)] = (
                    reads.GenotypeExport(
                        con, val_info, unit.chr, scratch / "val", cache=reads.genotype_cache()
                    )
                    if has_val
                    else None
                )
            main, val = exports[("main", unit.chr)], exports[("val", unit.chr)]
            payload = validate_payload(
                con, spec, unit, info, val_info, main_cov, val_cov, main.files,
                None if val is None else val.files,
            )  # fmt: skip
            for export, part in ((main, payload.main), (val, payload.val)):
                if export is not None and part is not None:
                    rows = part.rows
                    export.ensure(int(rows[-1]) if rows.size else 0)
            yield normalized(payload, spec)

    def filenames(self, spec, chrom: str) -> dict[str, str]:
        """SegmentQTL's validate file names for a chromosome, keyed by the SQL that fills them
        (the audit file only with ``save_model_audit``; docs/methods.md#validate-outputs)."""
        suffix = f"_{spec.phenotype_id}" if spec.phenotype_id is not None else ""
        names = {
            "export_validate": f"validate_{chrom}{suffix}.csv",
            "export_validate_residuals": f"validate_residuals_{chrom}{suffix}.csv",
        }
        if spec.save_model_audit:
            names["export_validate_model"] = f"validate_model_{chrom}{suffix}.csv"
        return names

    def export_files(self, con, run_id: int, spec) -> list[ExportFile]:
        """Every file with its full header, even without rows (SegmentQTL's header depends on
        its first row; docs/methods.md#differences)."""
        from ..warehouse.db import load_sql

        return [
            ExportFile(load_sql(name), filename, chrom)
            for chrom in planned_chromosomes(con, run_id, spec)
            for name, filename in self.filenames(spec, chrom).items()
        ]

    def by_variant(self, all_variants) -> bool:
        return False

    def hit_rule(self, side, fdr: float) -> HitRule:
        return HitRule("at_most", fdr, "pearson_pval <= fdr")


MODE = ValidateMode(
    name="validate",
    help="transfer of finemap's models to an independent validation cohort",
    params=PARAMS,
    unit_size=5,
    worker="segqtl.engine.validate:compute_unit",
    preload=("segqtl.engine.finemap_warm", "segqtl.engine.validate"),
    result_table="validate_stats",
    tables=("validate_stats", "validate_residuals_stats", "validate_model_stats"),
    migrations=("004_validate.sql",),
    views=("validate_results", "validate_residuals", "validate_model"),
    tested_as="phenotypes scored",
    effect_column="pearson_r",
    p_column="pearson_pval",
    compare_source="compare_validate",
    has_variant=False,
)
