"""The library API: everything the command line does, callable from Python or a notebook.

Typical use (docs/your-own-data.md has a complete, tested walkthrough)::

    api.ingest("wh.duckdb", "main", api.CohortInputs(genotypes=..., quantifications=...,
                                                     segmentation=..., copynumber=...))
    run_id = api.run("wh.duckdb", RunSpec(mode="perm", cohort="main", chromosomes=["1"]))
    api.fdr("wh.duckdb", run_id, 0.05)
    api.export("wh.duckdb", run_id, "results/")
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable
from contextlib import closing, suppress
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import UsageError
from .paths import nearest_existing
from .spec import RunSpec
from .warehouse.db import WriterLease, connect, connect_reader, fetch_one, small_frame


class _OnUse:
    """A module imported when first used: ``warehouse.runs`` and ``.export`` load polars, which
    ``segqtl query`` does without (issue 13: its start-up)."""

    def __init__(self, name: str):
        self._name = name

    def __getattr__(self, attr: str):
        import importlib

        return getattr(importlib.import_module(self._name), attr)


_export = _OnUse("segqtl.warehouse.export")
_runs = _OnUse("segqtl.warehouse.runs")

if TYPE_CHECKING:
    from .ingest import CohortInputs, IngestResult


def __getattr__(name: str):
    # The ingest classes load polars and pyarrow: read commands import this module without them.
    if name in ("CohortInputs", "IngestResult"):
        from . import ingest

        return getattr(ingest, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "RunSpec",
    "ingest",
    "run",
    "resume",
    "merge",
    "export",
    "ensure_cohort",
    "CohortInputs",
    "connect",
    "cohort_chromosomes",
    "fdr",
    "list_runs",
    "validate",
    "available_modes",
    "query",
    "query_text",
    "show",
    "compare",
    "format_comparison",
    "summary",
    "upgrade",
    "list_cohorts",
    "resolve_run",
    "input_chromosomes",
]


def ingest(
    db: str | Path,
    cohort: str,
    inputs: CohortInputs | None = None,
    *,
    replace: bool = False,
    **paths,
) -> IngestResult:
    """Ingest one cohort into the warehouse file ``db`` (created if missing).

    Give the files as a :class:`CohortInputs` or as its fields (``genotypes=...,
    quantifications=..., segmentation=..., covariates=..., copynumber=...,
    phenotype_covariate=...``).  A failed ingest leaves the warehouse as it was, and leaves no
    file behind if there was none.
    """
    from .ingest import CohortInputs, ingest_cohort

    inputs = inputs or CohortInputs(**paths)
    return _with_new_db_cleanup(db, lambda con: ingest_cohort(con, cohort, inputs, replace=replace))


def ensure_cohort(
    db: str | Path,
    inputs: CohortInputs | None = None,
    *,
    sep: str | None = None,
    na_strings: str | list[str] | tuple[str, ...] | None = (),
    comment_char: str | None = None,
    **paths,
) -> IngestResult:
    """Reuse the cohort whose input checksums equal these files', or ingest them as a new one.

    The new cohort is named ``cohort_<first 12 hex digits of its checksum>``.  Files are read
    as :func:`ingest_files` reads them (the drop-in's ``--sep``, ``--na_strings``,
    ``--comment_char``): ``sep``, ``na_strings`` (a list, or one text ``"NA,-"``) and
    ``comment_char`` apply to every file, and a byte-order mark, CRLF, quoted fields, another
    separator, leading comment lines and compression are detected.  Checksums are of the files
    as given, so conventions never change which cohort is reused.  Without conventions and with
    every file canonical this is today's plain ingest; otherwise canonical copies are made in
    ``$TMPDIR`` (removed afterwards) and the conventions are recorded in ``cohort_control``
    (format ``flags``), as :func:`ingest_files` records them.
    """
    from .ingest import CohortInputs, IngestResult, ingest_cohort
    from .ingest.load import find_cohort_by_checksum

    inputs = inputs or CohortInputs(**paths)
    conv, given = _file_conventions(sep, na_strings, comment_char)
    checksums = inputs.checksums()
    checksum = checksums[1]
    cohort = f"cohort_{checksum[:12]}"

    def reuse_or_ingest(con):
        existing = find_cohort_by_checksum(con, checksum)
        if existing is not None:
            n = fetch_one(con, "SELECT n_samples FROM cohorts WHERE cohort = ?", [existing])[0]
            _warn_other_conventions(con, existing, conv)
            return IngestResult(existing, checksum, n, 0, 0, reused=True)
        plan = _conversion_plan(inputs, conv, given)  # only when not reused: no reading
        if plan is None:
            return ingest_cohort(con, cohort, inputs, checksums=checksums)
        return _ingest_converted(con, cohort, plan, conv, checksums)

    return _with_new_db_cleanup(db, reuse_or_ingest)


def _warn_other_conventions(con, cohort: str, conv) -> None:
    """Warn when the reused ``cohort`` (the same files) was read with other conventions than
    ``conv``: the conventions never change which cohort is reused, so a corrected flag (say,
    ``--na_strings``) would otherwise have no effect, silently."""
    import json
    import warnings

    from .ingest.conventions import DEFAULT_COMMENT
    from .ingest.readers import NA_VALUES
    from .warehouse.db import has_table

    if not has_table(con, "cohort_control"):
        return
    rows = con.execute(
        "SELECT format, control_text FROM cohort_control WHERE cohort = ?", [cohort]
    ).fetchall()
    if any(fmt != "flags" for fmt, _ in rows):
        return  # read through a control file or a bundle: its own conventions, not flags
    recorded = json.loads(rows[0][1]) if rows else {}  # no row: plain files, without flags

    def meaning(sep, na_strings, comment_char) -> dict:
        # what changes the reading: a separator given (None: detected, which agrees with any
        # the file has), missing-value spellings beyond the readers' own, in any order
        return {
            "sep": sep,
            "na_strings": sorted(set(na_strings or ()) - set(NA_VALUES)),
            "comment_char": comment_char or DEFAULT_COMMENT,
        }

    then = meaning(recorded.get("sep"), recorded.get("na_strings"), recorded.get("comment_char"))
    later = meaning(conv.sep, conv.na_strings, conv.comment_char)
    if then["sep"] is None or later["sep"] is None:
        later["sep"] = then["sep"]
    if then != later:
        changed = ", ".join(
            f"{k} {then[k]!r} then, {later[k]!r} now" for k in sorted(later) if then[k] != later[k]
        )
        warnings.warn(
            f"the files were ingested before as cohort {cohort!r} with other conventions "
            f"({changed}); that cohort is reused as it was read. Fix: give another --db, or "
            f"ingest them again with 'segqtl ingest --cohort {cohort} --replace' and the flags",
            stacklevel=3,
        )


def _file_conventions(sep, na_strings, comment_char):
    """The conventions given for every input file (flags ``--sep``, ``--na-strings``,
    ``--comment-char``) and whether any was given; a bad value is a one-line UsageError."""
    from .ingest.conventions import Conventions, parse_sep
    from .modes import typed_flag

    if isinstance(na_strings, str):  # as typed: NA,-
        na_strings = [s.strip() for s in na_strings.split(",") if s.strip()]
    try:
        sep = parse_sep(sep, "--sep") if sep is not None else None
    except ValueError as exc:
        raise UsageError(f"{exc}. Fix: pass --sep ',', ';', tab or space") from None
    flag = typed_flag("comment_char")
    if comment_char is not None and len(comment_char) > 1:
        raise UsageError(
            f"{flag} {comment_char!r} is not one character. Fix: pass e.g. "
            f"{flag} '#' (or '' for none)"
        )
    # (without --sep, ';' may well be the comment character of comma-separated files)
    if comment_char and (comment_char.isalnum() or comment_char in (sep or "") + '"'):
        # a letter or digit starts sample IDs and values, the separator or quote starts fields:
        # every such line would be dropped as a comment
        raise UsageError(
            f"{flag} {comment_char!r} can start a data line (a letter, a digit, the "
            f"separator or a quote). Fix: pass e.g. {flag} '#' (or '' for none)"
        )
    given = sep is not None or bool(na_strings) or comment_char is not None
    return Conventions(sep, tuple(na_strings or ()), comment_char), given


def _conversion_plan(inputs: CohortInputs, conv, given: bool):
    """The conversion plan of ``inputs`` (:func:`.ingest.control.plan_paths`), or None when
    no convention was given and every file is canonical (the first block of each file is
    looked at, as :func:`ingest_files` does)."""
    from .errors import SegqtlError
    from .ingest.control import plan_paths
    from .ingest.conventions import describe

    if given:
        return plan_paths(inputs, conv)
    try:
        plan = plan_paths(inputs, conv)
        if not any(describe(j.source, j.conventions) for j in plan.jobs()):
            return None
    except (OSError, SegqtlError):
        return None  # a missing/unreadable file: the plain ingest names it as ever
    return plan


def _flags_json(conv) -> str:
    """The conventions given by flags, as ``cohort_control`` stores them (format ``flags``)."""
    import json

    return json.dumps(
        {"sep": conv.sep, "na_strings": list(conv.na_strings), "comment_char": conv.comment_char},
        sort_keys=True,
    )


def _ingest_converted(con, cohort: str, plan, conv, checksums) -> IngestResult:
    """Ingest ``plan``'s files through canonical copies in ``$TMPDIR`` (removed afterwards),
    recording the conventions in ``cohort_control`` as :func:`ingest_files` does."""

    from .ingest.control import ingest_prepared, prepare_plan, workdir

    flags = _flags_json(conv)
    with workdir() as work:
        prepared = prepare_plan(plan, work)
        # the checksums of the files as given, already computed: the cohort keeps its name
        prepared.checksums = checksums
        return ingest_prepared(
            con, cohort, prepared, source="flags", fmt="flags", text=flags.encode()
        )


def _read_quantifications(path, conv, given: bool):
    """The quantification file read as :func:`ensure_cohort` reads it (a canonical copy in
    ``$TMPDIR`` if it needs one); errors name the file as given and its line."""
    from .errors import InputError, SegqtlError
    from .ingest.control import workdir
    from .ingest.conventions import Source, describe, prepare
    from .ingest.readers import read_quantifications

    source = Source(path=Path(path))
    if not given:
        try:
            canonical = not describe(source, conv)
        except (OSError, SegqtlError):
            canonical = True  # the plain reader names the file as ever
        if canonical:
            return read_quantifications(Path(path))
    with workdir() as work:
        prepared = prepare(source, "quantifications", conv, work)
        try:
            return read_quantifications(prepared.path)
        except InputError as err:
            raise prepared.explain(err) from None


def _with_new_db_cleanup(db: str | Path, work: Callable):
    """Run ``work(con)`` on the warehouse; if it fails and the file was new, remove it (and
    the folders made for it)."""
    created = not Path(db).exists()
    folders = [p for p in Path(db).absolute().parents if not p.exists()]  # deepest first
    try:
        with closing(connect(db)) as con:
            return work(con)
    except BaseException:
        if created:  # an ingest that fails leaves no warehouse behind, not an empty one
            for suffix in ("", ".wal"):
                with suppress(OSError):  # (a --db path that cannot exist: nothing to remove)
                    Path(f"{db}{suffix}").unlink(missing_ok=True)
            for folder in folders:
                with suppress(OSError):  # only if still empty
                    folder.rmdir()
        raise


def run(
    db: str | Path,
    spec: RunSpec,
    *,
    progress: bool = False,
    progress_every: float = 30.0,
    log: Callable[[str], None] | None = None,
    notify: Callable[[str], None] | None = None,
    on_created: Callable[[int], None] | None = None,
    skip_emptied: bool = False,
) -> int:
    """Record and execute a run; returns its run id.

    ``skip_emptied``: a chromosome that the run's selection (``--exclude-*``,
    ``--include-*``, ``--range``) leaves without phenotypes or variants is left out of the run
    with a message instead of refused (``--chromosome all`` or a range asked for it).

    With ``spec.shard`` K/N the run computes only shard K of its work units and stops at status
    ``shard-completed``, without the run-level steps (q-values); :func:`merge` joins the N shards.
    ``on_created`` is called with the run id as soon as the run is recorded (before any work),
    so callers can report it even if the run is interrupted.
    """
    from .engine import runner

    validate(spec)
    _prestart_pool(spec)
    # SIGINT, SIGTERM and SIGHUP stop the run as Ctrl-C does: status 'interrupted', resumable
    with runner.stop_on_signals():
        with closing(connect(db, must_exist=True)) as con:
            start = time.perf_counter()
            if _selects(spec):  # exclusions, ranges, PCs: the run's derived cohort
                from .warehouse.derive import derived_cohort

                spec = derived_cohort(con, spec, notify=notify, skip_emptied=skip_emptied)
            spec = _genotyped(con, spec, skip_emptied, notify)
            run_id = _runs.create_run(con, spec)
            _runs.add_phase_seconds(con, run_id, {"plan": time.perf_counter() - start})
        if on_created is not None:
            on_created(run_id)
        # the run holds the file only while it reads or commits (docs/concurrency.md)
        with WriterLease(db, notify=notify, label=f"run {run_id}") as lease:
            runner.execute(
                lease,
                run_id,
                progress=progress,
                progress_every=progress_every,
                log=log,
                notify=notify,
            )
    return run_id


def _genotyped(con, spec, skip_emptied: bool, notify) -> RunSpec:
    """``spec`` with its chromosomes checked for genotypes before the run is recorded.

    A chromosome whose variants' chromosome has no genotype rows in the cohort (phenotypes on
    chrX, genotype files of the autosomes only) is refused in one line, or, when ``--chromosome
    all`` or a range asked for it (``skip_emptied``), left out with a message.  Without this
    the run was recorded and then failed at its first unit of that chromosome.
    """
    import dataclasses

    from . import modes
    from .warehouse.db import fetch_one

    mode = modes.get(spec.mode)
    missing = []
    for chrom in spec.chromosomes:
        if mode.variant_chromosome(spec, chrom) != chrom:
            continue  # a negative control: its mode checks the control chromosome
        has = "SELECT EXISTS (SELECT 1 FROM {} WHERE cohort = ? AND chr = ?)"
        if not fetch_one(con, has.format("phenotypes"), [spec.cohort, chrom])[0]:
            continue  # no such cohort, or no phenotypes there: create_run says which
        if fetch_one(con, has.format("variants"), [spec.cohort, chrom])[0]:
            continue
        variant_chrom = chrom
        if not skip_emptied:
            raise UsageError(
                f"cohort {spec.cohort!r} has no genotypes for {variant_chrom}. Fix: add "
                f"{variant_chrom}_ALTlr.csv and {variant_chrom}_REFlr.csv to the genotype "
                "directory and ingest again, or leave it out of --chromosome"
            )
        missing.append(chrom)
    if not missing:
        return spec
    left = [c for c in spec.chromosomes if c not in missing]
    if not left:
        raise UsageError(
            f"cohort {spec.cohort!r} has no genotypes for any chromosome of the run "
            f"({', '.join(missing)}). Fix: check the genotype directory and ingest again"
        )
    if notify is not None:
        notify(f"skipping {', '.join(missing)}: cohort {spec.cohort!r} has no genotypes there")
    return dataclasses.replace(spec, chromosomes=left)


def _prestart_pool(spec) -> None:
    """Start the worker pool's fork server now if the run uses one, so that its imports
    overlap the run's planning and reads (segqtl/engine/pool.py: prestart)."""
    from . import modes
    from .engine import pool

    pool.prestart(list(modes.get(spec.mode).preload), cores=spec.num_cores, executor=spec.executor)


