"""Command line: thin click commands over :mod:`segqtl.api`.

``segqtl <command> ...`` is the native interface; ``python -m segqtl --mode ...`` (or
``segqtl --mode ...``) is the SegmentQTL drop-in.  stdout carries data (run ids, file paths,
tables), stderr carries progress and messages.  Errors are one line, never a traceback.
"""

from __future__ import annotations

import sys

if sys.argv[1:2] == ["query"]:
    # DuckDB's engine starts loading now, beside the command line's imports (issue 13)
    from .warehouse import engine_start

    engine_start.start()

import functools
import gc
import os
import warnings
from pathlib import Path

import click

from . import __version__, modes
from .chromosomes import asks_for_many, parse_chromosomes, plain_chromosomes
from .errors import SegqtlError, UsageError
from .modes.parameters import convert_all_variants
from .output import FORMATS, escape_control, json_value

# The library API (DuckDB, polars, the engine) is imported inside the commands that use it, so
# that 'segqtl --help', '--version' and the read commands start fast.

#: Most rows --top may ask for (compare, report): a bound, so that no SQL LIMIT overflows.
TOP_MAX = 1_000_000_000

#: Largest simulated cohort: each size, and genotype cells (samples × variants × chromosomes,
#: about 50 bytes of CSV text each), so that a typo cannot fill the memory or the disk.
SIMULATE_MAX = {"samples": 100_000, "phenotypes": 100_000, "variants": 10_000_000,
                "cells": 200_000_000}  # fmt: skip
#: simulate_cohort's argument names -> the flags they come from (its messages name them).
_SIMULATE_FLAGS = {
    "n_validation_samples": "--validation-samples",
    "n_samples": "--samples",
    "n_phenotypes": "--phenotypes",
    "n_variants": "--variants",
    "chromosome_length": "--chromosome-length",
    "breakpoints_per_sample": "--breakpoints",
    "missing_rate": "--missing-rate",
    "causal_fraction": "--causal-fraction",
    "chromosome names": "--chromosomes",
    "chromosomes": "--chromosomes",
}

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


def top_option(default: int, help_text: str):
    """``--top N`` (compare, report, plot), bounded by :data:`TOP_MAX`."""
    return click.option(
        "--top",
        default=default,
        show_default=True,
        type=click.IntRange(0, TOP_MAX),
        help=help_text,
    )


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

    def add_command(self, cmd, name=None):
        """Register a command, holding it to the habits every command shares (issue 20):
        its ``--db`` defaults to ``$SEGQTL_DB`` (:func:`db_option`), and an integer run flag
        (``--run``, ``--run-b``, ``--perm-run``, ...) takes any run reference
        (:func:`run_option`), so a command declared with plain click options behaves as one
        declared with those helpers."""
        runs = False
        for p in cmd.params:
            if not isinstance(p, click.Option):
                continue
            if p.name == "db" and p.envvar is None and p.required:
                p.envvar, p.show_envvar, p.required = DB_ENV, True, False
                p.callback = p.callback or _require_db
            if p.type is click.INT and any(_is_run_flag(o) for o in p.opts):
                p.type, p.metavar, runs = RUN_REF, "RUN", True
                if (p.help or "run id").lower().startswith("run id"):
                    p.help = f"The run: {RUN_HELP}."
                else:
                    p.help = f"{p.help.rstrip('.')}; RUN is {RUN_HELP}."
        if runs and cmd.callback is not None:
            cmd.callback = resolve_runs(cmd.callback)
        super().add_command(cmd, name)


def _is_run_flag(opt: str) -> bool:
    """``--run``, ``--run-b``, ``--run_b``, ``--perm-run``, ``--finemap_run``, ..."""
    words = opt.lstrip("-").replace("_", "-").split("-")
    return "run" in words


def _msg(text: str) -> None:
    click.echo(f"segqtl: {text}", err=True)


class _Seconds(click.FloatRange):
    """Seconds, at least 0: click's FloatRange lets NaN through (no comparison is true)."""

    def convert(self, value, param, ctx):
        rv = super().convert(value, param, ctx)
        if rv != rv:
            self.fail(f"{value!r} is not a number of seconds", param, ctx)
        return rv


