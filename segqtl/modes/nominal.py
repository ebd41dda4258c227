"""nominal mode: per-variant OLS of the phenotype on s and d (docs/methods.md#nominal-model)."""

from __future__ import annotations

from ..chromosomes import AUTOSOMES_X
from ..errors import UsageError
from .base import ExportFile, HitRule, Mode
from .parameters import Param

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
    "Trans negative control: variants of the next chromosome, no segment filter.",
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
PARAMS = (ALL_VARIANTS, RECORD_AIC, NEG_CONTROL, NEG_CONTROL_MAX_VARIANTS)

#: Parameters that change a nominal/perm run's numbers only in the modes they name: given to
#: another mode they are refused rather than ignored.
STRICT = ("all_variants", "record_aic", "neg_control")


def trans_chromosome(chrom: str, flag: str = "--neg_control") -> str:
    """The negative-control chromosome: the next of chr1..chr22, chrX (wrapping)."""
    if chrom not in AUTOSOMES_X:
        raise UsageError(f"unknown chromosome {chrom!r} for {flag}; expected chr1..chr22 or chrX")
    return AUTOSOMES_X[(AUTOSOMES_X.index(chrom) + 1) % len(AUTOSOMES_X)]


class NominalMode(Mode):
    """nominal (and, through :class:`~segqtl.modes.perm.PermMode`, perm)."""

    #: Whether units also run the permutation scan (perm).
    permutes = False

    def check(self, spec, flag) -> None:
        if spec.neg_control:
            for chrom in spec.chromosomes:
                trans_chromosome(chrom, flag("neg_control"))

    def only_phenotype(self, spec) -> str | None:
        return spec.all_variants if isinstance(spec.all_variants, str) else None

    def variant_chromosome(self, spec, chrom: str) -> str:
        return trans_chromosome(chrom) if spec.neg_control else chrom

    def build_payload(self, con, spec, unit, info, covariates, files):
        from ..warehouse.reads import nominal_payload

        return nominal_payload(con, spec, unit, info, covariates, files, perm=self.permutes)

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

    def by_variant(self, all_variants) -> bool:
        return all_variants is not False

    def hit_rule(self, side, fdr: float) -> HitRule:
        if side.n_qvalues > 0:
            return HitRule("qvalue", fdr, "qvalue <= fdr")
        return HitRule("at_most", fdr, f"{self.p_column} <= fdr")

    def check_fdr(self, run_id: int) -> None:
        """q-values are computed for best-variant runs (checked by the q-value step)."""


MODE = NominalMode(
    name="nominal",
    help="per-variant association of s and d with the phenotype",
    params=PARAMS,
    unit_size=25,
    worker="segqtl.engine.nominal:compute_unit",
    preload=("segqtl.engine.nominal",),
    result_table="nominal_stats",
    tables=("nominal_stats", "nominal_top_stats"),
    unit_sql=("unit_top_rows",),
    migrations=("001_init.sql", "010_top_hits.sql"),
    views=("nominal_results", "nominal_top"),
    tested_as="pairs tested",
    effect_column="beta_d",
    p_column="nominal_p",
    compare_source="compare_nominal",
)