def _selects(spec) -> bool:
    """Whether ``spec`` selects rows or adds PCs (segqtl/warehouse/derive.py)."""
    from .modes.parameters import SELECTION_PARAMS

    return any(
        getattr(spec, p.name) not in (None, 0)
        for p in SELECTION_PARAMS
        if p.name != "min_samples_observed"
    )


def resume(
    db: str | Path,
    run_id: int,
    *,
    progress: bool = False,
    progress_every: float = 30.0,
    log: Callable[[str], None] | None = None,
    notify: Callable[[str], None] | None = None,
    execution: dict | None = None,
    started: Callable[[int], None] | None = None,
) -> dict:
    """Finish an interrupted, failed or killed run: only units not yet committed are computed
    (then the run-level steps, such as q-values, which commit with the status ``completed``).
    ``started(run_id)`` is called once the run's checks passed and it is running again.

    ``execution`` changes where the rest is computed (such as ``{"executor": "dask",
    "scheduler": "tcp://..."}`` after a lost scheduler, or ``{"executor": "pool"}``): execution
    parameters only (:func:`segqtl.engine.executors.resumed_spec`), recorded in the run's
    parameters.  The numbers do not depend on them.
    """
    from .engine import runner

    with runner.stop_on_signals():
        return _resume(db, run_id, progress, progress_every, log, notify, execution, started)


