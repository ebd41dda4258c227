"""``segqtl signif``: significant variant-phenotype pairs of a perm run and an all-variants
nominal run (thin over :func:`segqtl.api.signif`)."""

from __future__ import annotations

import click

from .cli import CONTEXT, _msg, cli, db_option, handle_errors, run_option


@cli.command(context_settings=CONTEXT)
@db_option()
@run_option(
    "--perm-run",
    "perm_run",
    help_text="A: the perm run (beta method) whose q-values select the phenotypes",
)
@run_option(
    "--nominal-run",
    "nominal_run",
    help_text="B: the all-variants nominal run of the same cohort and model giving the pairs",
)
@click.option(
    "--fdr", "level", default=0.05, show_default=True, help="q-value level of the phenotypes."
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False),
    help="Write the CSV to this file (whole or not at all) instead of stdout.",
)
@handle_errors
def signif(db, perm_run, nominal_run, level, out):
    """Significant pairs, as tensorQTL's get_significant_pairs: for every phenotype of the perm
    run with q <= FDR, every pair of the nominal run with nominal p <= the phenotype's
    threshold (Beta quantile at the run's adjusted-p cut-off).  CSV on stdout (or --out); the
    request is kept: SELECT * FROM significant_pairs WHERE signif_id = N."""
    from . import api

    summary = api.signif(db, perm_run, nominal_run, level, out=out)
    if out is None:
        click.echo(summary.pop("csv"), nl=False)
    threshold = summary["p_threshold"]
    _msg(
        f"signif {summary['signif_id']}: {summary['n_phenotypes']} phenotypes of run "
        f"{perm_run} at FDR {level:g} (adjusted-p threshold "
        f"{'NA' if threshold is None else f'{threshold:.4g}'}), {summary['n_pairs']} pairs of "
        f"run {nominal_run}; in SQL: SELECT * FROM significant_pairs WHERE signif_id = "
        f"{summary['signif_id']}"
    )
