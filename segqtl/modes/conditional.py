"""conditional mode: independent signals of a perm run's significant phenotypes by
forward–backward stepwise conditioning (docs/methods.md#conditional-analysis)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from ..chromosomes import normalize_chromosome
from ..errors import SegqtlError, UsageError
from .base import TENSORQTL_TEXT, ExportFile, HitRule, Mode, TensorqtlFile
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
PERM_RESULTS_DIR = Param(
    "perm_results_dir",
    str,
    None,
    "conditional: take the significant phenotypes and lead variants from DIR/perm_<chr>_<B>.csv "
    "(SegmentQTL's perm files, B = --num-permutations; q-values over every such file at FDR "
    "0.05) instead of --perm-run; give the perm run's window, permutations, method and seed.",
    modes=C,
    nullable=True,
    metavar="DIR",
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
CONDITION_ON = Param(
    "condition_on",
    str,
    None,
    "nominal/perm: condition on these variants (repeatable; IDs joined by commas, or files of "
    "one ID per line): the s and d of those in a phenotype's cis window join its covariates; "
    "they (and exact copies) are not tested.",
    modes=("nominal", "perm"),
    nullable=True,
    metavar="VARIANTS|FILE",
    multiple=True,
)
PARAMS = (PERM_RUN, PERM_RESULTS_DIR, MAX_SIGNALS, CONDITION_ON)
STRICT = ("perm_run", "perm_results_dir", "condition_on")

#: The FDR level at which perm CSVs' phenotypes count as significant (SegmentQTL's default).
CSV_FDR = 0.05


def condition_variants(spec) -> list[str]:
    """The variant IDs of ``--condition-on`` (repeatable; the values are joined by commas):
    each comma-separated item is a variant ID or a file of IDs, one per line (blank and ``#``
    lines skipped)."""
    out: list[str] = []
    for item in _condition_items(spec):
        path = Path(item)
        if path.is_file():
            lines = path.read_text(encoding="utf-8-sig").splitlines()
            out += [s.strip() for s in lines if s.strip() and not s.lstrip().startswith("#")]
        else:
            out.append(item)
    return list(dict.fromkeys(out))  # each variant once, in the order given


def _condition_items(spec) -> list[str]:
    value = spec.condition_on
    return [] if value is None else [s.strip() for s in str(value).split(",") if s.strip()]


def check_condition_on(con, spec, flag) -> None:
    """Every --condition-on variant is a variant of the cohort; no negative controls."""
    ids = condition_variants(spec)
    if spec.condition_on is not None and not ids:
        raise UsageError(
            f"{flag('condition_on')} {spec.condition_on!r} names no variant. Fix: give variant "
            "IDs joined by commas, or a file with one ID per line"
        )
    if not ids:
        return
    if spec.neg_control:
        raise UsageError(
            f"{flag('condition_on')} conditions cis scans; a negative control tests trans "
            f"variants. Fix: drop {flag('condition_on')} or {flag('neg_control')}"
        )
    found = {
        r[0]
        for r in con.execute(
            "SELECT variant_id FROM variants WHERE cohort = ? AND list_contains(?, variant_id)",
            [spec.cohort, ids],
        ).fetchall()
    }
    missing = next(([v] for v in ids if v not in found), None)
    if missing:
        from ..warehouse.derive import left_out_by_selection

        why = left_out_by_selection(con, spec.cohort, "variant", missing[0])
        if why is not None:
            raise UsageError(
                f"{flag('condition_on')}: variant {missing[0]!r}: {why}. Fix: keep it in the "
                "selection, or condition on another variant"
            )
        raise UsageError(
            f"{flag('condition_on')}: variant {missing[0]!r} is not in cohort {spec.cohort!r}. "
            "Fix: use the IDs of the genotype files' ID column"
        )


def condition_on_rows(con, spec, chrom: str) -> tuple[int, ...]:
    """variant_idx on ``chrom`` of the --condition-on variants."""
    ids = condition_variants(spec)
    if not ids:
        return ()
    rows = con.execute(
        "SELECT variant_idx FROM variants WHERE cohort = ? AND chr = ? AND list_contains(?, "
        "variant_id) ORDER BY variant_idx",
        [spec.cohort, chrom, ids],
    ).fetchall()
    return tuple(int(r[0]) for r in rows)


def condition_on_provenance(spec) -> list[tuple[str, str]]:
    """The variants --condition-on resolves to (``condition_on:variants``, read by the view
    pair_samples) and the sha256 of each file it names."""
    from ..ingest.readers import sha256_file

    if spec.condition_on is None:
        return []
    files = [Path(i) for i in _condition_items(spec) if Path(i).is_file()]
    rows = [("condition_on:variants", json.dumps(condition_variants(spec)))]
    return rows + [(f"input:condition_on:{f.name}", json.dumps(sha256_file(f))) for f in files]


#: Model parameters a conditional run takes from its perm run.
FROM_PERM_RUN = (
    "window",
    "min_samples",
    "min_samples_observed",
    "num_permutations",
    "perm_method",
    "seed",
)


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
        from . import flag_name
        from .parameters import SELECTION_PARAMS

        # selection flags make a derived cohort of their own: the perm run's is the one to use
        selecting = [
            flag_name(p.name)
            for p in SELECTION_PARAMS
            if p.name != "min_samples_observed" and getattr(spec, p.name) not in (None, 0)
        ]
        without = (
            f" and no {', '.join(selecting)} (a conditional run uses its perm run's selection)"
            if selecting
            else ""
        )
        raise UsageError(
            f"{flag} {spec.perm_run} analysed cohort {perm.cohort!r}, not {spec.cohort!r}. "
            f"Fix: give --cohort {perm.cohort}{without}"
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


@dataclass(frozen=True)
class CsvLeads:
    """What a conditional run takes from SegmentQTL's perm files.

    ``leads`` maps ``(chr, phenotype)`` of each significant phenotype to its lead variant ID;
    ``checksums`` lists ``(file name, sha256)``.
    """

    p_threshold: float
    n_hits: int
    leads: dict
    checksums: tuple


def csv_leads(spec) -> CsvLeads:
    """Read ``perm_<chr>_<B>.csv`` of every chromosome in ``--perm-results-dir``; q-values
    (Storey, bootstrap pi0) over all of them as a perm run's (docs/methods.md#qvalues)."""
    from pathlib import Path

    folder = Path(spec.perm_results_dir)
    b = spec.num_permutations
    return _csv_leads(str(folder), b, _stamp(folder, b))