def _resume(db, run_id, progress, progress_every, log, notify, execution, started=None) -> dict:
    """:func:`resume`'s body (SIGINT, SIGTERM and SIGHUP stop it as they stop a run)."""
    from .engine import runner
    from .modes.parameters import check_scratch_env

    check_scratch_env()  # before the run is marked running again
    with closing(connect(db, must_exist=True)) as con:
        status = _runs.run_status(con, run_id)
        if status not in ("completed", _runs.SHARD_COMPLETED) and not execution:
            _prestart_pool(_runs.load_spec(con, run_id))
        if status in ("completed", _runs.SHARD_COMPLETED):
            raise UsageError(
                f"run {run_id} is already {status}. Fix: nothing to finish; see it with "
                f"'segqtl show --db {db} {run_id}', or start a new run"
            )
        if execution:
            from .engine.executors import resumed_spec

            spec, changed = resumed_spec(_runs.load_spec(con, run_id), execution, run_id)
            for key, value in spec.to_rows():
                if key in changed:
                    con.execute(
                        "DELETE FROM run_parameters WHERE run_id = ? AND key = ?", [run_id, key]
                    )
                    con.execute("INSERT INTO run_parameters VALUES (?, ?, ?)", [run_id, key, value])
        con.execute("UPDATE runs SET status = 'running', error = NULL WHERE run_id = ?", [run_id])
    if started is not None:
        started(run_id)
    with WriterLease(db, notify=notify, label=f"run {run_id}") as lease:
        return runner.execute(
            lease, run_id, progress=progress, progress_every=progress_every, log=log, notify=notify
        )


def merge(
    db: str | Path,
    shards: list[str | Path],
    *,
    notify: Callable[[str], None] | None = None,
) -> int:
    """Join the N shard runs of ``segqtl run --shard K/N`` into one completed run of ``db``.

    ``shards`` are the N shard warehouses (each one's latest shard run is taken).  They must be
    the completed shards 1..N of one run: same mode, parameters (other than where the units
    ran), inputs and versions. The run's cohorts (with the cohorts a derived one was made from)
    are copied from the first shard if ``db`` lacks them (``db`` is created if missing); the
    run-level steps (perm's q-values) are computed over the merged run. All in one transaction:
    a refused or failed merge leaves ``db`` as it was. Returns the merged run's id. Its results
    equal those of the same run made without shards (docs: README, "Sharded runs").
    """
    from .warehouse.merge import merge_shards

    return _with_new_db_cleanup(
        db, lambda con: merge_shards(con, list(shards), target=db, notify=notify)
    )


def fdr(
    db: str | Path,
    run_id: int,
    level: float = 0.05,
    out: str | Path | None = None,
    *,
    method: str = "storey",
    qvalue_lambda: float | None = None,
) -> dict:
    """q-values of a perm run (one per phenotype; beta runs also get per-phenotype nominal
    thresholds) or of an all-variants nominal run (one per tested pair).

    ``method`` is ``storey`` (pi0 by the bootstrap, or at ``qvalue_lambda``) or ``bh``
    (Benjamini–Hochberg).  Best-variant nominal runs are refused (their p-values are not
    corrected for the number of variants).  Stored in ``qvalue_stats`` (view ``qvalues``) or
    ``pair_qvalue_stats`` (view ``pair_qvalues``) and ``run_fdr``; with ``out`` also written as
    CSV.  Returns the summary (:func:`segqtl.warehouse.fdr.compute_run_fdr`).
    """
    from . import modes
    from .warehouse.fdr import check_options, compute_run_fdr

    check_options(level, method, qvalue_lambda)  # before the warehouse is opened
    if out is not None:  # before anything is computed or stored
        check_out_file(out, "--out")
    with closing(connect(db, must_exist=True)) as con:
        modes.get(_runs.load_spec(con, run_id).mode).check_fdr(run_id)
        summary = compute_run_fdr(con, run_id, level, method=method, qvalue_lambda=qvalue_lambda)
        if out is not None:
            source = (
                "SELECT phenotype, variant, chr, p_value, qvalue, is_hit FROM pair_qvalues "
                "WHERE run_id = $run_id ORDER BY chr, phenotype_idx, variant_idx"
                if summary["scope"] == "pair"
                else "SELECT phenotype, variant, chr, p_value, qvalue, pval_nominal_threshold, "
                "is_hit FROM qvalues WHERE run_id = $run_id ORDER BY chr, phenotype_idx"
            )
            con.execute(
                f"COPY ({source}) "
                f"TO '{str(out).replace(chr(39), chr(39) * 2)}' (HEADER, DELIMITER ',')",
                {"run_id": int(run_id)},
            )
    return summary


