"""Command line: thin click commands over :mod:`segqtl.api`.

``segqtl <command> ...`` is the native interface; ``python -m segqtl --mode ...`` (or
``segqtl --mode ...``) is the SegmentQTL drop-in.  stdout carries data (run ids, file paths,
tables), stderr carries progress and messages.  Errors are one line, never a traceback.
"""

from __future__ import annotations

import functools
import json
import os
import sys
import warnings
from pathlib import Path

import click

from . import __version__, modes
from .errors import SegqtlError, UsageError
from .modes.parameters import convert_all_variants
from .output import FORMATS, escape_control, json_value

# The library API (DuckDB, polars, the engine) is imported inside the commands that use it, so
# that 'segqtl --help', '--version' and the read commands start fast.

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


class _Command(click.Command):
    """A command that records the arguments it parses, so that messages name a flag as the
    user typed it (:func:`segqtl.modes.flag_name`), however the command is invoked."""

    style = "native"

    def parse_args(self, ctx, args):
        modes.set_cli(self.style, args)
        return super().parse_args(ctx, args)

    def main(self, *args, **kwargs):
        try:
            return super().main(*args, **kwargs)
        finally:  # library calls after this command name flags natively again
            modes.set_cli("native", ())


class _DropinCommand(_Command):
    style = "dropin"


class _Group(click.Group):
    command_class = _Command

    def main(self, *args, **kwargs):
        try:
            return super().main(*args, **kwargs)
        finally:
            modes.set_cli("native", ())


def _msg(text: str) -> None:
    click.echo(f"segqtl: {text}", err=True)


def progress_option(f):
    return click.option(
        "--progress-every",
        "--progress_every",
        "progress_every",
        type=click.FloatRange(min=0),
        default=30.0,
        show_default=True,
        help="Seconds between progress lines on stderr when it is not a terminal (a bar "
        "otherwise).",
    )(f)


def quiet_option(f):
    return click.option("--quiet", "-q", is_flag=True, help="No progress bar or messages.")(f)


def verbose_option(f):
    return click.option(
        "--verbose", "-v", is_flag=True, help="Log every committed work unit on stderr."
    )(f)


#: The cohort's input files: (name, required, help).  One declaration serves 'segqtl ingest'
#: and the drop-in (which also takes each as --val_<name> for validate's second cohort).
INPUTS = (
    ("genotypes", True, "Folder with chr<C>_ALTlr.csv and chr<C>_REFlr.csv."),
    ("quantifications", True, "Phenotype CSV: chr,start,end,gene_id,<samples>."),
    ("covariates", False, "Sample covariates CSV (first line: sample IDs; then name,values)."),
    ("copynumber", False, "Gene copy number (CNlr) CSV: gene_id,<samples>."),
    ("segmentation", True, "Segments CSV: sample,chr,startpos,endpos."),
    ("phenotype_covariate", False, "Phenotype-level covariate CSV: gene_id,<samples>."),
)
INPUT_FIELDS = tuple(name for name, _, _ in INPUTS)


def _flags(name: str, style: str) -> list[str]:
    """Both spellings of a flag, the command line's own first."""
    kebab, snake = f"--{name.replace('_', '-')}", f"--{name.replace('-', '_')}"
    if kebab == snake:
        return [kebab]
    return [snake, kebab] if style == "dropin" else [kebab, snake]


def input_options(style: str = "native", *, prefix: str = "", required: bool = True):
    """The input-file options (``prefix="val_"``: the validation cohort's, never required)."""

    def decorate(f):
        for name, needed, text in reversed(INPUTS):
            help_text = f"validate: the validation cohort's {name}." if prefix else text
            f = click.option(
                *_flags(prefix + name, style),
                prefix + name,
                required=needed and required and not prefix,
                type=click.Path(),
                help=help_text,
            )(f)
        return f

    return decorate


