"""The plot kinds of ``segqtl plot``: which runs each one takes, and how it is built.

:func:`build` reads a kind's rows (:mod:`segqtl.plots.data`) and hands them to its figure
function (:mod:`segqtl.plots.figures`); :func:`save` writes a figure to a file safely.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import UsageError

if TYPE_CHECKING:
    from . import data

# polars, duckdb and matplotlib are imported by the functions that draw: the command line
# imports this module for the kinds' names and help at start-up.


@dataclass(frozen=True)
class Kind:
    """One plot kind.

    Attributes
    ----------
    name : str
    modes : tuple of str or None
        The run modes it plots; None: any (``compare``: two runs of any mode, compared).
    help : str
        One line for ``--help`` and the README.
    """

    name: str
    modes: tuple[str, ...] | None
    help: str


#: The kinds, in the order ``--help`` lists them.
KINDS: dict[str, Kind] = {
    k.name: k
    for k in (
        Kind(
            "qq",
            ("nominal", "perm"),
            "QQ plot of the run's p-values with λ_GC and the expected 95% band (perm: p_adj, "
            "one per phenotype; nominal: nominal p of every stored pair).",
        ),
        Kind(
            "pvalues",
            ("nominal", "perm"),
            "Histogram of the same p-values (density) with the null proportion pi0.",
        ),
        Kind(
            "manhattan",
            ("nominal", "perm"),
            "Gene-level −log10 p (perm: p_adj; nominal: the top variant's p) along the "
            "chromosomes, eGenes at the run's FDR marked.",
        ),
        Kind(
            "locus",
            ("nominal",),
            "One phenotype (--phenotype) of an all-variants nominal run: −log10 p and tested "
            "samples per variant, lead variant, finemap's selected variants, the gene's span.",
        ),
        Kind(
            "stability",
            ("finemap",),
            "finemap: stability score (selection frequency) against the coefficient, with the "
            "run's threshold (--phenotype: one phenotype along its locus).",
        ),
        Kind(
            "calibration",
            ("validate",),
            "validate: out-of-cohort R² against calibration slope, and one phenotype's observed "
            "against predicted (--phenotype, default: the best R²).",
        ),
        Kind(
            "compare",
            None,
            "Two runs (--run and --run-b, compared first with 'segqtl compare'): effects and "
            "−log10 p scatter, hits gained/lost coloured.",
        ),
    )
}

#: What each mode's p-values are, for axis labels (the rule of sql/plot_pvalues.sql).
P_WHAT = {"perm": "p_adj", "nominal": "nominal p"}

#: The file types ``segqtl plot --out`` writes, by suffix.
FORMATS = {".png": "png", ".svg": "svg", ".pdf": "pdf"}


def require_matplotlib() -> None:
    """Refuse, in one line, to draw without matplotlib (a core dependency; an installation
    that dropped it gets this message instead of a traceback)."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise UsageError(
            "plots need matplotlib, which is not installed. Fix: pip install matplotlib "
            "(or reinstall segqtl, which depends on it)"
        ) from None


def check_out(out: str | Path, flag: str = "--out", formats: dict | None = None) -> Path:
    """The output path, refused early (before any work) when it cannot be written.

    Raises
    ------
    UsageError
        One line naming ``flag``: an unknown suffix, a missing or unwritable folder, a folder
        given as the file.
    """
    formats = FORMATS if formats is None else formats
    out = Path(out)
    shown = ", ".join(formats)
    if out.suffix.lower() not in formats:
        raise UsageError(
            f"{flag} {out}: unknown file type {out.suffix or '(no suffix)'!r}. "
            f"Fix: end the file name with {shown}"
        )
    if out.is_dir():
        raise UsageError(f"{flag} {out}: is a folder. Fix: give a file name ending in {shown}")
    parent = out.parent if str(out.parent) else Path(".")
    if not parent.is_dir():
        raise UsageError(
            f"{flag} {out}: folder {parent} does not exist. Fix: create it first "
            f"(mkdir -p {parent}) or write elsewhere"
        )
    if not os.access(parent, os.W_OK | os.X_OK) or (out.exists() and not os.access(out, os.W_OK)):
        raise UsageError(
            f"{flag} {out}: cannot write there (permission denied). Fix: choose a folder you "
            "can write to"
        )
    return out