def export(
    db: str | Path,
    run_id: int,
    out_dir: str | Path,
    *,
    fmt: str = "csv",
    gzip: bool = False,
    metadata_header: bool = False,
    record_seconds: bool = False,
    layout: str = "segmentqtl",
    prefix: str | None = None,
    chromosomes=None,
) -> list[Path]:
    """Write a completed run's results with SegmentQTL's file names (and, by default, format).

    ``fmt`` is ``csv`` (SegmentQTL's files), ``tsv``, ``txt`` (space separated) or ``parquet``;
    ``gzip`` compresses the text formats; ``metadata_header`` starts each file with ``# key
    value`` lines describing the run (parquet: key-value metadata).  ``record_seconds`` adds the
    export's time to the run's ``export_seconds`` (the drop-in's export, part of its run).
    ``layout="tensorqtl"`` writes tensorQTL's files instead (``<prefix>.cis_qtl.txt.gz`` of a
    perm run, ``<prefix>.cis_qtl_pairs.<chr>.parquet`` of an all-variants nominal run;
    :func:`segqtl.warehouse.export.export_tensorqtl`).  ``chromosomes`` (``--chromosome``
    values: ``all``, ``8``, ``1,2``, ``1-5``) keeps those of the run's chromosomes' files.
    """
    start = time.perf_counter()
    check_out_dir(out_dir)
    with closing(connect_reader(db)) as con:
        paths = _export.export_run(
            con,
            run_id,
            out_dir,
            fmt=fmt,
            gzip=gzip,
            metadata_header=metadata_header,
            layout=layout,
            prefix=prefix,
            chromosomes=chromosomes,
        )
    if record_seconds:
        with closing(connect(db, must_exist=True)) as con:
            _runs.add_phase_seconds(con, run_id, {"export": time.perf_counter() - start})
    return paths


def query(db: str | Path, sql: str, params: dict | list | None = None):
    """Run one SQL statement on a read-only connection and return its rows as a polars frame.

    The connection reads the warehouse and nothing else (:func:`segqtl.warehouse.db.
    connect_query`): only ``SELECT`` (with ``DESCRIBE``, ``SHOW``, ``SUMMARIZE``), ``EXPLAIN``
    and ``PRAGMA`` statements are run; writes, ``COPY``, ``EXPORT``, ``ATTACH``, ``INSTALL``,
    ``LOAD``, ``CHECKPOINT``, ``SET`` and reading other files are refused with one line.
    Usable while a run works: it sees the committed units (a run holds the file only while it
    commits; the open waits for that, docs/concurrency.md).
    """
    import polars as pl

    def frame(con, _select: bool):
        rel = _relation(con, sql, params)
        return _frame(rel) if rel is not None else pl.DataFrame()

    return _run_query(db, sql, frame)


def query_text(
    db: str | Path, sql: str, fmt: str = "table", params: dict | list | None = None
) -> str:
    """The text ``segqtl query`` prints: :func:`query`'s frame rendered in ``fmt`` by
    :func:`segqtl.output.format_frame`, byte for byte.

    A SELECT whose columns are plain (numbers, text, booleans, dates: :func:`segqtl.output.
    plain_columns`) runs on DuckDB's engine alone and is rendered from its rows, without
    duckdb's relation layer or polars, whose imports cost more than a query of one phenotype's
    pairs (issue 13). The aligned table of most such results is rendered by DuckDB itself
    (:func:`segqtl.warehouse.table_text.engine_table`: the same text, in a third of the time).
    Other results go through :func:`query`'s frame; a SELECT is then run a second time,
    through the relation layer.
    """
    from .output import format_frame, format_rows, plain_columns

    def text(con, select: bool) -> str:
        if select and fmt == "table":
            from .warehouse.table_text import engine_table

            table = engine_table(con, sql, params)
            if table is not None:
                return table
        if select:
            con.execute(sql, params or [])
            columns = [d[0] for d in con.description]
            types = [str(d[1]) for d in con.description]
            if plain_columns(columns, types):
                return format_rows(columns, types, con.fetchall(), fmt)
            con.abort()  # DuckDB runs nothing else on a connection with a result pending
        import polars as pl

        rel = _relation(con, sql, params)
        return format_frame(_frame(rel) if rel is not None else pl.DataFrame(), fmt)

    return _run_query(db, sql, text)


def _run_query(db: str | Path, sql: str, use: Callable):
    """``use(con, select)`` on :func:`query`'s connection ``con``, once ``sql`` is found to be
    one statement of a kind it runs (``select``: a SELECT); DuckDB's errors (also those raised
    while ``use`` runs the statement and fetches its rows) as one line."""
    import _duckdb  # the engine's errors, without the package (warehouse/db.py)

    from .warehouse.db import connect_query

    with closing(connect_query(db)) as con:
        try:
            # parsed by this connection: duckdb.extract_statements would start a second database
            statements = con.extract_statements(sql)
        except _duckdb.Error as exc:
            raise UsageError(_query_error(exc)) from None
        if len(statements) != 1:
            raise UsageError(
                f"query takes one SQL statement, got {len(statements)}. Fix: run the statements "
                "one at a time (or join them into one SELECT)"
            )
        kind = statements[0].type
        if kind.name not in QUERY_STATEMENTS:
            # as typed (INSTALL is DuckDB's LOAD kind, CHECKPOINT a CALL), with the kind if it
            # differs
            words = statements[0].query.split()
            word = words[0].upper() if words and words[0].isalpha() else kind.name
            raise UsageError(
                _query_refused(word if word == kind.name else f"{word} ({kind.name.lower()})")
            )
        try:
            return use(con, kind.name == "SELECT")
        except _duckdb.Error as exc:
            raise UsageError(_query_error(exc)) from None


def _relation(con, sql: str, params: dict | list | None):
    """``con.sql(sql)``: a relation (None: a statement without rows)."""
    from .warehouse.db import relations

    relations()
    return con.sql(sql, params=params)


def _frame(rel):
    """A query's relation as a polars frame."""
    # polars has no type for DuckDB's INTERVAL (months, days and nanoseconds): text.
    if any(str(t) == "INTERVAL" for t in rel.types):
        quoted = ['"' + c.replace('"', '""') + '"' for c in rel.columns]
        rel = rel.select(
            ", ".join(
                f"{q}::VARCHAR AS {q}" if str(t) == "INTERVAL" else q
                for q, t in zip(quoted, rel.types, strict=True)
            )
        )
    return rel.pl()


def _query_error(exc) -> str:
    # without the engine's pointer to the statement ("LINE 1: ... ^^^"), which needs its lines
    text = re.sub(r"\s+LINE \d+:.*\Z", "", str(exc), flags=re.S)
    text = " ".join(text.split()).rstrip("!")
    if "read-only" in text or "read only" in text:
        return (
            f"query failed: {text}. Fix: 'segqtl query' opens the warehouse read-only; "
            "use SELECT statements (results are written by segqtl run/fdr/compare)"
        )
    if "disabled by configuration" in text or "configuration has been locked" in text:
        target = re.search(r'Cannot access (?:file|directory) "([^"]*)"', text)
        return _query_refused(None, f"cannot access {target.group(1)}" if target else text)
    return f"query failed: {text}"


def upgrade(db: str | Path) -> int:
    """Apply pending schema migrations to an existing warehouse; returns its schema version."""
    from .warehouse.db import SCHEMA_VERSION

    with closing(connect(db, must_exist=True)):
        return SCHEMA_VERSION


def list_cohorts(db: str | Path):
    """The warehouse's cohorts with their sizes and inputs' checksum (a polars frame)."""
    from .warehouse.db import bind_sql

    with closing(connect(db, read_only=True)) as con:
        text, params = bind_sql("list_cohorts")
        return small_frame(con.sql(text, params=params))


def format_comparison(comparison) -> str:
    """The text ``segqtl compare`` prints for a :func:`compare` result."""
    from .warehouse.compare import format_comparison as _format

    return _format(comparison)