def collect_inputs(f):
    """Hand a command its six input-file options as one ``inputs`` (:class:`CohortInputs`)."""

    @functools.wraps(f)
    def wrapper(*args, **kwargs):
        from .ingest import CohortInputs

        paths = {name: kwargs.pop(name) for name in INPUT_FIELDS}
        return f(*args, inputs=CohortInputs(**paths), **kwargs)

    return wrapper


def param_options(style: str):
    """Add every run parameter the command line offers (:func:`segqtl.modes.params`), each
    with both spellings; the command receives them by their RunSpec field names."""

    def decorate(f):
        for p in reversed(list(modes.params().values())):
            if not (p.dropin if style == "dropin" else p.native):
                continue
            kwargs: dict = {"help": p.help}
            if p.type is bool:
                kwargs["is_flag"] = True
            elif p.optional_value is not None:
                kwargs.update(is_flag=False, flag_value="__all__", default=None)
            else:
                kwargs["type"] = {int: int, float: float}.get(p.type, str)
                if p.default is not None:
                    kwargs.update(default=p.default, show_default=True)
            if p.metavar:
                kwargs["metavar"] = p.metavar
            f = click.option(*_flags(p.cli_name or p.name, style), p.name, **kwargs)(f)
        return f

    return decorate


def spec_values(kwargs: dict) -> dict:
    """Pop the run parameters from a command's keyword arguments, as RunSpec values."""
    values = {}
    for p in modes.params().values():
        if p.name in kwargs:
            value = kwargs.pop(p.name)
            if p.optional_value is not None:
                value = convert_all_variants(value)
            values[p.name] = value
    return values


def handle_errors(f):
    """Turn segqtl errors into one-line messages with their exit codes."""

    @functools.wraps(f)
    def wrapper(*args, **kwargs):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("always")
                # shown when raised, so a warning is not lost if the command then fails
                warnings.showwarning = lambda message, *a, **k: _msg(f"warning: {message}")
                return f(*args, **kwargs)
        except SegqtlError as exc:
            _msg(f"error: {exc}")
            sys.exit(exc.exit_code)
        except KeyboardInterrupt:
            _msg("interrupted; committed work is kept (resume with 'segqtl run --resume RUN_ID')")
            sys.exit(130)
        except BrokenPipeError:
            # The reader of stdout went away (e.g. '| head'): stop quietly, as the Python docs
            # advise, pointing stdout at devnull so the interpreter's final flush cannot fail.
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            sys.exit(1)
        except Exception as exc:  # an internal error: one line unless debugging
            if os.environ.get("SEGQTL_DEBUG"):
                raise
            _msg(f"internal error: {type(exc).__name__}: {exc} (set SEGQTL_DEBUG=1 for details)")
            sys.exit(70)

    return wrapper


@click.group(cls=_Group, context_settings=CONTEXT)
@click.version_option(__version__, prog_name="segqtl")
def cli():
    """segqtl: segmentation-aware QTL mapping in a DuckDB warehouse.

    Run 'segqtl COMMAND --help' for a command's options, or 'python -m segqtl --mode ...' with
    SegmentQTL's flags for the drop-in.
    """


