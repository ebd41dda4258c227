"""perm mode: the nominal best variant plus a Freedman–Lane permutation scan per phenotype
(docs/methods.md#perm-null, docs/methods.md#beta-approximation)."""

from __future__ import annotations

from ..errors import UsageError
from .base import TENSORQTL_TEXT, TensorqtlFile
from .nominal import NominalMode
from .parameters import Param

NUM_PERMUTATIONS = Param(
    "num_permutations",
    int,
    5000,
    "perm: permutations of the phenotype's residuals.",
    modes=("perm", "conditional"),
    low=1,
    high=10_000_000,
    fix="give a number of permutations such as 1000",
)
PERM_METHOD = Param(
    "perm_method",
    str,
    "beta",
    "perm: beta (beta approximation) or direct (empirical) adjusted p-values.",
    modes=("perm", "conditional"),
    choices=("beta", "direct"),
    fix="select beta or direct",
)
SEED = Param(
    "seed",
    int,
    12345,
    "perm: permutations use numpy default_rng(seed + phenotype row).",
    modes=("perm", "conditional"),
    low=0,
    fix="give a non-negative integer such as 12345",
)
PARAMS = (NUM_PERMUTATIONS, PERM_METHOD, SEED)


class PermMode(NominalMode):
    """perm: shares nominal's tables, worker and export (plus ``p_adj`` and the beta shapes)."""

    permutes = True

    def check(self, spec, flag) -> None:
        if spec.all_variants:
            raise UsageError(
                f"--mode perm is not compatible with {flag('all_variants')}. Permutation testing "
                "computes gene-level scan p-values (best variant in window). Use --mode nominal "
                "for per-variant association testing without permutation adjustment"
            )
        super().check(spec, flag)

    def check_dropin_inputs(self, inputs, val_inputs, flag) -> None:
        if inputs.copynumber is None:
            raise UsageError("--mode perm requires --copynumber to be specified")
        super().check_dropin_inputs(inputs, val_inputs, flag)

    def check_warehouse(self, con, spec, cohort: dict) -> None:
        if not cohort["has_copynumber"]:
            raise UsageError(
                f"--mode perm requires copy number, and cohort {spec.cohort!r} was ingested "
                "without it. Fix: ingest the cohort again with --copynumber"
            )
        super().check_warehouse(con, spec, cohort)  # the negative control's chromosome

    def filename(self, spec, chrom: str) -> str:
        prefix = "negctrl_trans_" if spec.neg_control else ""
        return f"{prefix}perm_{chrom}_{spec.num_permutations}.csv"

    def tensorqtl_files(self, spec, run_id: int, prefix: str) -> list[TensorqtlFile]:
        """``<prefix>.cis_qtl.txt.gz``: one row per phenotype (map_cis + calculate_qvalues)."""
        self._tensorqtl_cis_only(spec, run_id)
        params = {"run_id": int(run_id), "window": int(spec.window), "method": spec.perm_method}
        name = f"{prefix}.cis_qtl.txt.gz"
        return [TensorqtlFile("export_tensorqtl_cis", params, name, TENSORQTL_TEXT)]

    def by_variant(self, all_variants) -> bool:
        return False

    def finish(self, con, run_id: int, *, transaction: bool = True) -> None:
        """q-values over the run's chromosomes, at the default FDR (docs/methods.md#qvalues)."""
        from ..warehouse.fdr import compute_run_fdr

        compute_run_fdr(con, run_id, transaction=transaction)

    def nominal_thresholds(self, spec) -> bool:
        return spec.perm_method == "beta"


MODE = PermMode(
    name="perm",
    help="gene-level permutation scan (Freedman-Lane; beta or direct adjusted p)",
    params=PARAMS,
    unit_size=25,
    worker="segqtl.engine.nominal:compute_unit",
    preload=("segqtl.engine.perm_warm",),
    finish_preload=("segqtl.warehouse.fdr",),
    result_table="nominal_stats",
    tables=("nominal_stats", "nominal_top_stats"),
    unit_sql=("unit_top_rows",),
    migrations=("001_init.sql", "002_perm.sql", "010_top_hits.sql"),
    views=("perm_results", "qvalues", "nominal_top"),
    tested_as="pairs tested",
    effect_column="beta_d",
    p_column="p_adj",
    compare_source="compare_perm",
    drops_redundant_covariates=True,
)