def run_identity(db: str | Path, run_id: int) -> dict:
    """What a run is: ``mode``, ``cohorts`` (its cohort and, for a derived cohort, the one it
    was made from) and ``chromosomes`` (list), for checking flags typed with ``--resume``."""
    from .warehouse.db import query

    with closing(connect(db, read_only=True)) as con:
        row = query(con, "run_identity", run_id=int(run_id)).fetchone()
    if row is None:
        raise UsageError(
            f"run {run_id} does not exist. Fix: list runs with 'segqtl runs --db {db}'"
        )
    mode, cohort, source, chromosomes = row
    return {
        "mode": mode,
        "cohorts": [c for c in (cohort, source) if c],
        "chromosomes": chromosomes.split(","),
    }


def show(db: str | Path, run_id: int, *, all_parameters: bool = True) -> dict:
    """Everything recorded about a run, as sections of ``{key: value}``.

    Sections: ``run`` (name, mode, cohorts, chromosomes, status, timings, versions, counts),
    ``outcome`` (the run's FDR level, pi0 and hits from ``run_fdr`` when it has q-values, and
    its phenotypes by result status), ``units`` (planned/done work units), for a running run
    ``progress`` (phenotypes done and total, rate, ETA: view ``run_progress``), ``phases``
    (seconds spent planning, reading, computing (summed over workers), committing and
    exporting; ``sql/migrations/008_phases.sql``), ``skipped`` (pairs or phenotypes skipped,
    by reason), ``parameters`` (the run's parameters as stored, JSON-decoded; with
    ``all_parameters=False`` only those that apply to the run: :func:`applicable_parameters`)
    and ``provenance`` (input checksums and library versions).
    """
    import json

    with closing(connect(db, read_only=True)) as con:
        # the row as DuckDB returns it: no polars frame for one row (start-up, issue 13)
        cur = con.execute("SELECT * FROM runs WHERE run_id = ?", [run_id])
        row = cur.fetchone()
        if row is None:
            raise UsageError(
                f"run {run_id} does not exist. Fix: list runs with 'segqtl runs --db {db}'"
            )
        run = dict(zip([d[0] for d in cur.description], row, strict=True))
        units = con.execute(
            "SELECT count(*), count(*) FILTER (status = 'done'), sum(seconds) "
            "FROM run_units WHERE run_id = ?",
            [run_id],
        ).fetchall()[0]
        params = con.execute(
            "SELECT key, value FROM run_parameters WHERE run_id = ? ORDER BY key", [run_id]
        ).fetchall()
        progress = con.execute(
            "SELECT phenotypes_done, phenotypes_total, rate, eta_seconds, last_commit_at "
            "FROM run_progress WHERE run_id = ?",
            [run_id],
        ).fetchall()[0]
        outcome = _outcome(con, run_id, run["mode"])
    decoded = {k: json.loads(v) if v is not None else None for k, v in params}
    skipped = decoded.pop("skipped_by_reason", None) or {}
    phases = {p: run.pop(f"{p}_seconds", None) for p in _runs.PHASES}
    provenance = {k: v for k, v in decoded.items() if ":" in k}
    parameters = {k: v for k, v in decoded.items() if ":" not in k}
    if not all_parameters:
        parameters = applicable_parameters(run["mode"], parameters)
    out = {
        "run": run,
        "outcome": outcome,
        "units": {"planned": units[0], "done": units[1], "compute_seconds": units[2]},
    }
    if run["status"] == "running":  # live progress (view run_progress, docs/concurrency.md)
        done, total, rate, eta, last = progress
        out["progress"] = {
            "phenotypes_done": done,
            "phenotypes_total": total,
            "rate_per_second": None if rate is None else round(rate, 4),
            "eta_seconds": None if eta is None else round(eta, 1),
            "last_commit_at": last,
            "summary": _progress_text(done, total, rate, eta),
        }
    return out | {
        "phases": phases,
        "skipped": skipped,
        "parameters": parameters,
        "provenance": provenance,
    }


def applicable_parameters(mode: str, parameters: dict) -> dict:
    """The parameters of a run of ``mode`` that apply to it (what ``segqtl show`` prints).

    A parameter applies if its declaration names the mode (or every mode) and it has a value:
    an unset optional parameter (the Dask and batch-job options of a pool run, say) is left
    out.  Keys that are not declared parameters (``mode``, ``cohort``, ``chromosomes``) are
    kept.
    """
    from . import modes

    declared = modes.params()
    out = {}
    for key, value in parameters.items():
        p = declared.get(key)
        if p is not None and (not p.applies_to(mode) or value is None):
            continue
        out[key] = value
    return out


def _outcome(con, run_id: int, mode: str) -> dict:
    """A run's outcome: ``run_fdr``'s row (FDR level, pi0, hits, and any columns a later
    schema adds) and ``phenotypes_<status>`` counts from the mode's last result view with a
    ``status`` column (one status per phenotype)."""
    from . import modes

    out: dict = {}
    columns = [
        r[0]
        for r in con.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = 'run_fdr' "
            "ORDER BY ordinal_position"
        ).fetchall()
    ]
    if columns:
        row = con.execute("SELECT * FROM run_fdr WHERE run_id = ?", [run_id]).fetchall()
        if row:
            values = dict(zip(columns, row[-1], strict=True))
            for key in ("run_id", "computed_at"):
                values.pop(key, None)
            values["hits"] = values.pop("n_hits", None)
            out.update({k: v for k, v in values.items() if v is not None})
    try:
        views = modes.get(mode).views
    except UsageError:  # a mode this segqtl does not know
        views = ()
    for view in reversed(views):
        has = {
            r[0]
            for r in con.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_name = ?",
                [view],
            ).fetchall()
        }
        if {"status", "phenotype_idx", "chr", "run_id"} <= has:
            # view names come from the mode declarations, never from user text
            for status, n in con.execute(
                f"SELECT status, count(DISTINCT (chr, phenotype_idx)) FROM {view} "
                "WHERE run_id = ? GROUP BY status ORDER BY status",
                [run_id],
            ).fetchall():
                out[f"phenotypes_{status}"] = n
            break
    return out


def compare(db: str | Path, run_a: int, run_b: int, *, fdr: float = 0.05, top: int = 10):
    """Compare two completed runs of the same mode (possibly of different cohorts).

    Matches pairs on phenotype and variant names, stores the comparison in the
    ``comparisons`` and ``comparison_pairs`` tables and returns it
    (:class:`segqtl.warehouse.compare.Comparison`).
    """
    from .warehouse.compare import compare_runs

    with closing(connect(db, must_exist=True)) as con:
        return compare_runs(con, run_a, run_b, fdr=fdr, top=top)


def summary(
    db: str | Path,
    cohort: str,
    chromosome: str | list[str],
    out: str | Path,
    *,
    dosage: str = "d",
) -> dict:
    """Write a per-variant dosage summary of a cohort's chromosome as a pyhegp summary file.

    ``chromosome`` may also be ``--chromosome`` values (``all``, ``1,2``, ``1-5``, a list):
    their rows follow each other in one file.  ``dosage`` is ``d`` (REFlr - ALTlr),
    ``altlr`` or ``reflr``.  Returns the counts written.
    """
    from .warehouse.summary import write_summary

    check_out_file(out, "--out", make_folder=True)  # (its folder is created if missing)
    with closing(connect(db, read_only=True)) as con:
        return write_summary(con, cohort, chromosome, Path(out), dosage=dosage)


