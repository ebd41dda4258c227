"""nominal mode: per-variant OLS of the phenotype on s and d (docs/methods.md#nominal-model)."""

from __future__ import annotations

from ..chromosomes import AUTOSOMES_X, natural_order, normalize_chromosome
from ..errors import UsageError
from .base import TENSORQTL_PARQUET, ExportFile, HitRule, Mode, TensorqtlFile
from .parameters import NEG_CONTROL_CHROMOSOME, Param

#: Columns that only runs with ``record_aic`` export.
AIC_COLUMNS = ("aic_null", "aic_alt", "delta_aic_alt_minus_null")

ALL_VARIANTS = Param(
    "all_variants",
    str,
    False,
    "Report every cis variant (of GENE only, if given) instead of the best per phenotype.",
    modes=("nominal",),
    metavar="[GENE]",
    optional_value=True,
)
RECORD_AIC = Param(
    "record_aic",
    bool,
    False,
    "Also report the AIC of the null and the alternative model.",
    modes=("nominal", "perm"),
)
NEG_CONTROL = Param(
    "neg_control",
    bool,
    False,
    "Trans negative control: variants of the next chromosome (or --neg-control-chromosome), "
    "no segment filter.",
    modes=("nominal", "perm"),
)
NEG_CONTROL_MAX_VARIANTS = Param(
    "neg_control_max_variants",
    int,
    2000,
    "With --neg-control: test at most this many trans variants per phenotype.",
    modes=("nominal", "perm"),
    low=1,
    fix="give a number of variants such as 2000",
)
PARAMS = (ALL_VARIANTS, RECORD_AIC, NEG_CONTROL, NEG_CONTROL_MAX_VARIANTS, NEG_CONTROL_CHROMOSOME)

#: Parameters that change a nominal/perm run's numbers only in the modes they name: given to
#: another mode they are refused rather than ignored.
STRICT = ("all_variants", "record_aic", "neg_control", "neg_control_chromosome")


def trans_chromosome(chrom: str, flag: str = "--neg_control", chosen: str | None = None) -> str:
    """The negative-control chromosome of ``chrom``'s phenotypes: ``chosen``
    (``--neg-control-chromosome``) if given, else SegmentQTL's rule, the next of chr1..chr22,
    chrX (wrapping)."""
    if chosen is not None:
        return normalize_chromosome(chosen)
    if chrom not in AUTOSOMES_X:
        raise UsageError(
            f"unknown chromosome {chrom!r} for {flag}; expected chr1..chr22 or chrX. Fix: choose "
            "the control chromosome with --neg-control-chromosome CHR"
        )
    return AUTOSOMES_X[(AUTOSOMES_X.index(chrom) + 1) % len(AUTOSOMES_X)]


def check_control_chromosomes(spec, with_genotypes, flag, where: str = "the cohort") -> None:
    """Refuse a negative-control run whose control chromosome has no genotypes, naming the
    chromosomes that would work (``with_genotypes``: the cohort's chromosomes with variants)."""
    if not spec.neg_control:
        return
    have = set(with_genotypes)
    for chrom in spec.chromosomes:
        control = trans_chromosome(chrom, flag("neg_control"), spec.neg_control_chromosome)
        if control in have:
            continue
        usable = [c for c in natural_order(have) if c != chrom]
        how = (
            f"{flag('neg_control_chromosome')} {spec.neg_control_chromosome}"
            if spec.neg_control_chromosome is not None
            else f"{flag('neg_control')} (the chromosome after {chrom})"
        )
        raise UsageError(
            f"{how}: {where} has no genotypes for {control}. Fix: choose the control chromosome "
            f"with {flag('neg_control_chromosome')} CHR, one of {', '.join(usable) or 'none'}"
        )


def _flag_name(name: str) -> str:
    from . import flag_name  # the registry imports this module: here, not at the top

    return flag_name(name)