def progress_option(f):
    return click.option(
        "--progress-every",
        "--progress_every",
        "progress_every",
        type=_Seconds(min=0),
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


#: The environment variable that gives ``--db`` when the flag is left out.
DB_ENV = "SEGQTL_DB"


def _nonempty_db(ctx, param, value):
    if value is not None and not str(value).strip():  # Path("") would be the working folder
        raise click.UsageError("--db is empty. Fix: give --db the warehouse file", ctx)
    return value


def _require_db(ctx, param, value):
    if value is None:
        raise click.UsageError(
            f"no warehouse given. Fix: add --db WAREHOUSE.duckdb, or set {DB_ENV}="
            "WAREHOUSE.duckdb in the environment",
            ctx,
        )
    return _nonempty_db(ctx, param, value)


def db_option(help_text: str = "Warehouse file.", *, required: bool = True):
    """``--db``, defaulting to ``$SEGQTL_DB``; missing both is a one-line error (unless not
    ``required``: the drop-in's ``--db`` defaults to ``OUT_DIR/segqtl.duckdb``)."""
    return click.option(
        "--db",
        type=click.Path(dir_okay=False),
        envvar=DB_ENV if required else None,
        show_envvar=required,
        callback=_require_db if required else _nonempty_db,
        help=help_text,
    )


class RunRef(click.ParamType):
    """A run as the user names it: its id, its ``--name``, ``last`` or ``last-<mode>``.

    The text is kept as typed and resolved against the command's warehouse by
    :func:`run_option` (:func:`segqtl.api.resolve_run`), once every flag is parsed.
    """

    name = "run"

    def get_metavar(self, param, ctx=None):
        return "RUN"

    def convert(self, value, param, ctx):
        text = str(value).strip()
        if not text:
            self.fail("is empty; give a run id, a run name, 'last' or 'last-MODE'", param, ctx)
        return _Unresolved(text)


class _Unresolved(str):
    """A run reference not yet resolved against the warehouse."""


RUN_REF = RunRef()

#: How a run may be named, for help texts.
RUN_HELP = "a run id, a run's --name, 'last' or 'last-MODE' (e.g. last-perm)"


def resolve_runs(f):
    """Resolve every run reference among a command's arguments (:class:`RunRef` values, alone
    or in tuples) against its ``--db``, before the command runs; errors are one line.

    :func:`run_option` adds it; a command with run arguments of its own (``show``,
    ``compare``) applies it once, directly above :func:`handle_errors`.
    """
    if getattr(f, "_resolves_runs", False):
        return f

    @functools.wraps(f)
    def wrapper(*args, **kwargs):
        db = kwargs.get("db")
        todo = [
            k
            for k, v in kwargs.items()
            if isinstance(v, _Unresolved)
            or (isinstance(v, tuple) and any(isinstance(x, _Unresolved) for x in v))
        ]
        if todo:
            from . import api

            def one(v):
                if not isinstance(v, _Unresolved):
                    return v
                # an id needs no lookup: the command says if there is no such run
                return int(v) if v.isdigit() else api.resolve_run(db, v)

            for k in todo:
                v = kwargs[k]
                kwargs[k] = tuple(one(x) for x in v) if isinstance(v, tuple) else one(v)
        return f(*args, **kwargs)

    wrapper._resolves_runs = True
    return handle_errors(wrapper)


def run_option(*decls: str, required: bool = True, help_text: str = "", **kwargs):
    """A run option (``--run`` by default) taking :class:`RunRef`: the command receives the
    run id (an int), resolved against its ``--db``.

    ``run_option()`` gives ``--run`` as ``run_id``; ``run_option("--perm-run", "perm_run")``
    another flag.  Put it below ``@db_option()`` and above ``@handle_errors``.
    """
    decls = decls or ("--run", "run_id")
    text = help_text or "The run"
    option = click.option(
        *decls,
        type=RUN_REF,
        required=required,
        help=f"{text}: {RUN_HELP}.",
        **kwargs,
    )

    def decorate(f):
        return option(resolve_runs(f))

    return decorate


def chromosome_option(help_text: str = "", **kwargs):
    """``--chromosome``, repeatable, each value ``all``, ``8``/``chr8``, ``1,2`` or ``1-5``
    (:func:`segqtl.chromosomes.parse_chromosomes` reads them)."""
    return click.option(
        "--chromosome",
        "chromosomes",
        multiple=True,
        metavar="CHR",
        help=help_text or "Chromosomes: 8 or chr8, lists (1,2), ranges (1-5) or all; repeatable.",
        **kwargs,
    )


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
            elif p.multiple:  # repeatable: the values reach the RunSpec joined by commas
                kwargs.update(multiple=True, type=str)
            elif p.metavar == "FILE":  # one list file: given twice is refused (spec_values)
                kwargs.update(multiple=True, type=str)
            elif p.optional_value is not None:
                kwargs.update(is_flag=False, flag_value="__all__", default=None)
            elif p.metavar == "RUN_ID" and style == "native":  # a run: id, name or last-MODE
                kwargs.update(type=RUN_REF, metavar="RUN")
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
            if p.multiple and not isinstance(value, str | None):
                value = ",".join(value) or None
            elif p.metavar == "FILE" and not isinstance(value, str | None):
                if len(value) > 1:  # click would keep the last one silently
                    raise UsageError(
                        f"{modes.flag_name(p.name)} given {len(value)} times; it takes one "
                        "file. Fix: give it once (concatenate the lists into one file)"
                    )
                value = value[0] if value else None
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
        except KeyboardInterrupt as exc:
            # Ctrl-C, or SIGTERM/SIGHUP during a run (segqtl.engine.runner.Interrupted): one
            # line, and the shell's code for the signal (130 SIGINT, 143 SIGTERM, 129 SIGHUP)
            signum = getattr(exc, "signum", 2)
            name = {1: "SIGHUP", 2: "SIGINT", 15: "SIGTERM"}.get(signum, f"signal {signum}")
            run_id = getattr(exc, "run_id", None)
            if run_id is None:
                _msg(f"interrupted ({name})")
            else:
                db = getattr(exc, "db", None)
                where = f"--db {db} " if db is not None else ""
                _msg(
                    f"interrupted ({name}): run {run_id} stopped, its committed units are kept. "
                    f"Resume it with 'segqtl run {where}--resume {run_id}'"
                )
            sys.exit(128 + signum)
        except BrokenPipeError:
            # The reader of stdout went away (e.g. '| head'): stop quietly, as the Python docs
            # advise, pointing stdout at devnull so the interpreter's final flush cannot fail.
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            sys.exit(1)
        except Exception as exc:  # an internal error: one line unless debugging
            text = " ".join(str(exc).split())
            if getattr(exc, "errno", None) == 28 or "No space left on device" in text:
                # a full disk (ENOSPC) under a file a command writes (--out, --out-dir, --db)
                where = getattr(exc, "filename", None)
                _msg(
                    f"error: no space left on the device{f' of {where}' if where else ''}: "
                    f"{text}. Fix: free space there, or write to a folder with more room"
                )
                sys.exit(1)
            if isinstance(exc, RuntimeError) and text.startswith("Query interrupted"):
                # Ctrl-C while DuckDB ran a statement: DuckDB stops it and raises this
                _msg("interrupted (SIGINT)")
                sys.exit(130)
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
def _size_option(flag: str, default: int, kind: str, help_text: str, *, low: int = 1):
    """A simulate size flag, bounded by :data:`SIMULATE_MAX` ``[kind]``."""
    return click.option(
        flag,
        default=default,
        show_default=True,
        type=click.IntRange(low, SIMULATE_MAX[kind]),
        help=help_text,
    )


@cli.command(context_settings=CONTEXT)
@click.option(
    "--out",
    "out_dir",
    required=True,
    type=click.Path(file_okay=False),
    help="Folder to write the cohort into.",
)
@click.option("--seed", default=1, show_default=True, help="Random seed.")
@_size_option("--samples", 120, "samples", "Number of samples.")
@click.option(
    "--chromosomes", default="1,2", show_default=True, help="Comma-separated chromosomes."
)
@_size_option("--phenotypes", 40, "phenotypes", "Phenotypes per chromosome.")
@_size_option("--variants", 150, "variants", "Variants per chromosome.")
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
@_size_option(
    "--validation-samples",
    0,
    "samples",
    "Also write a validation cohort of this many samples into OUT/val.",
    low=0,
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
    from .api import check_out_dir
    from .simulate import simulate_cohort

    check_out_dir(out_dir, "--out")
    chromosomes = [c for c in chromosomes.split(",") if c]
    cells = max(samples, validation_samples) * variants * (len(chromosomes) or 1)
    if cells > SIMULATE_MAX["cells"]:
        raise UsageError(
            f"--samples × --variants × chromosomes is {cells:,} genotype cells, more than "
            f"{SIMULATE_MAX['cells']:,}. Fix: simulate fewer samples or variants"
        )
    try:
        cohort = simulate_cohort(
            out_dir,
            seed=seed,
            n_samples=samples,
            chromosomes=chromosomes,
            n_phenotypes=phenotypes,
            n_variants=variants,
            chromosome_length=chromosome_length,
            breakpoints_per_sample=breakpoints,
            missing_rate=missing_rate,
            causal_fraction=causal_fraction,
            phenotype_covariate=phenotype_covariate,
            n_validation_samples=validation_samples,
        )
    except ValueError as exc:  # named as the command's flags, with where to look
        text = str(exc)
        for name, flag in _SIMULATE_FLAGS.items():
            text = text.replace(name, flag)
        raise UsageError(f"{text}. Fix: see 'segqtl simulate --help'") from None
    click.echo(str(cohort.out_dir))


# -------------------------------------------------------------------------------------- ingest
@cli.command(context_settings=CONTEXT)
@db_option()
@click.option("--cohort", required=True, help="Name for the cohort in the warehouse.")
@input_options(required=False)
@click.option(
    "--control",
    type=click.Path(),
    help="Control file (.yaml/.json) or bundle (.zip) naming the input files (instead of them).",
)
@click.option("--sep", help="Field separator of every input file: ',', ';', tab or space.")
@click.option("--na-strings", "--na_strings", help="Extra missing-value spellings: NA,-")
@click.option("--comment-char", "--comment_char", help="Lines starting with it are comments.")
@click.option(
    "--replace",
    is_flag=True,
    help="Replace an existing cohort of the same name (refused when runs use it and the files "
    "differ: their results would be relabelled).",
)
@quiet_option
@handle_errors
@collect_inputs
def ingest(
    db,
    cohort,
    inputs,
    control,
    sep,
    na_strings,
    comment_char,
    replace,
    quiet,
):
    """Load one cohort's input files into the warehouse (all or nothing)."""
    from .cli_ingest import run_ingest

    res = run_ingest(db, cohort, inputs, control, sep, na_strings, comment_char, replace)
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
@db_option()
@click.option("--cohort", help="Cohort to analyse (validate: the discovery cohort).")
@click.option("--mode", default="nominal", show_default=True, help=_mode_help("nominal"))
@chromosome_option(
    "Chromosomes to analyse: 8 or chr8, lists (1,2), ranges (1-5) or all (every chromosome "
    "with phenotypes and genotypes); repeatable."
)
@param_options("native")
@run_option(
    "--resume",
    "resume_id",
    required=False,
    help_text="Finish an interrupted or failed run instead of starting one",
)
@progress_option
@quiet_option
@verbose_option
@handle_errors
def run(db, cohort, mode, chromosomes, resume_id, progress_every, quiet, verbose, **params):
    """Record and execute a run; prints its run id on stdout."""
    if resume_id is None:
        _prestart_pool(mode, params)  # first: the workers' imports overlap the parent's
    from . import api
    from .spec import RunSpec

    log = (lambda s: _msg(s)) if verbose else None
    if resume_id is not None:
        # flags typed with --resume change where the rest is computed (a new scheduler, ...)
        source = click.get_current_context().get_parameter_source
        _check_resume_identity(db, resume_id, source, mode, cohort, chromosomes)
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
                started=None if quiet else (lambda r: _msg(f"run {r} resumed")),
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
    # 'all' or a range: chromosomes the run's selection empties are left out, not refused
    skip_emptied = asks_for_many(chromosomes)
    # single chromosomes are checked when the run is planned, before anything is recorded;
    # 'all', lists and ranges need the cohort's chromosomes first
    chromosomes = plain_chromosomes(chromosomes) or parse_chromosomes(
        chromosomes, api.cohort_chromosomes(db, cohort), where=f"cohort {cohort!r}"
    )
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
            skip_emptied=skip_emptied,
        )
    except (SegqtlError, KeyboardInterrupt) as exc:
        if created and _lost_scheduler(exc):  # one line, with the resume command
            raise _for_run(db, created[0], exc) from None
        if created and isinstance(exc, SegqtlError) and "--resume" not in str(exc):
            # one line: the error, then how to resume (an interrupt's line says it itself)
            folded = SegqtlError(
                f"{exc} (run {created[0]} stopped; resume it with 'segqtl run --db {db} "
                f"--resume {created[0]}')"
            )
            folded.exit_code = exc.exit_code
            raise folded from None
        raise exc
    if not quiet:
        _report(db, run_id)
    click.echo(run_id)


def _check_resume_identity(db, run_id, source, mode, cohort, chromosomes) -> None:
    """--mode, --cohort and --chromosome typed with --resume must be what the run is (the
    original command line with --resume added works); another value is refused in one line,
    never ignored."""
    from . import api
    from .chromosomes import chromosome_pieces, normalize_chromosome

    commandline = click.core.ParameterSource.COMMANDLINE
    typed = [n for n in ("mode", "cohort", "chromosomes") if source(n) is commandline]
    if not typed:
        return
    run = api.run_identity(db, run_id)
    for name in typed:
        if name == "mode":
            flag, ok, recorded = "--mode", mode == run["mode"], run["mode"]
        elif name == "cohort":
            flag, ok, recorded = "--cohort", cohort in run["cohorts"], run["cohorts"][-1]
        else:
            # 'all' or a range names the run's chromosomes as planned (some may have been
            # left out then); a list must name exactly them
            named = {normalize_chromosome(p) for p in chromosome_pieces(chromosomes) if p}
            ok = asks_for_many(chromosomes) or named == set(run["chromosomes"])
            flag, recorded = "--chromosome", ",".join(run["chromosomes"])
        if not ok:
            raise UsageError(
                f"{flag} cannot change when run {run_id} resumes (it was {recorded}): its units "
                f"were planned with the recorded value. Fix: drop {flag}, or start a new run"
            )


def _prestart_pool(mode: str, params: dict) -> None:
    """Start the worker pool's fork server before anything else when the run will use one
    (pool executor, several cores): its imports then overlap the parent's own imports and
    planning (segqtl/engine/pool.py: prestart).  A wrong value is left to the checks."""
    if mode not in modes.modes():
        return
    from .engine import pool

    pool.prestart(
        list(modes.get(mode).preload),
        cores=params.get("num_cores"),
        executor=params.get("executor", "pool"),
    )


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
        f"{run['seconds']:.1f} s{_fdr_text(api.fdr_summary(db, run_id))}"
    )
    if shard:
        _msg(f"join the {shard} shards with 'segqtl merge --db DB SHARD_DB...'")