def write_atomically(out: Path, write) -> Path:
    """Call ``write(tmp_path)`` on a temporary file beside ``out``, then rename it to ``out``:
    a reader never sees half a file, and a failure leaves no file behind."""
    import tempfile  # here: the command line imports this module at start-up

    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent or ".")
    os.close(fd)
    try:
        write(Path(tmp))
        os.chmod(tmp, 0o644)
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return out


def save(fig, out: str | Path, *, dpi: int = 120) -> Path:
    """Write ``fig`` to ``out`` (``.png``, ``.svg`` or ``.pdf``) through a temporary name."""
    out = check_out(out)
    fmt = FORMATS[out.suffix.lower()]
    return write_atomically(out, lambda tmp: fig.savefig(tmp, format=fmt, dpi=dpi))


def _wrong_mode(kind: Kind, run: data.RunInfo, db) -> UsageError:
    wanted = " or ".join(kind.modes)
    return UsageError(
        f"plot {kind.name} needs a {wanted} run; {run.label} is a {run.mode} run. Fix: pick a "
        f"{wanted} run (segqtl runs --db {db}) or another kind (segqtl plot --help)"
    )


def build(
    con,
    kind: str,
    run_id: int,
    *,
    run_b: int | None = None,
    phenotype: str | None = None,
    finemap_run: int | None = None,
    db: object = "DB",
):
    """The figure of plot ``kind`` for run ``run_id`` (see :data:`KINDS`).

    Parameters
    ----------
    con : duckdb.DuckDBPyConnection
        A read-only connection.
    run_b : int, optional
        ``compare``: the second run (a comparison of the two must be stored).
    phenotype : str, optional
        ``locus`` (required), ``stability`` and ``calibration`` (optional): a gene_id.
    finemap_run : int, optional
        ``locus``: the finemap run whose selected variants to mark (default: the newest
        completed finemap run of the cohort that fitted the phenotype).
    db : object
        The warehouse path, for messages.
    """
    require_matplotlib()
    from . import data, figures

    if kind not in KINDS:
        raise UsageError(f"unknown plot kind {kind!r}. Fix: use one of {', '.join(KINDS)}")
    spec = KINDS[kind]
    run = data.run_info(con, run_id, db)
    if spec.modes is not None and run.mode not in spec.modes:
        raise _wrong_mode(spec, run, db)
    if kind == "compare":
        if run_b is None:
            raise UsageError(
                "plot compare needs two runs. Fix: add --run-b RUN (compared with --run by "
                "'segqtl compare' first)"
            )
        return _compare(con, run, run_b, db)
    if run_b is not None:
        raise UsageError(f"--run-b is for plot compare only. Fix: drop it for plot {kind}")
    if phenotype is not None and kind in ("qq", "pvalues", "manhattan"):
        raise UsageError(f"--phenotype does not apply to plot {kind}. Fix: drop it")
    if finemap_run is not None and kind != "locus":
        raise UsageError(f"--finemap-run is for plot locus only. Fix: drop it for plot {kind}")
    what = P_WHAT.get(run.mode, "p")
    if kind in ("qq", "pvalues"):
        p = data.pvalues(con, run.run_id)["p"].to_numpy()
        if kind == "qq":
            return figures.qq_figure(p, title=f"QQ plot, {run.label}", what=_p_what(run))
        summary = data.fdr_summary(con, run.run_id)
        pi0 = None if summary is None else summary["pi0"]
        if pi0 is None and len(p):
            from ..kernels.fdr import pi0_bootstrap

            pi0 = pi0_bootstrap(p)
        return figures.pvalue_histogram(p, pi0, title=f"p-values, {run.label}", what=what)
    if kind == "manhattan":
        summary = data.fdr_summary(con, run.run_id) or {}
        return figures.manhattan_figure(
            data.gene_level(con, run.run_id),
            title=f"gene-level associations, {run.label}",
            what=what,
            fdr=summary.get("fdr"),
            p_threshold=summary.get("p_threshold"),
        )
    if kind == "locus":
        return _locus(con, run, phenotype, finemap_run, db)
    if kind == "stability":
        return figures.stability_figure(
            data.stability(con, run, phenotype),
            threshold=data.stability_threshold(con, run.run_id),
            title=f"run {run.run_id}",
            phenotype=phenotype,
        )
    return _calibration(con, run, phenotype)