class NominalMode(Mode):
    """nominal (and, through :class:`~segqtl.modes.perm.PermMode`, perm)."""

    #: Whether units also run the permutation scan (perm).
    permutes = False

    def check(self, spec, flag) -> None:
        chosen = spec.neg_control_chromosome
        if chosen is not None and not spec.neg_control:
            raise UsageError(
                f"{flag('neg_control_chromosome')} chooses the negative control's chromosome. "
                f"Fix: add {flag('neg_control')}, or drop {flag('neg_control_chromosome')}"
            )
        if chosen is not None and normalize_chromosome(chosen) in spec.chromosomes:
            raise UsageError(
                f"{flag('neg_control_chromosome')} {chosen} is one of the run's chromosomes; a "
                f"trans control needs another. Fix: give a chromosome other than "
                f"{', '.join(spec.chromosomes)}"
            )
        if spec.neg_control:
            for chrom in spec.chromosomes:
                trans_chromosome(chrom, flag("neg_control"), chosen)

    def check_warehouse(self, con, spec, cohort: dict) -> None:
        from .conditional import check_condition_on

        check_condition_on(con, spec, _flag_name)
        if spec.neg_control:
            rows = con.execute(
                "SELECT DISTINCT chr FROM variants WHERE cohort = ?", [spec.cohort]
            ).fetchall()
            check_control_chromosomes(
                spec, [r[0] for r in rows], _flag_name, where=f"cohort {spec.cohort!r}"
            )

    def only_phenotype(self, spec) -> str | None:
        return spec.all_variants if isinstance(spec.all_variants, str) else None

    def variant_chromosome(self, spec, chrom: str) -> str:
        if not spec.neg_control:
            return chrom
        return trans_chromosome(chrom, chosen=spec.neg_control_chromosome)

    def build_payload(self, con, spec, unit, info, covariates, files):
        from dataclasses import replace

        from ..warehouse.reads import nominal_payload
        from .conditional import condition_on_rows

        payload = nominal_payload(con, spec, unit, info, covariates, files, perm=self.permutes)
        if spec.condition_on is None:
            return payload
        rows = condition_on_rows(con, spec, unit.chr)
        return replace(payload, params=replace(payload.params, condition_on_idx=rows))

    def provenance(self, con, spec) -> list[tuple[str, str]]:
        from .conditional import condition_on_provenance

        return condition_on_provenance(spec)

    # ---------------------------------------------------------------------------- results
    def filename(self, spec, chrom: str) -> str:
        """SegmentQTL's file name for a chromosome of this run."""
        prefix = "negctrl_trans_" if spec.neg_control else ""
        if isinstance(spec.all_variants, str):
            return f"{prefix}{spec.all_variants}_{self.name}_{chrom}.csv"
        return f"{prefix}nominal_{chrom}.csv"

    def export_files(self, con, run_id: int, spec) -> list[ExportFile]:
        from ..warehouse.db import load_sql

        sql = load_sql("export_nominal").strip().rstrip(";")
        if not spec.record_aic:
            sql = f"SELECT * EXCLUDE ({', '.join(AIC_COLUMNS)}) FROM ({sql}\n)"
        return [ExportFile(sql, self.filename(spec, c), c, True) for c in spec.chromosomes]

    def tensorqtl_files(self, spec, run_id: int, prefix: str) -> list[TensorqtlFile]:
        """All-variants runs: ``<prefix>.cis_qtl_pairs.<chr>.parquet`` per chromosome."""
        self._tensorqtl_cis_only(spec, run_id)
        if spec.all_variants is False:
            raise UsageError(
                f"run {run_id} is a best-variant nominal run: its lead p-values are not "
                "corrected for the window's variants, so it has no tensorQTL file. Fix: export a "
                "perm run (cis_qtl.txt.gz) or an --all-variants run (cis_qtl_pairs), or this run "
                "with --layout segmentqtl"
            )
        return [
            TensorqtlFile(
                "export_tensorqtl_pairs",
                {"run_id": int(run_id), "chr": chrom},
                f"{prefix}.cis_qtl_pairs.{chrom}.parquet",
                TENSORQTL_PARQUET,
            )
            for chrom in spec.chromosomes
        ]

    @staticmethod
    def _tensorqtl_cis_only(spec, run_id: int) -> None:
        if spec.neg_control:
            raise UsageError(
                f"run {run_id} is a negative control (trans variants, no cis distance); "
                "tensorQTL's cis layout does not fit it. Fix: export it with --layout segmentqtl"
            )

    def by_variant(self, all_variants) -> bool:
        return all_variants is not False

    def hit_rule(self, side, fdr: float) -> HitRule:
        if side.n_qvalues > 0:
            return HitRule("qvalue", fdr, "qvalue <= fdr")
        return HitRule("at_most", fdr, f"{self.p_column} <= fdr")

    def check_fdr(self, run_id: int) -> None:
        """q-values are computed for all-variants runs, pair by pair; a best-variant run is
        refused by the q-value step (its minimum p is not corrected for the window)."""


MODE = NominalMode(
    name="nominal",
    help="per-variant association of s and d with the phenotype",
    params=PARAMS,
    unit_size=25,
    worker="segqtl.engine.nominal:compute_unit",
    preload=("segqtl.engine.nominal_warm",),
    result_table="nominal_stats",
    tables=("nominal_stats", "nominal_top_stats"),
    unit_sql=("unit_top_rows",),
    migrations=("001_init.sql", "010_top_hits.sql"),
    views=("nominal_results", "nominal_top"),
    tested_as="pairs tested",
    effect_column="beta_d",
    p_column="nominal_p",
    compare_source="compare_nominal",
    drops_redundant_covariates=True,
)