def _stamp(folder, b) -> tuple:
    return tuple(
        (p.name, p.stat().st_mtime_ns, p.stat().st_size)
        for p in sorted(folder.glob(f"perm_*_{b}.csv"))
    )


@lru_cache(maxsize=2)
def _csv_leads(folder: str, b: int, stamp: tuple) -> CsvLeads:
    import numpy as np
    import polars as pl

    from ..errors import InputError
    from ..ingest.readers import sha256_file
    from ..kernels import fdr as fdr_kernel

    path = Path(folder)
    if not path.is_dir():
        raise UsageError(
            f"--perm_results_dir {folder} is not a folder. Fix: give the --out_dir of the perm run"
        )
    files = [path / name for name, *_ in stamp]
    if not files:
        found = sorted(p.name for p in path.glob("perm_*.csv"))
        raise UsageError(
            f"--perm_results_dir {folder} holds no perm_<chr>_{b}.csv"
            + (f" (found {', '.join(found[:4])})" if found else "")
            + ". Fix: give --num_permutations as the perm run had it"
        )
    frames = []
    for f in files:
        try:
            frame = pl.read_csv(f, columns=["phenotype", "variant", "p_adj", "chr"],
                                schema_overrides={"p_adj": pl.Float64})  # fmt: skip
        except (pl.exceptions.PolarsError, OSError) as exc:
            raise InputError(
                f, f"not a SegmentQTL perm file ({type(exc).__name__})",
                "give the perm_<chr>_<B>.csv files that the perm run wrote",
            ) from None  # fmt: skip
        frames.append(frame)
    table = pl.concat(frames).filter(
        pl.col("p_adj").is_not_null() & pl.col("variant").is_not_null()
    )
    p = table["p_adj"].to_numpy()
    if p.size == 0:
        raise UsageError(f"--perm_results_dir {folder}: no phenotype has an adjusted p-value")
    q = fdr_kernel.qvalues(p, fdr_kernel.pi0_bootstrap(p))
    threshold = fdr_kernel.adjusted_p_threshold(p, q, CSV_FDR)
    hits = table.filter(pl.Series(q <= CSV_FDR))
    leads = {
        (normalize_chromosome(c), g): v
        for c, g, v in hits.select("chr", "phenotype", "variant").iter_rows()
    }
    checksums = tuple((f.name, sha256_file(f)) for f in files)
    return CsvLeads(float(threshold), int(np.sum(q <= CSV_FDR)), leads, checksums)


def csv_unit_leads(con, spec, unit, source: CsvLeads) -> tuple[tuple[int, int], ...]:
    """(phenotype_idx, variant_idx) of the unit's significant phenotypes in the perm CSVs."""
    genes = [g for (c, g) in source.leads if c == unit.chr]
    if not genes:
        return ()
    rows = con.execute(
        "SELECT p.phenotype_idx, p.gene_id FROM phenotypes AS p WHERE p.cohort = ? AND "
        "p.chr = ? AND p.phenotype_idx BETWEEN ? AND ? AND list_contains(?, p.gene_id)",
        [spec.cohort, unit.chr, unit.first_idx, unit.last_idx, genes],
    ).fetchall()
    ids = [source.leads[(unit.chr, g)] for _, g in rows]
    var = dict(
        con.execute(
            "SELECT variant_id, variant_idx FROM variants WHERE cohort = ? AND chr = ? AND "
            "list_contains(?, variant_id)",
            [spec.cohort, unit.chr, ids],
        ).fetchall()
    )
    return tuple(
        (int(p), int(var[source.leads[(unit.chr, g)]]))
        for p, g in sorted(rows)
        if source.leads[(unit.chr, g)] in var
    )