def _p_what(run: data.RunInfo) -> str:
    what = P_WHAT.get(run.mode, "p")
    if run.mode in P_WHAT and not run.all_variants and what == "nominal p":
        # a best-variant run stores each phenotype's smallest p: not uniform under the null
        return "lead-variant nominal p (min over cis variants)"
    return what


def _locus(con, run: data.RunInfo, phenotype, finemap_run, db):
    from . import data, figures

    if phenotype is None:
        raise UsageError("plot locus needs a phenotype. Fix: add --phenotype GENE_ID")
    if not run.all_variants:
        raise UsageError(
            f"plot locus needs every cis variant of the phenotype; {run.label} stored only each "
            "phenotype's lead variant. Fix: plot a nominal run made with --all-variants"
        )
    variants = data.locus(con, run, phenotype)
    finemap, threshold, label = None, None, "finemap"
    if finemap_run is None:
        finemap_run = data.finemap_run_for(con, run.cohort, phenotype)
    else:
        fm = data.run_info(con, finemap_run, db)
        if fm.mode not in KINDS["stability"].modes:
            raise UsageError(
                f"--finemap-run {finemap_run}: {fm.label} is not a finemap run. Fix: pick a "
                f"finemap run of cohort {run.cohort} (segqtl runs --db {db})"
            )
        if fm.cohort != run.cohort:
            raise UsageError(
                f"--finemap-run {finemap_run}: it fine-mapped cohort {fm.cohort}, not "
                f"{run.cohort}. Fix: pick a finemap run of cohort {run.cohort}"
            )
    if finemap_run is not None:
        finemap = data.finemap_variants(con, finemap_run, phenotype)
        threshold = data.stability_threshold(con, finemap_run)
        label = f"finemap run {finemap_run}"
    return figures.locus_figure(
        variants,
        title=f"{phenotype}, {run.label}",
        finemap=finemap,
        threshold=threshold,
        finemap_label=label,
    )


def _calibration(con, run: data.RunInfo, phenotype):
    from . import data, figures

    per = data.calibration(con, run.run_id)
    if phenotype is None and per.height:
        phenotype = per["phenotype"][0]  # the best out-of-cohort R²
    elif phenotype is not None and per.filter(per["phenotype"] == phenotype).height == 0:
        raise data._phenotype_missing(run, phenotype, "scored calibration")
    samples = None if phenotype is None else data.calibration_samples(con, run.run_id, phenotype)
    return figures.calibration_figure(per, samples, title=f"run {run.run_id}", phenotype=phenotype)


def _compare(con, run: data.RunInfo, run_b: int, db):
    from .. import modes
    from ..warehouse.db import fetch_one
    from . import data, figures

    other = data.run_info(con, run_b, db)
    cid = data.comparison_id(con, run.run_id, other.run_id, db)
    effect, p_column = fetch_one(
        con, "SELECT effect_column, p_column FROM comparisons WHERE comparison_id = ?", [cid]
    )
    return figures.compare_figure(
        data.comparison_pairs(con, cid),
        title=f"comparison {cid}",
        run_a=f"run {run.run_id}",
        run_b=f"run {other.run_id}",
        effect_label=effect,
        p_label=p_column,
        p_is_pvalue=modes.get(run.mode).p_is_pvalue,
    )