# ------------------------------------------------------------------------------------ simulate
@cli.command(context_settings=CONTEXT)
@click.option(
    "--out",
    "out_dir",
    required=True,
    type=click.Path(file_okay=False),
    help="Folder to write the cohort into.",
)
@click.option("--seed", default=1, show_default=True, help="Random seed.")
@click.option("--samples", default=120, show_default=True, help="Number of samples.")
@click.option(
    "--chromosomes", default="1,2", show_default=True, help="Comma-separated chromosomes."
)
@click.option("--phenotypes", default=40, show_default=True, help="Phenotypes per chromosome.")
@click.option("--variants", default=150, show_default=True, help="Variants per chromosome.")
@click.option(
    "--chromosome-length",
    default=20_000_000,
    show_default=True,
    help="Length of each chromosome (bp).",
)
@click.option(
    "--breakpoints",
    default=4.0,
    show_default=True,
    help="Mean copy-number breakpoints per sample and chromosome.",
)
@click.option(
    "--missing-rate", default=0.0, show_default=True, help="Fraction of missing genotype cells."
)
@click.option(
    "--causal-fraction",
    default=0.5,
    show_default=True,
    help="Fraction of phenotypes with a planted cis effect.",
)
@click.option("--phenotype-covariate", is_flag=True, help="Also write phenotype_covariate.csv.")
@click.option(
    "--validation-samples",
    default=0,
    show_default=True,
    help="Also write a validation cohort of this many samples into OUT/val.",
)
@handle_errors
def simulate(
    out_dir,
    seed,
    samples,
    chromosomes,
    phenotypes,
    variants,
    chromosome_length,
    breakpoints,
    missing_rate,
    causal_fraction,
    phenotype_covariate,
    validation_samples,
):
    """Write a synthetic cohort in SegmentQTL's CSV layout (prints the folder)."""
    from .simulate import simulate_cohort

    try:
        cohort = simulate_cohort(
            out_dir,
            seed=seed,
            n_samples=samples,
            chromosomes=[c for c in chromosomes.split(",") if c],
            n_phenotypes=phenotypes,
            n_variants=variants,
            chromosome_length=chromosome_length,
            breakpoints_per_sample=breakpoints,
            missing_rate=missing_rate,
            causal_fraction=causal_fraction,
            phenotype_covariate=phenotype_covariate,
            n_validation_samples=validation_samples,
        )
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    click.echo(str(cohort.out_dir))


# -------------------------------------------------------------------------------------- ingest
@cli.command(context_settings=CONTEXT)
@click.option("--db", required=True, type=click.Path(dir_okay=False), help="Warehouse file.")
@click.option("--cohort", required=True, help="Name for the cohort in the warehouse.")
@input_options()
@click.option("--replace", is_flag=True, help="Replace an existing cohort of the same name.")
@quiet_option
@handle_errors
@collect_inputs
def ingest(
    db,
    cohort,
    inputs,
    replace,
    quiet,
):
    """Load one cohort's input files into the warehouse (all or nothing)."""
    from . import api

    res = api.ingest(db, cohort, inputs, replace=replace)
    if not quiet:
        _msg(
            f"cohort {res.cohort}: {res.n_samples} samples, {res.n_phenotypes} phenotypes, "
            f"{res.n_variants} variants on {', '.join(res.chromosomes)}"
        )
    click.echo(res.cohort)


# ----------------------------------------------------------------------------------------- run
def _mode_help(default: str) -> str:
    return (
        "Analysis mode: " + "; ".join(f"{m.name} ({m.help})" for m in modes.modes().values()) + "."
    )


