"""Command line: thin click commands over :mod:`segqtl.api`.

``segqtl <command> ...`` is the native interface; ``python -m segqtl --mode ...`` (or
``segqtl --mode ...``) is the SegmentQTL drop-in.  stdout carries data (run ids, file paths,
tables), stderr carries progress and messages.  Errors are one line, never a traceback.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import sys
import warnings
from pathlib import Path

import click

from . import __version__, api
from .errors import SegqtlError, UsageError
from .ingest import CohortInputs
from .output import FORMATS, escape_control, format_frame, json_value
from .spec import RunSpec

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


def _msg(text: str) -> None:
    click.echo(f"segqtl: {text}", err=True)


def _progress_wanted(quiet: bool) -> bool:
    return not quiet and sys.stderr.isatty()


def quiet_option(f):
    return click.option("--quiet", "-q", is_flag=True, help="No progress bar or messages.")(f)


def verbose_option(f):
    return click.option(
        "--verbose", "-v", is_flag=True, help="Log every committed work unit on stderr."
    )(f)


INPUT_FIELDS = (
    "genotypes",
    "quantifications",
    "segmentation",
    "covariates",
    "copynumber",
    "phenotype_covariate",
)


def collect_inputs(f):
    """Hand a command its six input-file options as one ``inputs`` (:class:`CohortInputs`)."""

    @functools.wraps(f)
    def wrapper(*args, **kwargs):
        paths = {name: kwargs.pop(name) for name in INPUT_FIELDS}
        return f(*args, inputs=CohortInputs(**paths), **kwargs)

    return wrapper


def handle_errors(f):
    """Turn segqtl errors into one-line messages with their exit codes."""

    @functools.wraps(f)
    def wrapper(*args, **kwargs):
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                result = f(*args, **kwargs)
            for w in caught:
                _msg(f"warning: {w.message}")
            return result
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


@click.group(context_settings=CONTEXT)
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
def input_options(f):
    opts = [
        click.option(
            "--genotypes",
            required=True,
            type=click.Path(),
            help="Folder with chr<C>_ALTlr.csv and chr<C>_REFlr.csv.",
        ),
        click.option(
            "--quantifications",
            required=True,
            type=click.Path(),
            help="Phenotype CSV: chr,start,end,gene_id,<samples>.",
        ),
        click.option(
            "--segmentation",
            required=True,
            type=click.Path(),
            help="Segments CSV: sample,chr,startpos,endpos.",
        ),
        click.option("--covariates", type=click.Path(), help="Sample covariates CSV."),
        click.option("--copynumber", type=click.Path(), help="Gene copy number (CNlr) CSV."),
        click.option(
            "--phenotype-covariate",
            "--phenotype_covariate",
            "phenotype_covariate",
            type=click.Path(),
            help="Phenotype-level covariate CSV.",
        ),
    ]
    for opt in reversed(opts):
        f = opt(f)
    return f


@cli.command(context_settings=CONTEXT)
@click.option("--db", required=True, type=click.Path(dir_okay=False), help="Warehouse file.")
@click.option("--cohort", required=True, help="Name for the cohort in the warehouse.")
@input_options
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
    res = api.ingest(db, cohort, inputs, replace=replace)
    if not quiet:
        _msg(
            f"cohort {res.cohort}: {res.n_samples} samples, {res.n_phenotypes} phenotypes, "
            f"{res.n_variants} variants on {', '.join(res.chromosomes)}"
        )
    click.echo(res.cohort)


# ----------------------------------------------------------------------------------------- run
# finemap's options (SPEC_FINEMAP_VALIDATE §3-§10): name -> help; defaults come from RunSpec.
FINEMAP_HELP = {
    "alpha_en": "finemap: elastic-net mixing, 1 = lasso, 0 = ridge.",
    "coverage_tau": "finemap: keep variants observed in >= max(30, floor(tau * n)) of n samples.",
    "n_bootstrap": "finemap: stability-selection subsamples (drawn without replacement).",
    "subsample_frac": "finemap: subsample size max(30, floor(frac * n)); in (0, 1].",
    "n_lambda": "finemap: lambda grid points, log-spaced down from lambda_max (2 at least).",
    "lambda_ratio": "finemap: smallest lambda as a fraction of lambda_max.",
    "cv_tau": "finemap: largest lambda with 5-fold CV error <= min + cv_tau * (null - min).",
    "min_obs_boot": "finemap: in a subsample, drop variants observed in fewer samples.",
    "compute_r2": "finemap: also report in-sample R2 without and with the stable variants.",
    "r2_stability_threshold": "finemap: stability score a selected variant needs for the R2.",
    "phenotype_id": "finemap/validate: this phenotype only (same seeds as a full run; files get "
    "_<ID>).",
}

# validate's options (SPEC_FINEMAP_VALIDATE §11-§13): name -> help; defaults come from RunSpec.
# The first three are native only: the drop-in ingests --val_* files as the validation cohort
# and has no warehouse runs to reuse.
VALIDATE_HELP = {
    "validation_cohort": "validate: the ingested validation cohort.",
    "finemap_run": "validate: take the models from this completed finemap run of --cohort "
    "(recommended).",
    "finemap_results_dir": "validate: take the models from DIR/finemap_<C>.csv (SegmentQTL's "
    "files); without it or --finemap-run they are re-fitted.",
    "validation_mode": "validate: recalibrated (re-fit the covariates on the validation cohort) "
    "or frozen (the main cohort's covariate model).",
    "validate_with_bootstrap": "validate: zero the betas of variants with stability_score below "
    "--validation-stability-threshold.",
    "validation_stability_threshold": "validate: stability a variant needs to keep its beta.",
    "restrict_to_supported_phenotypes": "validate: skip phenotypes without support in the "
    "finemap results (needs them).",
    "support_definition": "validate: support = some stability_score >= --support-min-stability "
    "(stability) or some nonzero beta_full (selected).",
    "support_min_stability": "validate: stability score that counts as support.",
    "bootstrap_ci": "validate: bootstrap CIs of R2 and the calibration slope.",
    "n_boot_ci": "validate: bootstrap resamples for the CIs.",
    "n_permutations": "validate: permutations for p-values of R2 and rho (0 = none).",
    "save_model_audit": "validate: also write validate_model_<C>.csv (the fitted models).",
}
NATIVE_ONLY = ("validation_cohort", "finemap_run")
VALIDATE_FLAGS = (
    "validate_with_bootstrap",
    "restrict_to_supported_phenotypes",
    "bootstrap_ci",
    "save_model_audit",
)
VAL_INPUT_FIELDS = tuple(f"val_{name}" for name in INPUT_FIELDS)


def finemap_options(*, dropin: bool = False):
    """Add finemap's options: ``--alpha-en`` (also ``--alpha_en``) ..., or SegmentQTL's
    ``--alpha_en`` ... only for the drop-in.  The command receives them by their field names."""
    defaults = {f.name: f.default for f in dataclasses.fields(RunSpec)}

    def decorate(f):
        for name in reversed(FINEMAP_HELP):
            names = [f"--{name}"] if dropin else [f"--{name.replace('_', '-')}", f"--{name}"]
            kwargs: dict = {"help": FINEMAP_HELP[name]}
            if name == "compute_r2":
                kwargs["is_flag"] = True
            elif name == "phenotype_id":
                kwargs["metavar"] = "GENE"
            else:
                kwargs.update(default=defaults[name], show_default=True)
            f = click.option(*names, name, **kwargs)(f)
        return f

    return decorate


def validate_options(*, dropin: bool = False):
    """Add validate's options: ``--validation-mode`` (also ``--validation_mode``) ..., or
    SegmentQTL's ``--validation_mode`` ... only (and no ``--validation_cohort``/``--finemap_run``)
    for the drop-in.  The command receives them by their field names."""
    defaults = {f.name: f.default for f in dataclasses.fields(RunSpec)}

    def decorate(f):
        for name in reversed(VALIDATE_HELP):
            if dropin and name in NATIVE_ONLY:
                continue
            names = [f"--{name}"] if dropin else [f"--{name.replace('_', '-')}", f"--{name}"]
            kwargs: dict = {"help": VALIDATE_HELP[name]}
            if name in VALIDATE_FLAGS:
                kwargs["is_flag"] = True
            elif name == "validation_cohort":
                kwargs["metavar"] = "NAME"
            elif name == "finemap_run":
                kwargs.update(type=int, metavar="RUN_ID")
            elif name == "finemap_results_dir":
                kwargs["metavar"] = "DIR"
            else:
                kwargs.update(default=defaults[name], show_default=True)
            f = click.option(*names, name, **kwargs)(f)
        return f

    return decorate


@cli.command(context_settings=CONTEXT)
@click.option("--db", required=True, type=click.Path(dir_okay=False), help="Warehouse file.")
@click.option("--cohort", help="Cohort to analyse (validate: the discovery cohort).")
@click.option(
    "--mode",
    type=click.Choice(["nominal", "perm", "finemap", "validate"]),
    default="nominal",
    show_default=True,
    help="Analysis mode.",
)
@click.option(
    "--perm-method",
    default="beta",
    show_default=True,
    help="perm mode: beta (beta approximation) or direct (empirical) adjusted p-values.",
)
@click.option(
    "--num-permutations", default=5000, show_default=True, help="perm mode: permutations."
)
@click.option(
    "--seed",
    default=12345,
    show_default=True,
    help="perm mode: permutations use numpy default_rng(seed + phenotype row).",
)
@click.option(
    "--chromosome",
    "chromosomes",
    multiple=True,
    help="Chromosome (repeatable; 'all' = every chromosome with phenotypes).",
)
@click.option(
    "--all-variants",
    is_flag=False,
    flag_value="__all__",
    default=None,
    metavar="[GENE]",
    help="Report every cis variant (of GENE only, if given).",
)
@click.option("--record-aic", is_flag=True, help="Also report AIC of null and alternative models.")
@click.option(
    "--neg-control",
    is_flag=True,
    help="Trans negative control: variants of the next chromosome, no segment filter.",
)
@click.option(
    "--neg-control-max-variants",
    default=2000,
    show_default=True,
    help="With --neg-control: test at most this many trans variants per phenotype.",
)
@click.option("--window", default=1_000_000, show_default=True, help="cis window (bp).")
@click.option(
    "--min-samples",
    default=30,
    show_default=True,
    help="Fewest usable samples for a variant to be tested.",
)
@finemap_options()
@validate_options()
@click.option("--num-cores", default=1, show_default=True, help="Worker processes.")
@click.option(
    "--unit-size",
    type=int,
    help="Phenotypes per work unit (default: 25; finemap: 1; validate: 5). Each unit is one "
    "commit.",
)
@click.option(
    "--name", help="A label for the run (SNPTEST's analysis_name), shown by 'runs' and exports."
)
@click.option(
    "--resume",
    "resume_id",
    type=int,
    metavar="RUN_ID",
    help="Finish an interrupted run instead of starting one.",
)
@quiet_option
@verbose_option
@handle_errors
def run(
    db,
    cohort,
    mode,
    perm_method,
    num_permutations,
    seed,
    chromosomes,
    all_variants,
    record_aic,
    neg_control,
    neg_control_max_variants,
    window,
    min_samples,
    num_cores,
    unit_size,
    name,
    resume_id,
    quiet,
    verbose,
    **finemap,
):
    """Record and execute a run; prints its run id on stdout."""
    log = (lambda s: _msg(s)) if verbose else None
    if resume_id is not None:
        api.resume(db, resume_id, progress=_progress_wanted(quiet), log=log)
        if not quiet:
            _report(db, resume_id)
        click.echo(resume_id)
        return
    if not cohort or not chromosomes:
        raise UsageError("give --cohort and --chromosome (or --resume RUN_ID)")
    if "all" in chromosomes:
        chromosomes = api.cohort_chromosomes(db, cohort)
    spec = RunSpec(
        mode=mode,
        cohort=cohort,
        chromosomes=list(chromosomes),
        window=window,
        min_samples=min_samples,
        all_variants=(True if all_variants == "__all__" else (all_variants or False)),
        record_aic=record_aic,
        neg_control=neg_control,
        neg_control_max_variants=neg_control_max_variants,
        num_permutations=num_permutations,
        perm_method=perm_method,
        seed=seed,
        num_cores=num_cores,
        phenotypes_per_unit=unit_size,
        name=name,
        **finemap,
    )
    created = []
    try:
        run_id = api.run(
            db, spec, progress=_progress_wanted(quiet), log=log, on_created=created.append
        )
    except (SegqtlError, KeyboardInterrupt) as exc:
        if created:
            _msg(
                f"run {created[0]} stopped; resume it with 'segqtl run --db {db} --resume "
                f"{created[0]}'"
            )
        raise exc
    if not quiet:
        _report(db, run_id)
    click.echo(run_id)


# What runs.n_pairs_tested / n_pairs_skipped count in each mode (the units' status counts).
TESTED_AS = {
    "nominal": "pairs tested",
    "perm": "pairs tested",
    "finemap": "(phenotype, variant) rows fitted",
    "validate": "phenotypes scored",
}


def _report(db, run_id: int) -> None:
    """One line on stderr with a completed run's totals (from the runs table)."""
    run = api.show(db, run_id)["run"]
    _msg(
        f"run {run_id} completed: {run['n_phenotypes']} phenotypes, {run['n_pairs_tested']} "
        f"{TESTED_AS.get(run['mode'], 'tested')}, {run['n_pairs_skipped']} skipped, "
        f"{run['seconds']:.1f} s"
    )


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
    click.echo(format_frame(api.list_runs(db), fmt))


