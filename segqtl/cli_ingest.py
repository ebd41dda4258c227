"""``segqtl ingest --control`` / conventions flags, and ``segqtl bundle`` (issue 15).

Thin over :func:`segqtl.api.ingest_control`, :func:`segqtl.api.ingest_files` and
:func:`segqtl.api.bundle`; registered by the import at the end of :mod:`segqtl.cli`.
"""

from __future__ import annotations

import click

from segqtl.cli import CONTEXT, INPUTS, _flags, _msg, cli, db_option, handle_errors, quiet_option
from segqtl.errors import UsageError


def run_ingest(db, cohort, inputs, control, sep, na_strings, comment_char, replace):
    """The ``ingest`` command's work: a control file/bundle, conventions flags, or plain files.

    Without ``--control`` and conventions flags, files are still looked at (first block
    only): canonical ones take the plain ingest unchanged, others (BOM, CRLF, quotes, another
    separator, comment lines) are converted as with the flags.
    """
    from . import api

    given = [name for name, _, _ in INPUTS if getattr(inputs, name) is not None]
    conventions = [
        flag
        for flag, value in (
            ("--sep", sep),
            ("--na-strings", na_strings),
            ("--comment-char", comment_char),
        )
        if value is not None
    ]
    if control is not None:
        if given:
            raise UsageError(
                f"--control names the input files itself; {_flags(given[0], 'native')[0]} "
                "was given too. Fix: pass either --control or the input-file flags, not both"
            )
        if conventions:
            raise UsageError(
                f"{conventions[0]} does not apply with --control. Fix: write it in the control "
                "file (sep, na.strings, comment.char)"
            )
        return api.ingest_control(db, cohort, control, replace=replace)
    missing = [name for name, needed, _ in INPUTS if needed and name not in given]
    if missing:
        flags = ", ".join(_flags(m, "native")[0] for m in missing)
        raise UsageError(
            f"missing {flags}. Fix: pass --genotypes, --quantifications and --segmentation "
            "(or --control cohort.yaml naming them)"
        )
    na = None
    if na_strings is not None:
        na = [s.strip() for s in na_strings.split(",") if s.strip()]
    return api.ingest_files(
        db,
        cohort,
        inputs,
        sep=sep,
        na_strings=na,
        comment_char=comment_char,
        replace=replace,
    )


@cli.command(context_settings=CONTEXT)
@db_option()
@click.option("--cohort", required=True, help="The cohort to write out.")
@click.option(
    "--out",
    required=True,
    type=click.Path(dir_okay=False),
    help="The bundle to write (.zip: cohort.yaml + SegmentQTL CSVs).",
)
@quiet_option
@handle_errors
def bundle(db, cohort, out, quiet):
    """Write a cohort as a bundle that 'segqtl ingest --control' reads back."""
    from . import api

    if not str(out).lower().endswith(".zip"):
        raise UsageError(f"--out {out!r} must end in .zip. Fix: pass --out {out}.zip")
    res = api.bundle(db, cohort, out)
    if not quiet:
        _msg(f"bundle of cohort {cohort}: {len(res['files'])} files (checksum {res['checksum']})")
    click.echo(out)