@cli.command(context_settings=CONTEXT)
@click.option("--db", required=True, type=click.Path(dir_okay=False), help="Warehouse file.")
@click.option("--cohort", help="Cohort to analyse (validate: the discovery cohort).")
@click.option("--mode", default="nominal", show_default=True, help=_mode_help("nominal"))
@click.option(
    "--chromosome",
    "chromosomes",
    multiple=True,
    help="Chromosome (repeatable; 'all' = every chromosome with phenotypes).",
)
@param_options("native")
@click.option(
    "--resume",
    "resume_id",
    type=int,
    metavar="RUN_ID",
    help="Finish an interrupted run instead of starting one.",
)
@progress_option
@quiet_option
@verbose_option
@handle_errors
def run(db, cohort, mode, chromosomes, resume_id, progress_every, quiet, verbose, **params):
    """Record and execute a run; prints its run id on stdout."""
    from . import api
    from .spec import RunSpec

    log = (lambda s: _msg(s)) if verbose else None
    if resume_id is not None:
        if not quiet:
            _msg(f"run {resume_id} resumed")
        # flags typed with --resume change where the rest is computed (a new scheduler, ...)
        source = click.get_current_context().get_parameter_source
        typed = {
            k: v
            for k, v in spec_values(params).items()
            if source(k) is click.core.ParameterSource.COMMANDLINE
        }
        try:
            api.resume(
                db,
                resume_id,
                progress=not quiet,
                progress_every=progress_every,
                log=log,
                notify=None if quiet else _msg,
                execution=typed,
            )
        except SegqtlError as exc:
            raise _for_run(db, resume_id, exc) from None
        if not quiet:
            _report(db, resume_id)
        click.echo(resume_id)
        return
    if not cohort or not chromosomes:
        raise UsageError("give --cohort and --chromosome (or --resume RUN_ID)")
    modes.get(mode)
    if "all" in chromosomes:
        chromosomes = api.cohort_chromosomes(db, cohort)
    spec = RunSpec(mode=mode, cohort=cohort, chromosomes=list(chromosomes), **spec_values(params))
    created = []

    def started(run_id: int) -> None:
        created.append(run_id)
        if not quiet:
            _msg(f"run {run_id} started")

    try:
        run_id = api.run(
            db,
            spec,
            progress=not quiet,
            progress_every=progress_every,
            log=log,
            notify=None if quiet else _msg,
            on_created=started,
        )
    except (SegqtlError, KeyboardInterrupt) as exc:
        if created and _lost_scheduler(exc):  # one line, with the resume command
            raise _for_run(db, created[0], exc) from None
        if created:
            _msg(
                f"run {created[0]} stopped; resume it with 'segqtl run --db {db} --resume "
                f"{created[0]}'"
            )
        raise exc
    if not quiet:
        _report(db, run_id)
    click.echo(run_id)


def _lost_scheduler(exc: BaseException) -> bool:
    """Whether ``exc`` is a lost Dask scheduler (its module is loaded if it was raised)."""
    executors = sys.modules.get("segqtl.engine.executors")
    return executors is not None and isinstance(exc, executors.SchedulerLost)


def _for_run(db, run_id: int, exc: SegqtlError) -> SegqtlError:
    """A lost scheduler's error told for run ``run_id`` (units committed, the resume command);
    any other error unchanged."""
    from . import api

    if not _lost_scheduler(exc):
        return exc
    units = api.show(db, run_id)["units"]
    return exc.for_run(db, run_id, units["done"], units["planned"])


def _report(db, run_id: int) -> None:
    """One line on stderr with a completed run's totals (from the runs table)."""
    from . import api

    run = api.show(db, run_id)["run"]
    shard = run.get("shard_count")
    what = f"run {run_id} (shard {run['shard_index']}/{shard})" if shard else f"run {run_id}"
    merged = f" from {run['merged_shards']} shards" if run.get("merged_shards") else ""
    _msg(
        f"{what} completed{merged}: {run['n_phenotypes']} phenotypes, {run['n_pairs_tested']} "
        f"{modes.get(run['mode']).tested_as}, {run['n_pairs_skipped']} skipped, "
        f"{run['seconds']:.1f} s"
    )
    if shard:
        _msg(f"join the {shard} shards with 'segqtl merge --db DB SHARD_DB...'")


# --------------------------------------------------------------------------------------- merge
@cli.command(context_settings=CONTEXT)
@click.option(
    "--db",
    required=True,
    type=click.Path(dir_okay=False),
    help="Warehouse to merge into (created if missing; the run's cohorts are copied if absent).",
)
@click.argument("shards", metavar="SHARD_DB...", nargs=-1, required=True, type=click.Path())
@quiet_option
@handle_errors
def merge(db, shards, quiet):
    """Join the N shard runs of 'segqtl run --shard K/N' into one run; prints its run id.

    Each SHARD_DB is the warehouse of one shard (its latest shard run is taken).  Refuses
    missing, duplicated, unfinished or mismatched shards; computes the run-level results
    (q-values) over the merged run.  A refused or failed merge leaves --db as it was.
    """
    from . import api

    run_id = api.merge(db, list(shards), notify=None if quiet else _msg)
    if not quiet:
        _report(db, run_id)
    click.echo(run_id)


