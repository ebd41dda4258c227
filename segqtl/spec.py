"""The parameters of a run, as stored in ``run_parameters``."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields

from .ingest.readers import normalize_chromosome

#: Phenotypes per work unit by default: finemap phenotypes take far longer than nominal ones,
#: so smaller units keep the cores evenly busy and commits frequent.
UNIT_SIZE = {"nominal": 25, "perm": 25, "finemap": 1, "validate": 5}

AUTOSOMES_X = [f"chr{i}" for i in range(1, 23)] + ["chrX"]


@dataclass
class RunSpec:
    """Everything that decides a run's numbers (plus how it is executed).

    ``all_variants`` is ``False`` (best variant per phenotype), ``True`` (every cis variant of
    every phenotype) or a phenotype ID (every cis variant of that phenotype only).

    The fields from ``alpha_en`` on are finemap's, with SegmentQTL's defaults
    (../shared/SPEC_FINEMAP_VALIDATE.md §3-§9); ``phenotype_id`` restricts a finemap or validate
    run to one phenotype, which keeps its row on the chromosome as its seed index.

    The fields from ``validation_cohort`` on are validate's (SPEC_FINEMAP_VALIDATE §11-§13);
    validate also uses the finemap fields, which re-fit the models unless ``finemap_run`` or
    ``finemap_results_dir`` supplies them.  Runs stored before a field existed read back with
    its default (:meth:`from_rows`).
    """

    mode: str
    cohort: str
    chromosomes: list[str]
    window: int = 1_000_000
    min_samples: int = 30
    all_variants: bool | str = False
    record_aic: bool = False
    neg_control: bool = False
    neg_control_max_variants: int = 2000
    num_permutations: int = 5000
    perm_method: str = "beta"
    seed: int = 12345
    num_cores: int = 1
    phenotypes_per_unit: int | None = None  # None: the mode's default (UNIT_SIZE)
    name: str | None = None
    # finemap (SPEC_FINEMAP_VALIDATE §3-§9)
    alpha_en: float = 0.5  # elastic-net mixing: 1 = lasso, 0 = ridge
    coverage_tau: float = 0.6  # a variant needs max(30, floor(tau * n)) observed samples
    n_bootstrap: int = 200  # stability-selection subsamples (without replacement)
    subsample_frac: float = 0.8  # subsample size max(30, floor(frac * n))
    n_lambda: int = 30  # lambda grid points (at least 2 are used)
    lambda_ratio: float = 0.01  # lambda_min / lambda_max
    cv_tau: float = 0.8  # share of the CV improvement given up for sparsity
    min_obs_boot: int = 20  # fewest observed samples of a variant within a subsample
    compute_r2: bool = False
    r2_stability_threshold: float = 0.6  # R² candidates: stability_score >= this
    phenotype_id: str | None = None
    # validate (SPEC_FINEMAP_VALIDATE §11-§13)
    validation_cohort: str | None = None  # the second (validation) cohort in the warehouse
    validation_mode: str = "recalibrated"  # or "frozen": the main cohort's covariate model
    finemap_run: int | None = None  # take the models from this completed finemap run ...
    finemap_results_dir: str | None = None  # ... or from finemap_<C>.csv files in this folder
    validate_with_bootstrap: bool = False  # zero the betas of unstable variants
    validation_stability_threshold: float = 0.6  # ... those with stability_score below this
    restrict_to_supported_phenotypes: bool = False  # skip phenotypes failing the support test
    support_definition: str = "stability"  # or "selected"
    support_min_stability: float = 0.6  # support: some stability_score >= this
    bootstrap_ci: bool = False  # bootstrap CIs of R2 and the calibration slope
    n_boot_ci: int = 1000
    n_permutations: int = 0  # permutation p-values of R2 and rho (0 = none)
    save_model_audit: bool = False  # also store/export the model audit rows

    def __post_init__(self):
        self.chromosomes = [normalize_chromosome(c) for c in self.chromosomes]

    @property
    def unit_size(self) -> int:
        """Phenotypes per work unit (the mode's default unless set)."""
        return self.phenotypes_per_unit or UNIT_SIZE.get(self.mode, 25)

    def to_rows(self) -> list[tuple[str, str]]:
        """The fields as ``(name, JSON value)`` rows for ``run_parameters``."""
        return [(k, json.dumps(v)) for k, v in asdict(self).items()]

    @classmethod
    def from_rows(cls, rows) -> RunSpec:
        """Rebuild a spec from ``run_parameters`` rows.

        Keys that are not fields (provenance such as ``input:*``, ``version:*``) are ignored,
        and fields missing from the rows (a run recorded before the field existed) take their
        defaults.
        """
        known = {f.name for f in fields(cls)}
        values = {k: json.loads(v) for k, v in rows if k in known}
        return cls(**values)


def trans_chromosome(chrom: str) -> str:
    """The negative-control chromosome: the next of chr1..chr22, chrX (wrapping)."""
    if chrom not in AUTOSOMES_X:
        raise ValueError(
            f"unknown chromosome {chrom!r} for --neg_control; expected chr1..chr22 or chrX"
        )
    return AUTOSOMES_X[(AUTOSOMES_X.index(chrom) + 1) % len(AUTOSOMES_X)]
