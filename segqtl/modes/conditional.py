"""conditional mode: independent signals of a perm run's significant phenotypes by
forward–backward stepwise conditioning (docs/methods.md#conditional-analysis)."""

from __future__ import annotations

import json

from ..errors import UsageError
from .base import ExportFile, HitRule, Mode
from .parameters import Param

C = ("conditional",)

PERM_RUN = Param(
    "perm_run",
    int,
    None,
    "conditional: the completed perm run whose significant phenotypes (at its FDR) are "
    "searched for further signals; window, permutations, method and seed are taken from it.",
    modes=C,
    nullable=True,
    metavar="RUN_ID",
    low=1,
    dropin=False,
    fix="give the id of a completed perm run of the same cohort (see 'segqtl runs')",
)
MAX_SIGNALS = Param(
    "max_signals",
    int,
    10,
    "conditional: stop the forward pass of a phenotype after this many signals.",
    modes=C,
    low=1,
    high=1000,
    fix="give a number of signals such as 10",
)
PARAMS = (PERM_RUN, MAX_SIGNALS)
STRICT = ("perm_run",)

#: Model parameters a conditional run takes from its perm run.
FROM_PERM_RUN = ("window", "min_samples", "num_permutations", "perm_method", "seed")


def _perm_run(con, spec) -> tuple[object, tuple]:
    """The perm run's spec and its run_fdr row (fdr, p_threshold), checked."""
    from ..warehouse.db import fetch_one
    from ..warehouse.runs import finish_fix, load_spec, run_status

    status = run_status(con, spec.perm_run)
    perm = load_spec(con, spec.perm_run)
    flag = "--perm-run"
    if perm.mode != "perm":
        raise UsageError(
            f"{flag} {spec.perm_run} is a {perm.mode} run. Fix: give a perm run (see 'segqtl runs')"
        )
    if status != "completed":
        raise UsageError(
            f"{flag} {spec.perm_run} is {status}, not completed. "
            f"{finish_fix(spec.perm_run, status)}"
        )
    if perm.cohort != spec.cohort:
        raise UsageError(
            f"{flag} {spec.perm_run} analysed cohort {perm.cohort!r}, not {spec.cohort!r}. "
            f"Fix: give --cohort {perm.cohort}"
        )
    if perm.neg_control:
        raise UsageError(
            f"{flag} {spec.perm_run} is a negative-control run. Fix: give a cis perm run"
        )
    missing = [c for c in spec.chromosomes if c not in perm.chromosomes]
    if missing:
        raise UsageError(
            f"{flag} {spec.perm_run} did not cover {', '.join(missing)}. Fix: give "
            f"--chromosome among {', '.join(perm.chromosomes)}"
        )
    fdr = fetch_one(con, "SELECT fdr, p_threshold FROM run_fdr WHERE run_id = ?", [spec.perm_run])
    if fdr is None:
        raise UsageError(
            f"{flag} {spec.perm_run} has no q-values. Fix: run 'segqtl fdr --run "
            f"{spec.perm_run}' first"
        )
    return perm, fdr


class ConditionalMode(Mode):
    def check(self, spec, flag) -> None:
        if spec.perm_run is None:
            raise UsageError(
                f"--mode conditional starts from a perm run. Fix: give {flag('perm_run')} RUN_ID "
                "(a completed perm run of the cohort)"
            )

    def check_warehouse(self, con, spec, cohort: dict) -> None:
        from .. import modes

        perm, _ = _perm_run(con, spec)
        for name in ("window", "min_samples"):  # every mode has them: they must agree
            mine, theirs = getattr(spec, name), getattr(perm, name)
            if mine != theirs and mine != modes.param(name).default:
                raise UsageError(
                    f"{modes.flag_name(name)} {mine} differs from perm run {spec.perm_run}'s "
                    f"({theirs}); a conditional run takes it from its perm run. Fix: drop "
                    f"{modes.flag_name(name)}"
                )

    def provenance(self, con, spec) -> list[tuple[str, str]]:
        perm, (fdr, p_threshold) = _perm_run(con, spec)
        rows = [(f"perm_run:{name}", json.dumps(getattr(perm, name))) for name in FROM_PERM_RUN]
        return rows + [
            ("perm_run:fdr", json.dumps(fdr)),
            ("perm_run:p_threshold", json.dumps(p_threshold)),
        ]

    @staticmethod
    def model_spec(con, spec):
        """``spec`` with the model parameters of its perm run (:data:`FROM_PERM_RUN`)."""
        from dataclasses import replace

        from ..warehouse.runs import load_spec

        perm = load_spec(con, spec.perm_run)
        return replace(spec, **{name: getattr(perm, name) for name in FROM_PERM_RUN})

    def build_payload(self, con, spec, unit, info, covariates, files):
        from dataclasses import replace

        from ..engine.conditional import ConditionalParams
        from ..warehouse.db import fetch_one, query
        from ..warehouse.reads import nominal_payload

        spec = self.model_spec(con, spec)
        payload = nominal_payload(con, spec, unit, info, covariates, files, perm=True)
        threshold = fetch_one(
            con, "SELECT p_threshold FROM run_fdr WHERE run_id = ?", [spec.perm_run]
        )[0]
        leads = query(
            con,
            "conditional_leads",
            perm_run=spec.perm_run,
            chr=unit.chr,
            first_phenotype=unit.first_idx,
            last_phenotype=unit.last_idx,
        ).fetchall()
        hits = tuple((int(p), int(v)) for p, v, _, _, hit in leads if hit)
        params = ConditionalParams(
            min_samples=spec.min_samples,
            num_permutations=spec.num_permutations,
            perm_method=spec.perm_method,
            seed=spec.seed,
            max_signals=spec.max_signals,
            threshold=float("nan") if threshold is None else float(threshold),
            leads=hits if threshold is not None else (),
        )
        return replace(payload, params=params)

    def export_files(self, con, run_id: int, spec) -> list[ExportFile]:
        from ..warehouse.db import load_sql

        signals = load_sql("export_conditional").strip().rstrip(";")
        rounds = load_sql("export_conditional_rounds").strip().rstrip(";")
        out = []
        for c in spec.chromosomes:
            out.append(ExportFile(signals, f"conditional_{c}.csv", c, True))
            out.append(ExportFile(rounds, f"conditional_rounds_{c}.csv", c, True))
        return out

    def by_variant(self, all_variants) -> bool:
        return True

    def hit_rule(self, side, fdr: float) -> HitRule:
        return HitRule("at_least", 1.0, "every kept signal")


MODE = ConditionalMode(
    name="conditional",
    help="independent signals of a perm run's eGenes (forward-backward conditioning)",
    params=PARAMS,
    unit_size=25,
    worker="segqtl.engine.conditional:compute_unit",
    preload=("segqtl.engine.perm_warm",),
    result_table="conditional_signals",
    tables=("conditional_stats", "conditional_signals"),
    migrations=("001_init.sql", "002_perm.sql", "017_conditional.sql"),
    views=("conditional_results", "conditional_rounds"),
    tested_as="pairs scanned",
    effect_column="beta_d",
    p_column="p_adj",
    compare_source="compare_conditional",
)