# -------------------------------------------------------------------------------------- export
@cli.command(context_settings=CONTEXT)
@click.option("--db", required=True, type=click.Path(dir_okay=False), help="Warehouse file.")
@click.option("--run", "run_id", required=True, type=int, help="Run id.")
@click.option(
    "--out-dir", required=True, type=click.Path(file_okay=False), help="Folder for the files."
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["csv", "tsv", "txt", "parquet"]),
    default="csv",
    show_default=True,
    help="csv: SegmentQTL's files; tsv: tab separated; txt: space separated (SNPTEST's "
    "convention); parquet: typed columns, for large results.",
)
@click.option("--gzip", is_flag=True, help="Compress the text formats (adds .gz).")
@click.option(
    "--metadata-header",
    is_flag=True,
    help="Start each file with '# key value' lines: run id, name, mode, parameters, versions, "
    "input checksums (parquet: key-value metadata).",
)
@handle_errors
def export(db, run_id, out_dir, fmt, gzip, metadata_header):
    """Write a run's results with SegmentQTL's file names and columns (prints the paths)."""
    from . import api

    paths = api.export(db, run_id, out_dir, fmt=fmt, gzip=gzip, metadata_header=metadata_header)
    for path in paths:
        click.echo(str(path))


# ----------------------------------------------------------------------------------------- fdr
@cli.command(context_settings=CONTEXT)
@click.option("--db", required=True, type=click.Path(dir_okay=False), help="Warehouse file.")
@click.option("--run", "run_id", required=True, type=int, help="Run id (best-variant or perm).")
@click.option("--fdr", "level", default=0.05, show_default=True, help="False discovery rate.")
@click.option("--out", type=click.Path(dir_okay=False), help="Also write the q-values as CSV.")
@handle_errors
def fdr(db, run_id, level, out):
    """Storey q-values over a run's chromosomes; prints pi0, threshold and hits (tab-separated)."""
    from . import api

    summary = api.fdr(db, run_id, level, out)
    click.echo("\t".join(["run_id", "fdr", "pi0", "p_threshold", "n_tests", "n_hits"]))
    click.echo(
        "\t".join(
            str(summary[k]) for k in ("run_id", "fdr", "pi0", "p_threshold", "n_tests", "n_hits")
        )
    )


# ---------------------------------------------------------------------------------------- runs
def format_option(f):
    return click.option(
        "--format",
        "fmt",
        type=click.Choice(list(FORMATS)),
        default="table",
        show_default=True,
        help="table (aligned, for reading), csv, tsv or json.",
    )(f)


@cli.command(context_settings=CONTEXT)
@click.option("--db", required=True, type=click.Path(dir_okay=False), help="Warehouse file.")
@format_option
@handle_errors
def runs(db, fmt):
    """List the runs in a warehouse: name, mode, cohorts, status, timings, counts."""
    from . import api
    from .output import format_frame

    click.echo(format_frame(api.list_runs(db), fmt))


# ------------------------------------------------------------------------------------- cohorts
@cli.command(context_settings=CONTEXT)
@click.option("--db", required=True, type=click.Path(dir_okay=False), help="Warehouse file.")
@format_option
@handle_errors
def cohorts(db, fmt):
    """List the ingested cohorts: samples, phenotypes, variants, chromosomes, checksum."""
    from . import api
    from .output import format_frame

    click.echo(format_frame(api.list_cohorts(db), fmt))


# ------------------------------------------------------------------------------------- upgrade
@cli.command(context_settings=CONTEXT)
@click.option("--db", required=True, type=click.Path(dir_okay=False), help="Warehouse file.")
@handle_errors
def upgrade(db):
    """Apply pending schema migrations to a warehouse (prints its schema version)."""
    from . import api

    click.echo(api.upgrade(db))


