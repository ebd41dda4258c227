"""The parameter dataclasses of the finemap and validate kernels.

Kept apart from the kernels themselves, which load numba's compiled code: the parent process
builds these for every work unit and must not pay for the compiler.  No defaults here — they are
declared once, with the run parameters (``segqtl/modes/``), and a run fills these from its
RunSpec.
"""

from __future__ import annotations

from dataclasses import dataclass

#: validate's ways to score the transferred model (docs/methods.md#validate-pipeline).
RECALIBRATED = "recalibrated"
FROZEN = "frozen"
MODES = (RECALIBRATED, FROZEN)
#: validate's support tests (docs/methods.md#validate-pipeline).
SUPPORT_DEFINITIONS = ("stability", "selected")


@dataclass(frozen=True)
class FinemapParams:
    """Hyper-parameters of finemap (docs/methods.md#standardisation to #r2)."""

    alpha_en: float
    coverage_tau: float
    n_bootstrap: int
    subsample_frac: float
    n_lambda: int
    lambda_ratio: float
    cv_tau: float
    min_obs_boot: int
    compute_r2: bool
    r2_stability_threshold: float


@dataclass(frozen=True)
class ValidateOptions:
    """The validate-only options (docs/methods.md#validate-pipeline).

    The elastic-net hyper-parameters (refit, coverage, stability selection) come from
    :class:`segqtl.kernels.finemap.FinemapParams`.
    """

    validation_mode: str
    validate_with_bootstrap: bool
    validation_stability_threshold: float
    restrict_to_supported_phenotypes: bool
    support_definition: str
    support_min_stability: float
    bootstrap_ci: bool
    n_boot_ci: int
    n_permutations: int
    save_model_audit: bool

    def __post_init__(self):
        if self.validation_mode not in MODES:
            raise ValueError(
                f"validation_mode must be one of {MODES}, got {self.validation_mode!r}"
            )
        if self.support_definition not in SUPPORT_DEFINITIONS:
            raise ValueError(
                f"support_definition must be one of {SUPPORT_DEFINITIONS}, "
                f"got {self.support_definition!r}"
            )