def available_modes() -> list[str]:
    """The analysis modes this version of segqtl can run (the registry's, in order)."""
    from . import modes

    return list(modes.modes())


def validate(spec: RunSpec) -> None:
    """Reject run parameters that cannot work, with a one-line message saying why.

    Every parameter against its declared range or choices, parameters that do not apply to the
    mode, and the mode's own rules (:func:`segqtl.modes.check_spec`).
    """
    from . import modes

    modes.check_spec(spec)


def cohort_chromosomes(db: str | Path, cohort: str, *, of: str = "phenotypes") -> list[str]:
    """Chromosomes with phenotypes (``of="variants"``: with variants) in a cohort, in natural
    order; a one-line error if the warehouse has no such cohort."""
    from .chromosomes import natural_order

    if of not in ("phenotypes", "variants"):
        raise ValueError(f"of must be 'phenotypes' or 'variants', not {of!r}")
    with closing(connect(db, read_only=True)) as con:
        if fetch_one(con, "SELECT 1 FROM cohorts WHERE cohort = ?", [cohort]) is None:
            raise UsageError(
                f"cohort {cohort!r} is not in the warehouse {db}. Fix: see 'segqtl cohorts "
                f"--db {db}' for the names, or ingest it with 'segqtl ingest'"
            )
        chroms = [
            r[0]
            # the table name is one of the two above, never user text
            for r in con.execute(
                f"SELECT DISTINCT chr FROM {of} WHERE cohort = ?", [cohort]
            ).fetchall()
        ]
    return natural_order(chroms)


RUN_COLUMNS = (
    "run_id",
    "name",
    "mode",
    "cohort",
    "validation_cohort",
    "chromosomes",
    "status",
    "started_at",
    "finished_at",
    "seconds",
    "segqtl_version",
    "n_phenotypes",
    "n_pairs",
    "n_pairs_tested",
)

#: The ``shard`` column of :func:`list_runs`: ``K/N`` for a shard run (``segqtl run --shard``),
#: ``merged N`` for a run merged from N shards, empty otherwise.
SHARD_COLUMN = (
    "CASE WHEN shard_count IS NOT NULL THEN shard_index || '/' || shard_count "
    "WHEN merged_shards IS NOT NULL THEN 'merged ' || merged_shards END AS shard"
)


def list_runs(db: str | Path):
    """The warehouse's runs, one row each (polars frame with :data:`RUN_COLUMNS`, ``shard``:
    ``K/N`` for a shard run, ``merged N`` for a run merged from N shards, ``key_parameters``
    (:func:`key_parameters`), ``hits`` (``run_fdr.n_hits``: hits at the run's FDR level, for
    runs with q-values) and ``progress``: a running run's phenotypes done/total, rate and ETA
    (view ``run_progress``))."""
    import json

    import polars as pl

    with closing(connect(db, read_only=True)) as con:
        frame = small_frame(
            con.sql(f"SELECT {', '.join(RUN_COLUMNS)}, {SHARD_COLUMN} FROM runs ORDER BY run_id")
        )
        progress = con.execute(
            "SELECT run_id, phenotypes_done, phenotypes_total, rate, eta_seconds "
            "FROM run_progress WHERE status = 'running'"
        ).fetchall()
        hits = dict(con.execute("SELECT run_id, n_hits FROM run_fdr").fetchall())
        params: dict[int, dict] = {}
        for run_id, key, value in con.execute(
            "SELECT run_id, key, value FROM run_parameters WHERE key NOT LIKE '%:%'"
        ).fetchall():
            params.setdefault(run_id, {})[key] = None if value is None else json.loads(value)
    texts = {row[0]: _progress_text(*row[1:]) for row in progress}
    ids = frame["run_id"].to_list()
    keys = [key_parameters(m, params.get(r, {})) for r, m in zip(ids, frame["mode"], strict=True)]
    after_status = frame.columns.index("status") + 1
    frame = frame.insert_column(after_status, pl.Series("key_parameters", keys, dtype=pl.String))
    return frame.with_columns(
        pl.Series("hits", [hits.get(r) for r in ids], dtype=pl.Int64),
        pl.Series("progress", [texts.get(r) for r in ids], dtype=pl.String),
    )


def key_parameters(mode: str, parameters: dict) -> str:
    """A run's key parameters in a few words: ``window=1Mb num_permutations=1000 all_variants``.

    The cis window, then every model parameter of the run's mode whose value is not its
    default (execution settings such as ``num_cores`` are left out); a flag set to true is
    its bare name.
    """
    from . import modes

    execution = {p.name for p in modes.EXECUTION_PARAMS}
    words = []
    for p in modes.params().values():
        if p.name not in parameters or p.name in execution or not p.applies_to(mode):
            continue
        value = parameters[p.name]
        if p.name == "window":
            words.append(f"window={_bp(value)}")
        elif value == p.default or value is None or value is False:
            continue
        elif value is True:
            words.append(p.name)
        else:
            words.append(f"{p.name}={value}")
    return " ".join(words)


def _bp(n) -> str:
    """Base pairs as people write them: ``1Mb``, ``500kb``, ``2.5Mb``, ``300bp``."""
    if not isinstance(n, int | float):
        return str(n)
    for size, unit in ((1_000_000, "Mb"), (1_000, "kb")):
        if n >= size:
            return f"{n / size:g}{unit}"
    return f"{n:g}bp"


def _progress_text(done: int, total: int, rate: float | None, eta: float | None) -> str:
    """``120/300 phenotypes, 4.1/s, ETA 0:00:44`` (rate and ETA once a unit is committed)."""
    text = f"{done}/{total} phenotypes"
    if rate:
        text += f", {rate:.3g}/s"
    if eta is not None:  # h:mm:ss, as the run's own progress lines (not importing the engine)
        hours, rest = divmod(int(round(eta)), 3600)
        text += f", ETA {hours}:{rest // 60:02d}:{rest % 60:02d}"
    return text


#: The words that name runs besides ids and ``--name`` labels (:func:`resolve_run`).
LAST = "last"


def resolve_run(db: str | Path, ref: str | int) -> int:
    """The id of the run ``ref`` names in the warehouse ``db``.

    ``ref`` is a run id (``3``), a run's ``--name`` (``"1 Mb"``), ``last`` (the newest run)
    or ``last-<mode>`` (the newest run of that mode, such as ``last-perm``).  An id wins over
    a name spelled as a number.  A name given to several runs names the newest of them, with a
    warning listing the others.  Anything else is a one-line :class:`UsageError`.
    """
    import warnings

    from . import modes

    text = str(ref).strip()
    listing = f"Fix: list the runs with 'segqtl runs --db {db}'"
    with closing(connect(db, read_only=True)) as con:
        if text.isdigit():
            if fetch_one(con, "SELECT 1 FROM runs WHERE run_id = ?", [int(text)]) is not None:
                return int(text)
        lowered = text.lower()
        if lowered == LAST or lowered.startswith(LAST + "-"):
            mode = lowered.partition("-")[2] or None
            if mode is not None:
                modes.get(mode)  # a one-line error naming the modes
            row = fetch_one(
                con,
                "SELECT max(run_id) FROM runs WHERE $mode IS NULL OR mode = $mode",
                {"mode": mode},
            )
            if row is None or row[0] is None:
                what = "no runs" if mode is None else f"no {mode} runs"
                raise UsageError(f"the warehouse {db} has {what} ('{text}'). {listing}")
            return int(row[0])
        ids = [
            r[0]
            for r in con.execute(
                "SELECT run_id FROM runs WHERE name = ? ORDER BY run_id", [text]
            ).fetchall()
        ]
    if not ids:
        kind = "run" if text.isdigit() else "run named"
        raise UsageError(
            f"{kind} {text!r} does not exist in {db} (a run is given by its id, its --name, "
            f"'last' or 'last-MODE'). {listing}"
        )
    if len(ids) > 1:
        warnings.warn(
            f"runs {', '.join(map(str, ids))} are all named {text!r}; using the newest, "
            f"{ids[-1]} (give a run id to choose another)",
            stacklevel=2,
        )
    return int(ids[-1])


