"""finemap mode: missing-aware elastic net with stability selection per phenotype
(docs/methods.md#elastic-net, docs/methods.md#stability-selection)."""

from __future__ import annotations

from ..errors import UsageError
from .base import ExportFile, HitRule, Mode, planned_chromosomes
from .parameters import Param

FM = ("finemap", "validate")  # validate re-fits (or reads) finemap's models

PARAMS = (
    Param(
        "alpha_en", float, 0.5, "finemap: elastic-net mixing, 1 = lasso, 0 = ridge.",
        modes=FM, low=0, high=1, fix="give the mixing, 0 = ridge to 1 = lasso",
    ),
    Param(
        "coverage_tau", float, 0.6,
        "finemap: keep variants observed in >= max(30, floor(tau * n)) of n samples.",
        modes=FM, low=0, high=1,
        fix="give the fraction of samples a variant must be observed in, such as 0.6",
    ),
    Param(
        "n_bootstrap", int, 200,
        "finemap: stability-selection subsamples (drawn without replacement).",
        modes=FM, low=1, high=1_000_000, fix="give the number of subsamples, such as 200",
    ),
    Param(
        "subsample_frac", float, 0.8,
        "finemap: subsample size max(30, floor(frac * n)); in (0, 1].",
        # SegmentQTL crashes on > 1: subsamples are drawn without replacement
        # (docs/methods.md#differences).
        modes=FM, low=0, high=1, low_open=True,
        fix="give a fraction of the samples such as 0.8 (subsamples are drawn without "
        "replacement)",
    ),
    Param(
        "n_lambda", int, 30,
        "finemap: lambda grid points, log-spaced down from lambda_max (2 at least are used).",
        modes=FM, low=1, high=100_000, fix="give the number of lambda values, such as 30",
    ),
    Param(
        "lambda_ratio", float, 0.01, "finemap: smallest lambda as a fraction of lambda_max.",
        modes=FM, low=0, high=1, low_open=True,
        fix="give the smallest lambda as a fraction of the largest, such as 0.01",
    ),
    Param(
        "cv_tau", float, 0.8,
        "finemap: largest lambda with 5-fold CV error <= min + cv_tau * (null - min).",
        modes=FM, low=0, high=1,
        fix="give 0 (the lambda of least CV error) up to 1 (the largest lambda), such as 0.8",
    ),
    Param(
        "min_obs_boot", int, 20,
        "finemap: in a subsample, drop variants observed in fewer samples.",
        modes=FM, low=1,
        fix="give the fewest observed samples of a variant in a subsample, such as 20",
    ),
    Param(
        "compute_r2", bool, False,
        "finemap: also report in-sample R2 without and with the stable variants.",
        modes=("finemap",),
    ),
    Param(
        "r2_stability_threshold", float, 0.6,
        "finemap: stability score a selected variant needs for the R2.",
        modes=("finemap",), low=0, high=1,
        fix="give the stability score a variant needs to enter the R2, such as 0.6",
    ),
    Param(
        "phenotype_id", str, None,
        "finemap/validate: this phenotype only (same seeds as a full run; files get _<ID>).",
        modes=FM, nullable=True, metavar="GENE",
    ),
)  # fmt: skip

#: Given to a mode that does not use them, these are refused rather than ignored (the run
#: would otherwise silently cover every phenotype).
STRICT = ("phenotype_id",)


class FinemapMode(Mode):
    def check(self, spec, flag) -> None:
        not_options = {
            "all_variants": f"{self.name} reports on every phenotype; {flag('phenotype_id')} "
            "GENE selects one phenotype",
            "neg_control": "negative controls belong to nominal and perm modes",
            "record_aic": "AIC belongs to nominal and perm modes",
        }
        for name, why in not_options.items():
            if getattr(spec, name) is not False:
                raise UsageError(
                    f"{flag(name)} is not a {self.name} option ({why}). Fix: drop {flag(name)}"
                )

    def only_phenotype(self, spec) -> str | None:
        return spec.phenotype_id

    def build_payload(self, con, spec, unit, info, covariates, files):
        from ..warehouse.reads import finemap_payload

        return finemap_payload(con, spec, unit, info, covariates, files)

    def filenames(self, spec, chrom: str) -> dict[str, str]:
        """SegmentQTL's finemap file names for a chromosome, keyed by the SQL that fills them
        (a single-phenotype run adds ``_<phenotype>``; docs/methods.md#finemap-outputs)."""
        suffix = f"_{spec.phenotype_id}" if spec.phenotype_id is not None else ""
        return {
            "export_finemap": f"finemap_{chrom}{suffix}.csv",
            "export_finemap_bootstrap": f"finemap_bootstrap_nonzero_{chrom}{suffix}.csv",
            "export_finemap_r2": f"finemap_r2_{chrom}{suffix}.csv",
        }

    def export_files(self, con, run_id: int, spec) -> list[ExportFile]:
        """Results, bootstrap-nonzero and (with compute_r2) R² per chromosome.

        As SegmentQTL: the bootstrap file is always written (header only if empty); the R²
        file only when the run computed R² and the chromosome has an R² row.  A
        single-phenotype run writes only the chromosome holding that phenotype.
        """
        from ..warehouse.db import fetch_one, load_sql

        files = []
        for chrom in planned_chromosomes(con, run_id, spec):
            for name, filename in self.filenames(spec, chrom).items():
                if name == "export_finemap_r2":
                    if not spec.compute_r2:
                        continue
                    n_r2 = fetch_one(
                        con,
                        "SELECT count(*) FROM finemap_r2 WHERE run_id = ? AND chr = ?",
                        [run_id, chrom],
                    )[0]
                    if n_r2 == 0:
                        continue
                files.append(ExportFile(load_sql(name), filename, chrom))
        return files

    def by_variant(self, all_variants) -> bool:
        return True

    def hit_rule(self, side, fdr: float) -> HitRule:
        t = side.r2_stability_threshold
        if t is None:  # a run stored before the parameter existed: its declared default
            t = next(p.default for p in PARAMS if p.name == "r2_stability_threshold")
        return HitRule("at_least", t, f"stability_score >= {t:g} (r2_stability_threshold)")


MODE = FinemapMode(
    name="finemap",
    help="elastic-net fine-mapping with stability selection",
    params=PARAMS,
    unit_size=1,
    worker="segqtl.engine.finemap:compute_unit",
    # the fork server warms the compiled kernels once instead of every worker
    preload=("segqtl.engine.finemap_warm",),
    result_table="finemap_stats",
    tables=("finemap_stats", "finemap_bootstrap_stats", "finemap_r2_stats"),
    migrations=("003_finemap.sql",),
    views=("finemap_results", "finemap_bootstrap", "finemap_r2"),
    tested_as="(phenotype, variant) rows fitted",
    effect_column="beta_full",
    p_column="stability_score",
    compare_source="compare_finemap",
    p_is_pvalue=False,
)