# ---------------------------------------------------------------------------------------- show
@cli.command(context_settings=CONTEXT)
@click.option("--db", required=True, type=click.Path(dir_okay=False), help="Warehouse file.")
@click.argument("run_id", metavar="RUN", type=int)
@click.option("--json", "as_json", is_flag=True, help="One JSON object instead of text.")
@handle_errors
def show(db, run_id, as_json):
    """Everything recorded about a run: status, timings, counts, parameters, checksums."""
    from . import api

    info = api.show(db, run_id)
    if as_json:
        click.echo(json.dumps(json_value(info), indent=1, ensure_ascii=False))
        return
    for section, values in info.items():
        click.echo(f"[{section}]")
        for key, value in values.items():
            if value is None:
                value = ""
            elif not isinstance(value, str):
                value = json.dumps(value, default=str) if section != "run" else str(value)
            click.echo(f"{escape_control(key)}\t{escape_control(value)}")
        click.echo("")


# --------------------------------------------------------------------------------------- query
@cli.command(context_settings=CONTEXT)
@click.option("--db", required=True, type=click.Path(dir_okay=False), help="Warehouse file.")
@click.argument("sql")
@format_option
@handle_errors
def query(db, sql, fmt):
    """Run one SQL statement on a read-only connection and print its rows.

    Works while a run works: it sees every committed unit (docs/concurrency.md).
    """
    from . import api
    from .output import format_frame

    click.echo(format_frame(api.query(db, sql), fmt))


# ------------------------------------------------------------------------------------- compare
@cli.command(context_settings=CONTEXT)
@click.option("--db", required=True, type=click.Path(dir_okay=False), help="Warehouse file.")
@click.argument("run_a", metavar="RUN_A", type=int)
@click.argument("run_b", metavar="RUN_B", type=int)
@click.option(
    "--fdr",
    default=0.05,
    show_default=True,
    help="Hit threshold for q-values / p_adj (see the README for each mode's rule).",
)
@click.option("--top", default=10, show_default=True, help="Largest changes to print.")
@handle_errors
def compare(db, run_a, run_b, fdr, top):
    """Compare two runs of the same mode (also across cohorts); stores and prints the result."""
    from . import api

    click.echo(api.format_comparison(api.compare(db, run_a, run_b, fdr=fdr, top=top)))


# ------------------------------------------------------------------------------------- summary
@cli.command(context_settings=CONTEXT)
@click.option("--db", required=True, type=click.Path(dir_okay=False), help="Warehouse file.")
@click.option("--cohort", required=True, help="Cohort name.")
@click.option("--chromosome", required=True, help="Chromosome, with or without 'chr'.")
@click.option(
    "--out", required=True, type=click.Path(dir_okay=False), help="Summary file to write."
)
@click.option(
    "--dosage",
    type=click.Choice(["d", "altlr", "reflr"]),
    default="d",
    show_default=True,
    help="d = REFlr - ALTlr, or one allele's log-ratio.",
)
@handle_errors
def summary(db, cohort, chromosome, out, dosage):
    """Per-variant dosage mean and standard deviation in pyhegp's summary-file format."""
    from . import api

    result = api.summary(db, cohort, chromosome, out, dosage=dosage)
    click.echo(str(result["path"]))