def input_chromosomes(inputs: CohortInputs, **conventions) -> tuple[list[str], list[str]]:
    """The chromosomes of a cohort's input files, before any ingest: those with phenotypes
    (the quantification file's ``chr`` column) and those with genotype files, each in natural
    order.  Errors in either file are the ingest's one-line errors.  ``conventions``:
    ``sep``, ``na_strings``, ``comment_char`` as :func:`ensure_cohort` takes them."""
    from .chromosomes import natural_order
    from .ingest.readers import genotype_files

    conv, given = _file_conventions(
        conventions.get("sep"), conventions.get("na_strings"), conventions.get("comment_char")
    )
    phenotypes = _read_quantifications(inputs.quantifications, conv, given).table["chr"].unique()
    genotypes = genotype_files(Path(inputs.genotypes))
    return natural_order(phenotypes.to_list()), natural_order(genotypes)


def check_dropin_chromosomes(
    inputs: CohortInputs, values, parameters: dict, mode: str = "perm", **conventions
) -> list[str]:
    """The drop-in's ``--chromosome`` values as chromosomes, checked against the input files
    before anything is ingested: each must have phenotypes (``--quantifications``) and
    genotype files (``--genotypes``), and a negative control's chromosome genotype files.

    ``parameters`` are the run's parameter values (``neg_control``,
    ``neg_control_chromosome``) and ``mode`` its mode.  Returns the chromosomes in the order
    given.  ``conventions``: how the files are written (:func:`ensure_cohort`).
    """
    from . import modes
    from .chromosomes import parse_chromosomes
    from .modes import flag_name
    from .modes.nominal import check_control_chromosomes

    phenotypes, genotypes = input_chromosomes(inputs, **conventions)
    flag = "--chromosome"
    chroms = parse_chromosomes(
        values, phenotypes, flag=flag, where=f"{inputs.quantifications} (its chr column)"
    )
    missing = [c for c in chroms if c not in genotypes]
    if missing:
        raise UsageError(
            f"{flag} {missing[0]}: {inputs.genotypes} has no genotype files for {missing[0]} "
            f"(no {missing[0]}_ALTlr.csv / {missing[0]}_REFlr.csv). Fix: add them, or choose "
            f"among the chromosomes with both: {', '.join(c for c in phenotypes if c in genotypes)}"
        )
    spec = RunSpec(mode="nominal", cohort="", chromosomes=chroms)
    spec.neg_control = bool(parameters.get("neg_control"))
    spec.neg_control_chromosome = parameters.get("neg_control_chromosome")
    if spec.neg_control and modes.param("neg_control").applies_to(mode):
        check_control_chromosomes(spec, genotypes, flag_name, where=str(inputs.genotypes))
    return chroms


#: The statement kinds (DuckDB's ``StatementType`` names) ``segqtl query`` runs: reads only.
#: A PRAGMA that changes a setting is refused by the connection's locked configuration.
QUERY_STATEMENTS = ("SELECT", "EXPLAIN", "PRAGMA")


def _query_refused(kind: str | None, detail: str | None = None) -> str:
    """One line: ``segqtl query`` is read-only and reads the warehouse only."""
    what = f"{kind} statements are refused" if kind else f"other files are refused ({detail})"
    return (
        "query is read-only and reads only the warehouse: "
        f"{what}. Fix: use a SELECT on the warehouse's tables and views; write files with "
        "'segqtl export' or 'segqtl fdr --out', and read other files in DuckDB itself"
    )


def fdr_summary(db: str | Path, run_id: int) -> dict | None:
    """A run's stored q-value summary (its ``run_fdr`` row: fdr, method, scope, pi0 and how it
    was estimated, n_tests, n_hits), or None when the run has no q-values."""
    from .warehouse.fdr import load_run_fdr

    with closing(connect(db, read_only=True)) as con:
        return load_run_fdr(con, run_id)


def check_out_dir(path: str | Path, flag: str = "--out-dir", *, of: str = "") -> None:
    """Refuse, before any work, a folder the command cannot write into (one line naming it).

    The folder may be missing (it is created) if its nearest existing ancestor is a folder
    that can be written; an existing one must be a folder that can be written.  ``of`` names
    the file the folder is for (``--out``'s folder), if it is one.
    """
    from .errors import InputError

    if not of and not str(path).strip():  # Path("") is the working folder: never meant
        raise UsageError(f"{flag} is empty. Fix: give {flag} a folder, such as results")
    path = Path(path)
    what = f"the folder of {flag}" if of else flag
    shown = Path(of) if of else path
    existing = nearest_existing(path)
    if existing is None:  # (a relative path's ancestors always include the working folder)
        return
    if not existing.is_dir():
        where = "is a file" if existing == path else f"is under {existing}, a file"
        raise InputError(
            shown,
            f"{what} {where}, not a folder",
            f"give {flag} a path in a folder" if of else f"give {flag} a folder",
        )
    if not _can_write_in(existing):
        where = "cannot be written" if existing == path else f"cannot be created in {existing}"
        raise InputError(
            shown,
            f"{what} {where} (permission denied or a read-only file system)",
            f"give {flag} a path you can write",
        )


def check_out_file(path: str | Path, flag: str = "--out", *, make_folder: bool = False) -> None:
    """Refuse, before any work, an output file that cannot be written: not a folder, and in
    a folder that exists (or, with ``make_folder``, can be created) and can be written."""
    from .errors import InputError

    path = Path(path)
    folder = path.absolute().parent
    if path.is_dir():
        raise InputError(path, f"{flag} is a folder", f"give {flag} a file name")
    if not make_folder and not folder.exists():
        raise InputError(
            path,
            f"{flag}'s folder {folder} does not exist",
            f"create the folder first (mkdir -p {folder}), or give {flag} a path in an "
            "existing folder",
        )
    check_out_dir(folder, flag, of=str(path))
    if path.exists() and not os.access(path, os.W_OK):
        raise InputError(
            path, f"{flag} cannot be written (permission denied)", "give a path you can write"
        )


def _can_write_in(folder: Path) -> bool:
    """Whether a file can be created in ``folder`` (tried: permissions mislead for root and
    read-only mounts)."""
    import tempfile

    try:
        tempfile.TemporaryFile(dir=folder).close()
    except OSError:
        return False
    return True


def check_dropin_paths(out_dir: str | Path, db: str | Path | None) -> None:
    """The drop-in's ``--out_dir`` and ``--db``, checked before anything is ingested."""
    from .warehouse.db import check_warehouse_file

    check_out_dir(out_dir, "--out_dir")
    check_warehouse_file(Path(db) if db else Path(out_dir) / "segqtl.duckdb")