def _fdr_text(f: dict | None) -> str:
    """The run's q-value outcome for its closing line ('' when it has none): pi0 and the hits
    at the run's FDR (eGenes for phenotype q-values, pairs for pair q-values)."""
    if not f:
        return ""
    what = "significant pairs" if f.get("scope") == "pair" else "eGenes"
    unstable = " (unstable)" if f.get("pi0_unstable") else ""
    return f"; pi0 {f['pi0']:.4g}{unstable}, {f['n_hits']} {what} at FDR {f['fdr']:g}"


# --------------------------------------------------------------------------------------- merge
@cli.command(context_settings=CONTEXT)
@db_option(
    "Warehouse to merge into (created if missing; the run's cohorts, and a derived cohort's "
    "source, are copied if absent)."
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
@db_option()
@run_option()
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
@click.option(
    "--layout",
    type=click.Choice(["segmentqtl", "tensorqtl"]),
    default="segmentqtl",
    show_default=True,
    help="segmentqtl: SegmentQTL's files; tensorqtl: tensorQTL's <prefix>.cis_qtl.txt.gz (perm "
    "runs) or <prefix>.cis_qtl_pairs.<chr>.parquet (all-variants runs), for coloc/SuSiE.",
)
@click.option("--prefix", help="File name prefix of the tensorqtl layout (default: run<RUN>).")
@chromosome_option("Only these of the run's chromosomes: 8 or chr8, 1,2, 1-5 or all; repeatable.")
@handle_errors
def export(db, run_id, out_dir, fmt, gzip, metadata_header, layout, prefix, chromosomes):
    """Write a run's results with SegmentQTL's file names and columns (prints the paths)."""
    from . import api

    paths = api.export(
        db,
        run_id,
        out_dir,
        fmt=fmt,
        gzip=gzip,
        metadata_header=metadata_header,
        layout=layout,
        prefix=prefix,
        chromosomes=chromosomes or None,
    )
    for path in paths:
        click.echo(str(path))


# ----------------------------------------------------------------------------------------- fdr
@cli.command(context_settings=CONTEXT)
@db_option()
@run_option(help_text="The run (perm, or all-variants nominal)")
@click.option("--fdr", "level", default=0.05, show_default=True, help="False discovery rate.")
@click.option(
    "--method",
    type=click.Choice(["storey", "bh"]),
    default="storey",
    show_default=True,
    help="storey: Storey q-values (pi0 estimated); bh: Benjamini-Hochberg (pi0 = 1).",
)
@click.option(
    "--qvalue-lambda",
    "--qvalue_lambda",
    "qvalue_lambda",
    type=float,
    help="Fix lambda of Storey's pi0 = #{p >= lambda} / ((1 - lambda) m), as qvalue's "
    "lambda= and tensorQTL's --qvalue_lambda (default: chosen by the bootstrap).",
)
@click.option("--out", type=click.Path(dir_okay=False), help="Also write the q-values as CSV.")
@handle_errors
def fdr(db, run_id, level, method, qvalue_lambda, out):
    """q-values over a run's chromosomes: per phenotype (perm runs) or per pair (all-variants
    nominal runs); prints the summary (tab-separated, NA where a value does not apply)."""
    from . import api

    summary = api.fdr(db, run_id, level, out, method=method, qvalue_lambda=qvalue_lambda)
    keys = (
        "run_id", "fdr", "method", "scope", "pi0", "pi0_method", "pi0_lambda", "pi0_unstable",
        "p_threshold", "n_tests", "n_hits",
    )  # fmt: skip
    click.echo("\t".join(keys))
    click.echo("\t".join(_na(summary.get(k)) for k in keys))
    if summary.get("pi0_unstable"):
        hint = (
            "fix lambda with --qvalue-lambda 0.5, or use --method bh (pi0 = 1, conservative)"
            if summary["pi0_method"] == "bootstrap"
            else "--method bh (pi0 = 1) is the conservative choice"
        )
        _msg(
            f"warning: the pi0 estimate {summary['pi0']:.4g} is unstable: "
            f"{summary['pi0_unstable_reason']}. Fix: {hint}"
        )


def _na(value) -> str:
    """A value in tab-separated output: NA when missing, true/false for booleans."""
    if value is None or (isinstance(value, float) and value != value):
        return "NA"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


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
@db_option()
@format_option
@handle_errors
def runs(db, fmt):
    """List the runs in a warehouse: name, mode, cohorts, status, timings, counts."""
    from . import api
    from .output import format_frame

    click.echo(format_frame(api.list_runs(db), fmt))


# ------------------------------------------------------------------------------------- cohorts
@cli.command(context_settings=CONTEXT)
@db_option()
@format_option
@handle_errors
def cohorts(db, fmt):
    """List the ingested cohorts: samples, phenotypes, variants, chromosomes, checksum."""
    from . import api
    from .output import format_frame

    click.echo(format_frame(api.list_cohorts(db), fmt))


# ------------------------------------------------------------------------------------- upgrade
@cli.command(context_settings=CONTEXT)
@db_option()
@handle_errors
def upgrade(db):
    """Apply pending schema migrations to a warehouse (prints its schema version)."""
    from . import api

    click.echo(api.upgrade(db))


# ---------------------------------------------------------------------------------------- show
@cli.command(context_settings=CONTEXT)
@db_option()
@click.argument("run_arg", metavar="[RUN]", required=False, type=RUN_REF)
@click.option("--run", "run_opt", type=RUN_REF, help=f"The run: {RUN_HELP} (or give it as RUN).")
@click.option(
    "--all", "all_parameters", is_flag=True, help="Every parameter, also those of other modes."
)
@click.option("--json", "as_json", is_flag=True, help="One JSON object instead of text.")
@resolve_runs
@handle_errors
def show(db, run_arg, run_opt, all_parameters, as_json):
    """Everything recorded about a run: status, outcome (hits, pi0, phenotypes by status),
    timings, the parameters that apply to its mode, checksums.

    RUN is a run id, a run's --name, 'last' or 'last-MODE' (e.g. last-perm).
    """
    import json

    from . import api

    run_id = _one_run(run_arg, run_opt)
    info = api.show(db, run_id, all_parameters=all_parameters)
    if as_json:
        click.echo(json.dumps(json_value(info), indent=1, ensure_ascii=False))
        return
    for section, values in info.items():
        click.echo(f"[{section}]")
        for key, value in values.items():
            if value is None and section != "parameters" and not all_parameters:
                continue  # unset columns (no error, not a shard, ...); all of them with --all
            if value is None:
                value = ""
            elif not isinstance(value, str):
                value = json.dumps(value, default=str) if section != "run" else str(value)
            click.echo(f"{escape_control(key)}\t{escape_control(value)}")
        click.echo("")


def _one_run(positional, option) -> int:
    """The run given as an argument or as ``--run`` (exactly one of them)."""
    if (positional is None) == (option is None):
        raise UsageError(
            "give one run, as RUN or --run RUN. Fix: e.g. 'segqtl show --db DB last' or "
            "'segqtl show --db DB --run 3'"
        )
    return positional if option is None else option


# --------------------------------------------------------------------------------------- query
@cli.command(context_settings=CONTEXT)
@db_option()
@click.argument("sql")
@format_option
@handle_errors
def query(db, sql, fmt):
    """Run one SQL statement on a read-only connection and print its rows.

    Works while a run works: it sees every committed unit (docs/concurrency.md).
    """
    from . import api

    click.echo(api.query_text(db, sql, fmt))


# ------------------------------------------------------------------------------------- compare
@cli.command(context_settings=CONTEXT)
@db_option()
@click.argument("run_args", metavar="[RUN_A RUN_B]", nargs=-1, type=RUN_REF)
@click.option(
    "--run",
    "run_opts",
    multiple=True,
    type=RUN_REF,
    help=f"A run to compare, given twice (or as RUN_A RUN_B): {RUN_HELP}.",
)
@click.option(
    "--fdr",
    default=0.05,
    show_default=True,
    help="Hit threshold for q-values / p_adj (docs/results.md: each mode's rule).",
)
@top_option(10, "Largest changes to print.")
@resolve_runs
@handle_errors
def compare(db, run_args, run_opts, fdr, top):
    """Compare two runs of the same mode (also across cohorts); stores and prints the result.

    Each run is a run id, a run's --name, 'last' or 'last-MODE' (e.g. last-perm).
    """
    from . import api

    runs = [*run_args, *run_opts]
    if len(runs) != 2:
        raise UsageError(
            f"compare takes two runs, got {len(runs)}. Fix: give RUN_A RUN_B (or --run A --run B)"
        )
    run_a, run_b = runs

    click.echo(api.format_comparison(api.compare(db, run_a, run_b, fdr=fdr, top=top)))


# ------------------------------------------------------------------------------------- summary
@cli.command(context_settings=CONTEXT)
@db_option()
@click.option("--cohort", required=True, help="Cohort name.")
@chromosome_option(
    "Chromosomes to summarise, one after the other in the file: 8 or chr8, lists (1,2), "
    "ranges (1-5) or all (every chromosome with variants); repeatable.",
    required=True,
)
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
def summary(db, cohort, chromosomes, out, dosage):
    """Per-variant dosage mean and standard deviation in pyhegp's summary-file format."""
    from . import api

    result = api.summary(db, cohort, list(chromosomes), out, dosage=dosage)
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
@chromosome_option(
    "Chromosome, with or without 'chr'; also lists (1,2), ranges (1-5), all (every chromosome "
    "of --quantifications) or repeated: one run over them, one file per chromosome.",
    required=True,
)
@input_options("dropin")
@click.option(
    "--out_dir",
    "--out-dir",
    "out_dir",
    required=True,
    type=click.Path(file_okay=False),
    help="Folder for SegmentQTL's output files (created if missing).",
)
@click.option("--sep", help="Field separator of every input file: ',', ';', tab or space.")
@click.option("--na_strings", "--na-strings", help="Extra missing-value spellings: NA,-")
@click.option("--comment_char", "--comment-char", help="Lines starting with it are comments.")
@param_options("dropin")
@input_options("dropin", prefix="val_")
@click.option(
    "--db", type=click.Path(dir_okay=False), help="Warehouse file (default: OUT_DIR/segqtl.duckdb)."
)
@progress_option
@quiet_option
@handle_errors
@collect_inputs
def dropin(mode, chromosomes, inputs, out_dir, db, progress_every, quiet, **params):
    """SegmentQTL-compatible command line: same flags, same output files, plus a warehouse.

    Runs one chromosome in --mode nominal, perm, finemap or validate and writes SegmentQTL's
    files into --out_dir; the inputs and results are kept in a DuckDB warehouse.  Input files
    are read as 'segqtl ingest' reads them (conventions detected, or --sep, --na_strings,
    --comment_char).
    """
    _prestart_pool(mode, params)  # first: the workers' imports overlap the ingest checks
    from . import api
    from .ingest import CohortInputs
    from .spec import RunSpec

    declared = modes.get(mode)
    val_paths = {name: params.pop(f"val_{name}") for name in INPUT_FIELDS}
    declared.check_dropin_inputs(inputs, val_paths, modes.flag_name)
    # file conventions are ingest options, not run parameters: passed on only when given
    given = {k: params.pop(k) for k in ("sep", "na_strings", "comment_char")}
    conventions = {k: v for k, v in given.items() if v is not None}
    values = spec_values(params)
    if any(v is not None for v in val_paths.values()):
        values["validation_cohort"] = ""  # known after the ingest
    # every argument is checked against the input files before anything is ingested
    spec = RunSpec(
        mode=mode,
        cohort="",
        chromosomes=api.check_dropin_chromosomes(inputs, chromosomes, values, mode, **conventions),
        **values,
    )
    api.validate(spec)  # before any ingest work
    api.check_dropin_paths(out_dir, db)
    db = db or str(Path(out_dir) / "segqtl.duckdb")
    cohort = api.ensure_cohort(db, inputs, **conventions)
    if not quiet:
        _msg(f"{'reusing' if cohort.reused else 'ingested'} cohort {cohort.cohort} in {db}")
    spec.cohort = cohort.cohort
    if spec.validation_cohort is not None:
        val = api.ensure_cohort(db, CohortInputs(**val_paths), **conventions)
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
        skip_emptied=asks_for_many(chromosomes),  # 'all' or a range
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
        if isinstance(param, click.Argument):  # named as the usage line shows it
            flag = f"argument {param.human_readable_name.strip('[].')}"
        else:
            spellings = [*param.opts, *param.secondary_opts]
            typed = next(
                (a.split("=", 1)[0] for a in args if a.split("=", 1)[0] in spellings), None
            )
            flag = typed or _flags(param.opts[0].lstrip("-"), style)[0]
        if isinstance(exc, click.MissingParameter):  # its message is empty
            text = f"missing {flag}"
        else:
            text = f"invalid value for {flag}: {exc.message}"
    if "Fix:" in text:  # the message has its own fix
        return text
    ctx = getattr(exc, "ctx", None)
    where = ctx.command_path if ctx is not None else ""
    return f"{text.rstrip('.')}. Fix: see '{where} --help'" if where else text


def main(argv: list[str] | None = None, prog: str = "segqtl") -> None:
    """Entry point: the drop-in for SegmentQTL-style flags, the command group otherwise.

    ``prog`` is how the user called segqtl; ``python -m segqtl --help`` (the drop-in's name)
    shows the drop-in's flags, ``segqtl --help`` the commands.
    """
    args = sys.argv[1:] if argv is None else list(argv)
    _check_utf8(args)
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
    if argv is None and args[:1] == ["query"] and "duckdb" not in sys.modules:
        # The process ends next. Its last garbage collection would walk every object left,
        # about 10 ms (issue 13: one phenotype's pairs in under 0.2 s). Nothing of this command
        # needs it: the connection is closed and the rows are written. Not after duckdb's
        # relation layer ran (a result polars renders): its objects sit in reference cycles
        # that this collection frees, and DuckDB's bindings report them as leaks otherwise.
        gc.freeze()
    if argv is None and (use_dropin or args[:1] == ["run"]) and not dropin_help:
        _end_run_process()


def _check_utf8(args: list[str]) -> None:
    """Stop with a usage error (exit 2) at the first argument that is not UTF-8 text.

    Python keeps undecodable bytes of argv as lone surrogates; DuckDB, polars and the files
    segqtl writes all take UTF-8, so such an argument could only fail later, as an internal
    error.
    """
    for i, arg in enumerate(args, 1):
        try:
            arg.encode("utf-8")
        except UnicodeEncodeError as exc:
            raw = arg[exc.start : exc.end].encode("utf-8", "surrogateescape")
            lo = max(0, exc.start - 40)  # the text around the first bad byte
            part = arg[lo : exc.start + 20].encode("utf-8", "surrogateescape")
            shown = ("..." if lo else "") + part.decode("utf-8", "backslashreplace")
            _msg(
                f"error: argument {i} ({shown}) is not UTF-8 text (byte 0x{raw[0]:02x} at "
                f"character {exc.start + 1}). Fix: pass it in UTF-8 (rename a file whose name "
                "is not UTF-8)"
            )
            sys.exit(2)


def _end_run_process() -> None:
    """End a finished run's process without Python's shutdown.

    A run's work is committed and its warehouse closed when its command returns.  Python's
    shutdown would still free every object of numpy, polars, duckdb and the kernels one by
    one: 0.15-0.2 s of a perm or nominal run on the benchmark's cohort, with nothing left to
    do.  What the shutdown does that matters is done here first, in its order: threading's
    shutdown (other threads are waited for, their exit hooks run), the exit handlers (logging,
    multiprocess's pool and fork-server cleanup), then stdout and stderr are flushed.  A
    stream that cannot be flushed ends the process with code 1 if its reader went away (as
    :func:`handle_errors` does) and 120 otherwise (as Python does).
    """
    import atexit
    import threading

    threading._shutdown()
    atexit._run_exitfuncs()
    code = 0
    for stream in (sys.stdout, sys.stderr):
        if stream is None:  # closed when the process started (``>&-``)
            continue
        try:
            stream.flush()
        except BrokenPipeError:
            code = code or 1
        except (OSError, ValueError):
            code = code or 120
    os._exit(code)


# The commands declared in their own modules register themselves on the group when imported.
from segqtl import cli_ingest, cli_plot, cli_signif  # noqa: E402,F401