class ConditionalMode(Mode):
    def check(self, spec, flag) -> None:
        if spec.perm_run is None and spec.perm_results_dir is None:
            raise UsageError(
                f"--mode conditional starts from a perm run. Fix: give {flag('perm_run')} RUN_ID "
                f"(a completed perm run of the cohort) or {flag('perm_results_dir')} DIR"
            )
        if spec.perm_run is not None and spec.perm_results_dir is not None:
            raise UsageError(
                f"{flag('perm_run')} and {flag('perm_results_dir')} both give the perm results. "
                "Fix: give one of them"
            )

    def check_warehouse(self, con, spec, cohort: dict) -> None:
        from .. import modes

        if spec.perm_run is None:
            csv_leads(spec)  # the files' errors before anything is recorded
            return
        perm, _ = _perm_run(con, spec)
        for name in FROM_PERM_RUN:  # the perm run's model: given values must agree
            mine, theirs = getattr(spec, name), getattr(perm, name)
            if mine != theirs and mine != modes.param(name).default:
                raise UsageError(
                    f"{modes.flag_name(name)} {mine} differs from perm run {spec.perm_run}'s "
                    f"({theirs}); a conditional run takes it from its perm run. Fix: drop "
                    f"{modes.flag_name(name)}"
                )

    def provenance(self, con, spec) -> list[tuple[str, str]]:
        if spec.perm_run is None:
            source = csv_leads(spec)
            return [(f"input:perm_csv:{name}", json.dumps(sha)) for name, sha in source.checksums]
        perm, (fdr, p_threshold) = _perm_run(con, spec)
        rows = [(f"perm_run:{name}", json.dumps(getattr(perm, name))) for name in FROM_PERM_RUN]
        return rows + [
            ("perm_run:fdr", json.dumps(fdr)),
            ("perm_run:p_threshold", json.dumps(p_threshold)),
        ]

    def before_execute(self, con, run_id: int, spec) -> None:
        """Refuse to go on when the perm CSVs changed since the run started."""
        if spec.perm_run is not None:
            return
        stored = sorted(
            con.execute(
                "SELECT key, value FROM run_parameters WHERE run_id = ? "
                "AND key LIKE 'input:perm_csv:%'",
                [run_id],
            ).fetchall()
        )
        try:
            now = sorted((f"input:perm_csv:{n}", json.dumps(s)) for n, s in
                         csv_leads(spec).checksums)  # fmt: skip
        except SegqtlError:
            now = None
        if now != stored:
            raise UsageError(
                f"the perm results in {spec.perm_results_dir} changed (or are gone) since run "
                f"{run_id} started. Fix: restore them, or start a new run"
            )

    def model_spec(self, con, spec):
        """``spec`` with the model parameters of its perm run (:data:`FROM_PERM_RUN`)."""
        from dataclasses import replace

        from ..warehouse.runs import load_spec

        if spec.perm_run is None:  # perm CSVs: the run's own flags are the perm run's
            return spec

        perm = load_spec(con, spec.perm_run)
        return replace(spec, **{name: getattr(perm, name) for name in FROM_PERM_RUN})

    def build_payload(self, con, spec, unit, info, covariates, files):
        from dataclasses import replace

        from ..engine.conditional import ConditionalParams
        from ..warehouse.db import fetch_one, query
        from ..warehouse.reads import nominal_payload

        spec = self.model_spec(con, spec)
        payload = nominal_payload(con, spec, unit, info, covariates, files, perm=True)
        if spec.perm_run is None:
            source = csv_leads(spec)
            threshold = source.p_threshold
            hits = csv_unit_leads(con, spec, unit, source)
        else:
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

    def tensorqtl_files(self, spec, run_id: int, prefix: str) -> list[TensorqtlFile]:
        """``<prefix>.cis_independent_qtl.txt.gz``: one row per kept signal, with its rank."""
        window = spec.window
        params = {"run_id": int(run_id), "window": int(window)}
        name = f"{prefix}.cis_independent_qtl.txt.gz"
        return [TensorqtlFile("export_tensorqtl_independent", params, name, TENSORQTL_TEXT)]

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
    tables=("conditional_signals", "conditional_stats"),
    migrations=("001_init.sql", "002_perm.sql", "013_conditional.sql"),
    views=("conditional_results", "conditional_rounds"),
    tested_as="pairs scanned",
    effect_column="beta_d",
    p_column="p_adj",
    compare_source="compare_conditional",
    drops_redundant_covariates=True,
)
