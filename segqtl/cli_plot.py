"""``segqtl plot`` and ``segqtl report``: figures and the HTML report of a run.

Thin commands over :func:`segqtl.api.plot` and :func:`segqtl.api.report`; both read the
warehouse only and print the path they wrote on stdout.
"""

from __future__ import annotations

import click

from .cli import CONTEXT, cli, handle_errors, top_option
from .plots.kinds import KINDS

_KIND_HELP = "\n\n".join(f"{k.name}: {k.help}" for k in KINDS.values())


@cli.command(
    context_settings=CONTEXT,
    help=f"""Draw one plot of a run into a PNG, SVG or PDF
file (prints its path).

KIND is one of:

{_KIND_HELP}""",
)
@click.argument("kind", type=click.Choice(list(KINDS)), metavar="KIND")
@click.option("--db", required=True, type=click.Path(dir_okay=False), help="Warehouse file.")
@click.option("--run", "run_id", required=True, type=int, help="Run id.")
@click.option(
    "--run-b",
    "--run_b",
    "run_b",
    type=int,
    help="compare: the second run (compare the two with 'segqtl compare' first).",
)
@click.option(
    "--phenotype",
    help="locus: the phenotype (gene_id), required; stability, calibration: one phenotype.",
)
@click.option(
    "--finemap-run",
    "--finemap_run",
    "finemap_run",
    type=int,
    help="locus: the finemap run whose selected variants to mark (default: the newest "
    "completed finemap run of the cohort that fitted the phenotype).",
)
@click.option(
    "--out",
    required=True,
    type=click.Path(dir_okay=False),
    help="File to write: .png, .svg or .pdf (written under a temporary name, then renamed).",
)
@handle_errors
def plot(kind, db, run_id, run_b, phenotype, finemap_run, out):
    from . import api

    path = api.plot(
        db, kind, run_id, out, run_b=run_b, phenotype=phenotype, finemap_run=finemap_run
    )
    click.echo(str(path))


@cli.command(context_settings=CONTEXT)
@click.option("--db", required=True, type=click.Path(dir_okay=False), help="Warehouse file.")
@click.option("--run", "run_id", required=True, type=int, help="Run id.")
@click.option(
    "--run-b",
    "--run_b",
    "run_b",
    type=int,
    help="A comparison report of --run against this run (compare them with 'segqtl compare' "
    "first).",
)
@top_option(50, "Rows of the top-results table.")
@click.option(
    "--out",
    required=True,
    type=click.Path(dir_okay=False),
    help="HTML file to write (.html; written under a temporary name, then renamed).",
)
@handle_errors
def report(db, run_id, run_b, top, out):
    """Write a run's report as one self-contained HTML page (prints its path).

    The page has the run's parameters and provenance, counts by status, the mode's plots, the
    top results as a sortable table and, for perm runs, the eGene list; figures are inline,
    nothing is loaded from the network, so it opens in any browser and can be mailed.
    """
    from . import api

    click.echo(str(api.report(db, run_id, out, run_b=run_b, top=top)))