# ------------------------------------------------------------------------------------- cohorts
@cli.command(context_settings=CONTEXT)
@click.option("--db", required=True, type=click.Path(dir_okay=False), help="Warehouse file.")
@format_option
@handle_errors
def cohorts(db, fmt):
    """List the ingested cohorts: samples, phenotypes, variants, chromosomes, checksum."""
    click.echo(format_frame(api.list_cohorts(db), fmt))


# ------------------------------------------------------------------------------------- upgrade
@cli.command(context_settings=CONTEXT)
@click.option("--db", required=True, type=click.Path(dir_okay=False), help="Warehouse file.")
@handle_errors
def upgrade(db):
    """Apply pending schema migrations to a warehouse (prints its schema version)."""
    click.echo(api.upgrade(db))


# ---------------------------------------------------------------------------------------- show
@cli.command(context_settings=CONTEXT)
@click.option("--db", required=True, type=click.Path(dir_okay=False), help="Warehouse file.")
@click.argument("run_id", metavar="RUN", type=int)
@click.option("--json", "as_json", is_flag=True, help="One JSON object instead of text.")
@handle_errors
def show(db, run_id, as_json):
    """Everything recorded about a run: status, timings, counts, parameters, checksums."""
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

    Works while no run is writing the warehouse; a running job's lock gives a clear message.
    """
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
    result = api.summary(db, cohort, chromosome, out, dosage=dosage)
    click.echo(str(result["path"]))


# ------------------------------------------------------------------------------------- drop-in
@click.command(context_settings=CONTEXT, name="segqtl (SegmentQTL drop-in)")
@click.option(
    "--mode",
    default="perm",
    show_default=True,
    help="nominal, perm, finemap or validate (validate: when this version has its worker).",
)
@click.option("--chromosome", required=True, help="Chromosome, with or without 'chr'.")
@click.option("--genotypes", required=True, type=click.Path())
@click.option("--quantifications", required=True, type=click.Path())
@click.option("--covariates", type=click.Path())
@click.option("--copynumber", type=click.Path())
@click.option("--segmentation", required=True, type=click.Path())
@click.option("--phenotype_covariate", type=click.Path())
@click.option("--out_dir", required=True, type=click.Path(file_okay=False))
@click.option("--all_variants", is_flag=False, flag_value="__all__", default=None, metavar="[GENE]")
@click.option("--record_aic", is_flag=True)
@click.option("--neg_control", is_flag=True)
@click.option("--neg_control_max_variants", default=2000, show_default=True)
@click.option("--window", default=1_000_000, show_default=True)
@click.option("--num_cores", default=1, show_default=True)
@click.option("--perm_method", default="beta", show_default=True)
@click.option("--num_permutations", default=5000, show_default=True)
@finemap_options(dropin=True)
@click.option("--val_genotypes", type=click.Path(), help="validate: the validation cohort's files.")
@click.option("--val_quantifications", type=click.Path())
@click.option("--val_covariates", type=click.Path())
@click.option("--val_copynumber", type=click.Path())
@click.option("--val_segmentation", type=click.Path())
@click.option("--val_phenotype_covariate", type=click.Path())
@validate_options(dropin=True)
@click.option(
    "--db", type=click.Path(dir_okay=False), help="Warehouse file (default: OUT_DIR/segqtl.duckdb)."
)
@click.option("--name", help="A label for the run (SNPTEST's analysis_name), shown by 'runs'.")
@click.option("--quiet", "-q", is_flag=True)
@handle_errors
@collect_inputs
def dropin(
    mode,
    chromosome,
    inputs,
    out_dir,
    all_variants,
    record_aic,
    neg_control,
    neg_control_max_variants,
    window,
    num_cores,
    perm_method,
    num_permutations,
    db,
    name,
    quiet,
    **finemap,
):
    """SegmentQTL-compatible command line: same flags, same output files, plus a warehouse."""
    if mode not in api.available_modes():
        raise UsageError(
            f"--mode {mode} is not available in this version of segqtl "
            f"(available: {', '.join(api.available_modes())})"
        )
    if mode == "perm" and inputs.copynumber is None:
        raise UsageError("--mode perm requires --copynumber to be specified")
    val_paths = {name[4:]: finemap.pop(name) for name in VAL_INPUT_FIELDS}
    val_inputs = None
    if mode == "validate":
        missing = [
            f"--val_{name}"
            for name in ("genotypes", "quantifications", "segmentation")
            if val_paths[name] is None
        ]
        if missing:
            raise UsageError(
                f"--mode validate requires {', '.join(missing)}. Fix: give the validation "
                "cohort's files with --val_genotypes, --val_quantifications and --val_segmentation"
            )
        val_inputs = CohortInputs(**val_paths)
        finemap["validation_cohort"] = ""  # known after the ingest
    elif any(v is not None for v in val_paths.values()):
        given = next(f"--val_{k}" for k, v in val_paths.items() if v is not None)
        raise UsageError(f"{given} is a validate option. Fix: use --mode validate, or drop it")
    spec = RunSpec(
        mode=mode,
        cohort="",  # known after the ingest
        chromosomes=[chromosome],
        window=window,
        all_variants=(True if all_variants == "__all__" else (all_variants or False)),
        record_aic=record_aic,
        neg_control=neg_control,
        neg_control_max_variants=neg_control_max_variants,
        num_permutations=num_permutations,
        perm_method=perm_method,
        num_cores=num_cores,
        name=name,
        **finemap,
    )
    api.validate(spec)  # before any ingest work
    db = db or str(Path(out_dir) / "segqtl.duckdb")
    cohort = api.ensure_cohort(db, inputs)
    if not quiet:
        _msg(f"{'reusing' if cohort.reused else 'ingested'} cohort {cohort.cohort} in {db}")
    spec.cohort = cohort.cohort
    if val_inputs is not None:
        val = api.ensure_cohort(db, val_inputs)
        if not quiet:
            _msg(
                f"{'reusing' if val.reused else 'ingested'} validation cohort {val.cohort} in {db}"
            )
        spec.validation_cohort = val.cohort
    run_id = api.run(db, spec, progress=_progress_wanted(quiet))
    if not quiet:
        _msg(f"run {run_id} completed")
    for path in api.export(db, run_id, out_dir):
        click.echo(str(path))


def main(argv: list[str] | None = None) -> None:
    """Entry point: the drop-in for SegmentQTL-style flags, the command group otherwise."""
    args = sys.argv[1:] if argv is None else argv
    if args and args[0].startswith("--") and args[0] not in ("--help", "--version"):
        dropin.main(args=args, prog_name="python -m segqtl")
    else:
        cli.main(args=args, prog_name="segqtl")