# ------------------------------------------------------------------------------------- drop-in
@click.command(
    cls=_DropinCommand,
    context_settings=CONTEXT,
    name="segqtl (SegmentQTL drop-in)",
    epilog="Every flag also takes the other spelling (--num-cores for --num_cores). The "
    "warehouse commands: 'segqtl --help'.",
)
@click.option("--mode", default="perm", show_default=True, help=_mode_help("perm"))
@click.option("--chromosome", required=True, help="Chromosome, with or without 'chr'.")
@input_options("dropin")
@click.option(
    "--out_dir",
    "--out-dir",
    "out_dir",
    required=True,
    type=click.Path(file_okay=False),
    help="Folder for SegmentQTL's output files (created if missing).",
)
@param_options("dropin")
@input_options("dropin", prefix="val_")
@click.option(
    "--db", type=click.Path(dir_okay=False), help="Warehouse file (default: OUT_DIR/segqtl.duckdb)."
)
@progress_option
@quiet_option
@handle_errors
@collect_inputs
def dropin(mode, chromosome, inputs, out_dir, db, progress_every, quiet, **params):
    """SegmentQTL-compatible command line: same flags, same output files, plus a warehouse.

    Runs one chromosome in --mode nominal, perm, finemap or validate and writes SegmentQTL's
    files into --out_dir; the inputs and results are kept in a DuckDB warehouse.
    """
    from . import api
    from .ingest import CohortInputs
    from .spec import RunSpec

    declared = modes.get(mode)
    val_paths = {name: params.pop(f"val_{name}") for name in INPUT_FIELDS}
    declared.check_dropin_inputs(inputs, val_paths, modes.flag_name)
    values = spec_values(params)
    if any(v is not None for v in val_paths.values()):
        values["validation_cohort"] = ""  # known after the ingest
    spec = RunSpec(mode=mode, cohort="", chromosomes=[chromosome], **values)
    api.validate(spec)  # before any ingest work
    db = db or str(Path(out_dir) / "segqtl.duckdb")
    cohort = api.ensure_cohort(db, inputs)
    if not quiet:
        _msg(f"{'reusing' if cohort.reused else 'ingested'} cohort {cohort.cohort} in {db}")
    spec.cohort = cohort.cohort
    if spec.validation_cohort is not None:
        val = api.ensure_cohort(db, CohortInputs(**val_paths))
        if not quiet:
            _msg(
                f"{'reusing' if val.reused else 'ingested'} validation cohort {val.cohort} in {db}"
            )
        spec.validation_cohort = val.cohort
    run_id = api.run(
        db,
        spec,
        progress=not quiet,
        progress_every=progress_every,
        notify=None if quiet else _msg,
        on_created=None if quiet else (lambda r: _msg(f"run {r} started")),
    )
    if not quiet:
        _msg(f"run {run_id} completed")
    for path in api.export(db, run_id, out_dir, record_seconds=True):
        click.echo(str(path))


def _click_error(exc: click.ClickException, style: str, args: list[str]) -> str:
    """A click parsing error as one line naming the flag as typed, with where to look."""
    text = " ".join(exc.format_message().split())
    param = getattr(exc, "param", None)
    if isinstance(exc, click.BadParameter) and param is not None and param.opts:
        spellings = [*param.opts, *param.secondary_opts]
        typed = next((a.split("=", 1)[0] for a in args if a.split("=", 1)[0] in spellings), None)
        flag = typed or _flags(param.opts[0].lstrip("-"), style)[0]
        text = f"invalid value for {flag}: {exc.message}"
    ctx = getattr(exc, "ctx", None)
    where = ctx.command_path if ctx is not None else ""
    return f"{text.rstrip('.')}. Fix: see '{where} --help'" if where else text


def main(argv: list[str] | None = None, prog: str = "segqtl") -> None:
    """Entry point: the drop-in for SegmentQTL-style flags, the command group otherwise.

    ``prog`` is how the user called segqtl; ``python -m segqtl --help`` (the drop-in's name)
    shows the drop-in's flags, ``segqtl --help`` the commands.
    """
    args = sys.argv[1:] if argv is None else list(argv)
    dropin_help = prog != "segqtl" and args[:1] in (["--help"], ["-h"])
    use_dropin = dropin_help or (
        bool(args) and args[0].startswith("--") and args[0] not in ("--help", "--version")
    )
    style = "dropin" if use_dropin else "native"
    modes.set_cli(style, args)
    command = dropin if use_dropin else cli
    name = "python -m segqtl" if use_dropin else prog
    try:
        code = command.main(args=args, prog_name=name, standalone_mode=False)
    except click.exceptions.Abort:
        _msg("interrupted")
        sys.exit(130)
    except click.ClickException as exc:
        _msg(f"error: {_click_error(exc, style, args)}")
        sys.exit(exc.exit_code)
    if isinstance(code, int) and code:
        sys.exit(code)