# ------------------------------------------------------------------------- plots and reports
def plot_figure(
    db: str | Path,
    kind: str,
    run_id: int,
    *,
    run_b: int | None = None,
    phenotype: str | None = None,
    finemap_run: int | None = None,
):
    """The matplotlib figure of ``segqtl plot KIND`` (:data:`segqtl.plots.kinds.KINDS`).

    ``kind`` is ``qq``, ``pvalues``, ``manhattan``, ``locus`` (needs ``phenotype``),
    ``stability``, ``calibration`` or ``compare`` (needs ``run_b``, compared with ``run_id`` by
    :func:`compare` first).  Reads the warehouse only.
    """
    from .plots.kinds import build

    # like export: an older warehouse is upgraded first (briefly opened for writing)
    with closing(connect_reader(db)) as con:
        return build(
            con,
            kind,
            run_id,
            run_b=run_b,
            phenotype=phenotype,
            finemap_run=finemap_run,
            db=db,
        )


def plot(
    db: str | Path,
    kind: str,
    run_id: int,
    out: str | Path,
    *,
    run_b: int | None = None,
    phenotype: str | None = None,
    finemap_run: int | None = None,
) -> Path:
    """Draw :func:`plot_figure` into ``out`` (``.png``, ``.svg`` or ``.pdf``); returns the path.

    ``out`` is checked before any work and written through a temporary name in its folder,
    then renamed: it is never left half-written.
    """
    from .plots.kinds import check_out, save

    out = check_out(out)
    fig = plot_figure(db, kind, run_id, run_b=run_b, phenotype=phenotype, finemap_run=finemap_run)
    return save(fig, out)


def report(
    db: str | Path,
    run_id: int,
    out: str | Path,
    *,
    run_b: int | None = None,
    top: int = 50,
) -> Path:
    """Write the self-contained HTML report of a run (with ``run_b``: of the stored comparison
    of the two runs) to ``out``; returns the path.

    The page holds everything (figures as inline PNG, no external files or network): the run's
    parameters and provenance, counts by status, the mode's plots, the ``top`` strongest
    results as a sortable table and, for runs with q-values, the eGene list
    (:mod:`segqtl.plots.report`).
    """
    from .plots.kinds import check_out, write_atomically
    from .plots.report import comparison_report, run_report

    out = check_out(out, formats={".html": "html", ".htm": "html"})
    if top < 0:
        raise UsageError(f"--top {top}: must be at least 0. Fix: give a number such as 50")
    connect_reader(db).close()  # like export: an older warehouse is upgraded first
    shown = show(db, run_id)
    shown_b = None if run_b is None else show(db, run_b)
    with closing(connect(db, read_only=True)) as con:
        if shown_b is None:
            text = run_report(con, shown, run_id, db=db, top=top)
        else:
            text = comparison_report(con, shown, shown_b, run_id, run_b, db=db, top=top)
    return write_atomically(out, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def signif(
    db: str | Path,
    perm_run: int,
    nominal_run: int,
    level: float = 0.05,
    *,
    out: str | Path | None = None,
) -> dict:
    """Significant variant–phenotype pairs (tensorQTL's ``get_significant_pairs``): for every
    phenotype of beta perm run ``perm_run`` with q-value <= ``level``, every pair of the
    all-variants nominal run ``nominal_run`` with ``nominal_p`` <= the phenotype's nominal
    threshold (:mod:`segqtl.warehouse.signif` states the rules and refusals).

    The request is recorded (view ``significant_pairs``, ``WHERE signif_id = N``).  With
    ``out`` the pairs are written there as CSV (under a temporary name, then renamed);
    otherwise the summary's ``csv`` holds the CSV text.  Returns the summary: ``signif_id,
    perm_run, nominal_run, fdr, p_threshold, n_phenotypes, n_pairs`` (and ``csv``).
    """
    from .warehouse import signif as _signif

    with closing(connect(db, must_exist=True)) as con:
        summary = _signif.record_significant_pairs(con, perm_run, nominal_run, level)
        if out is not None:
            _signif.write_csv(con, summary["signif_id"], out)
        else:
            text, params = _signif.pairs_sql(summary["signif_id"])
            summary["csv"] = con.sql(text, params=params).pl().write_csv()
    return summary


# ------------------------------------------------------------------ issue 15: control, bundles
def ingest_control(
    db: str | Path, cohort: str, control: str | Path, *, replace: bool = False
) -> IngestResult:
    """Ingest the cohort a control file (``.yaml``/``.yml``/``.json``) or bundle (``.zip``)
    describes (:mod:`segqtl.ingest.control`).

    The files are made canonical where their conventions ask for it (in ``$TMPDIR``, removed
    afterwards), loaded in one transaction with the control file's text
    (``cohort_control``); every file's sha256 is of its bytes as given.  A malformed control
    file or bundle is a one-line :class:`~segqtl.errors.InputError` and nothing is written.
    """
    from .ingest.control import ingest_prepared, open_control, prepare_control, workdir
    from .ingest.load import check_cohort_name

    check_cohort_name(cohort)
    parsed = open_control(Path(control))
    with workdir() as work:
        prepared = prepare_control(parsed, work)
        return _with_new_db_cleanup(
            db,
            lambda con: ingest_prepared(
                con,
                cohort,
                prepared,
                source=str(Path(control).resolve()),
                fmt=parsed.format,
                text=parsed.text,
                replace=replace,
            ),
        )


def ingest_files(
    db: str | Path,
    cohort: str,
    inputs: CohortInputs | None = None,
    *,
    sep: str | None = None,
    na_strings: list[str] | tuple[str, ...] | None = (),
    comment_char: str | None = None,
    replace: bool = False,
    **paths,
) -> IngestResult:
    """:func:`ingest` with file conventions given for every file (``segqtl ingest --sep ';'
    --na-strings NA,- --comment-char '#'``); ``sep=None`` detects each file's separator.

    BOM, CRLF, quoted fields, separators, leading comment lines and compression are detected
    whether or not conventions are given: without conventions and with every file canonical
    this is :func:`ingest` itself; otherwise the conventions are recorded in
    ``cohort_control`` (format ``flags``).
    """
    from .ingest import CohortInputs
    from .ingest.control import ingest_prepared, prepare_plan, workdir
    from .ingest.load import check_cohort_name

    check_cohort_name(cohort)
    inputs = inputs or CohortInputs(**paths)
    conv, given = _file_conventions(sep, na_strings, comment_char)
    plan = _conversion_plan(inputs, conv, given)
    if plan is None:
        return ingest(db, cohort, inputs, replace=replace)  # the plain path, unchanged
    flags = _flags_json(conv)
    with workdir() as work:
        prepared = prepare_plan(plan, work)
        return _with_new_db_cleanup(
            db,
            lambda con: ingest_prepared(
                con,
                cohort,
                prepared,
                source="flags",
                fmt="flags",
                text=flags.encode(),
                replace=replace,
            ),
        )


def bundle(db: str | Path, cohort: str, out: str | Path) -> dict:
    """Write ``cohort`` as a bundle ``out`` (zip: ``cohort.yaml`` + SegmentQTL CSVs) that
    ``segqtl ingest --control`` reads back (:mod:`segqtl.ingest.bundle`).

    Returns ``{"files": member names, "checksum": the cohort's checksum}``.
    """
    from .ingest.bundle import write_bundle

    check_out_file(out, "--out")
    with closing(connect_reader(db)) as con:
        return write_bundle(con, cohort, Path(out))
