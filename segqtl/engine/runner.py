"""Run orchestration in the parent process: plan, read, dispatch, commit, finish."""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import duckdb

from .. import modes
from ..errors import SegqtlError, UsageError
from ..warehouse import reads, runs
from ..warehouse.db import HeldConnection, LeasedConnection, WriterLease, fetch_one
from .executors import map_units


def _timed(items: Iterator, phases: dict, key: str, lease) -> Iterator:
    """Yield from ``items``, adding the time spent producing them to ``phases[key]``.

    Each item is produced while holding the warehouse (``lease``, a
    :class:`~segqtl.warehouse.db.WriterLease`): the generator reads it lazily, and lets go
    between items.
    """
    it = iter(items)
    while True:
        start = time.perf_counter()
        try:
            with lease.hold():
                item = next(it)
        except StopIteration:
            phases[key] += time.perf_counter() - start
            return
        phases[key] += time.perf_counter() - start
        yield item


def _fail(lease, run_id: int, message: str, wait: float | None = None) -> None:
    """Record a failed run; an interrupted run whose warehouse stays busy is left 'running'
    (resuming works the same) rather than waiting on."""
    try:
        with lease.hold(wait=wait):
            runs.fail_run(lease.connection(), run_id, message)
    except SegqtlError:
        pass


def _size(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1000:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"


def _check_scratch(con, run_id: int, spec, mode, units, notify) -> None:
    """Say how much scratch the run's genotype copies need, and refuse if it does not fit."""
    chroms = sorted({mode.variant_chromosome(spec, u.chr) for u in units})
    cache = reads.genotype_cache()
    need = 0
    for cohort in mode.genotype_cohorts(spec):
        info = reads.cohort_info(con, cohort)
        need += reads.scratch_bytes(con, info, chroms, cache)
    if need == 0:
        return
    root = Path(_scratch_root(spec) or tempfile.gettempdir())
    free = shutil.disk_usage(root).free
    if notify is not None:
        kept = f", kept in the cache {cache}" if cache is not None else ""
        notify(f"run {run_id}: genotype copies need {_size(need)} in {root}{kept}")
    if need > free:
        raise UsageError(
            f"the scratch folder {root} has {_size(free)} free, and run {run_id}'s genotype "
            f"copies need {_size(need)}. Fix: free space there, or set SEGQTL_TMPDIR to a "
            "folder with more room"
        )


def _scratch_root(spec=None) -> str | None:
    """Where runs put their temporary genotype files: the run's ``--shared-scratch`` folder
    (which its Dask workers see), else $SEGQTL_TMPDIR, else the system default."""
    shared = getattr(spec, "shared_scratch", None) if spec is not None else None
    return shared or os.environ.get("SEGQTL_TMPDIR") or None


def execute(
    con: duckdb.DuckDBPyConnection | WriterLease,
    run_id: int,
    *,
    progress: bool = False,
    progress_every: float = 30.0,
    log: Callable[[str], None] | None = None,
    notify: Callable[[str], None] | None = None,
) -> dict:
    """Compute every pending unit of a run, committing each, then mark the run completed.

    Before any work the scratch space the genotype copies need is told to ``notify`` and checked
    against the free space of the scratch folder (a one-line error if it does not fit).

    Safe to call again after an interruption: committed units are not recomputed.  With
    ``progress``, stderr shows the phenotypes done, the rate and the time left (a bar on a
    terminal, else a timestamped line every ``progress_every`` seconds;
    :class:`~segqtl.engine.progress.Progress`).

    ``con`` is an open connection (kept open throughout) or a
    :class:`~segqtl.warehouse.db.WriterLease`, which holds the warehouse only while the run reads
    a unit's inputs or commits, so readers get in while the run works (docs/concurrency.md).

    Returns
    -------
    dict
        The run's totals (phenotypes, pairs tested/skipped, result rows, skipped by reason).
    """
    lease = con if isinstance(con, WriterLease) else HeldConnection(con)
    # Everything below reaches the warehouse through the lease, inside lease.hold().
    con = LeasedConnection(lease)
    try:
        return _execute(lease, con, run_id, progress, progress_every, log, notify)
    finally:
        lease.reset()


def _execute(lease, con, run_id, progress, progress_every, log, notify) -> dict:
    """:func:`execute`'s body: ``con`` (a :class:`LeasedConnection`) is used inside
    ``lease.hold()`` only, and nothing read through it outlives the hold."""
    with lease.hold():
        spec = runs.load_spec(con, run_id)
        mode = modes.get(spec.mode)
        info = reads.cohort_info(con, spec.cohort)
        mode.before_execute(con, run_id, spec)
        units = runs.pending_units(con, run_id)
        done = fetch_one(
            con,
            "SELECT coalesce(sum(n_phenotypes), 0) FROM run_units "
            "WHERE run_id = ? AND status = 'done'",
            [run_id],
        )[0]
        n_total = fetch_one(con, "SELECT n_units FROM runs WHERE run_id = ?", [run_id])[0]
    bar = None
    if progress:
        from .progress import Progress

        todo = sum(mode.unit_phenotypes(spec, u) for u in units)
        bar = Progress(run_id, int(done) + todo, int(done), every=progress_every)
    pause = float(os.environ.get("SEGQTL_UNIT_PAUSE", "0") or 0)
    cleanup: list[Path] = []
    results = None
    # where the time goes (runs.*_seconds; docs in sql/migrations/008_phases.sql)
    phases = {"read": 0.0, "compute": 0.0, "commit": 0.0}
    # One thread: the workers have the cores; DuckDB threads would compete.  No automatic
    # checkpoint every 16 MB of WAL: the units' commits stay appends (about twice as fast); the
    # lease checkpoints when it lets go of a WAL past its limit, and the run once at the end.
    # DuckDB's buffers get a quarter of --max-memory: reading a chromosome's genotypes would
    # otherwise keep them cached up to 80% of the machine's memory.
    budget = modes.params_module.parse_size(spec.max_memory, modes.flag_name)
    lease.configure(
        threads=1, checkpoint_threshold="1GB", memory_limit=f"{budget // 4 // 1_000_000}MB"
    )
    try:
        t_last = time.perf_counter()
        with lease.hold():
            _check_scratch(con, run_id, spec, mode, units, notify)
        scratch = Path(tempfile.mkdtemp(prefix=f"segqtl-run{run_id}-", dir=_scratch_root(spec)))
        cleanup.append(scratch)
        # (role, chromosome) -> the chromosome's scratch genotypes (None: the cohort has none)
        exports: dict[tuple[str, str], reads.GenotypeExport | None] = {}
        last_unit = {mode.variant_chromosome(spec, u.chr): u.unit_id for u in units}
        payloads = _timed(
            mode.payloads(con, spec, units, info, exports, scratch), phases, "read", lease
        )
        results = map_units(mode.worker, payloads, spec, preload=list(mode.preload))
        for unit, ((frame, counts), seconds) in zip(units, results, strict=True):
            now = time.perf_counter()
            phases["compute"] += seconds
            n_ph = mode.unit_phenotypes(spec, unit)
            variant_chr = mode.variant_chromosome(spec, unit.chr)
            with lease.hold():
                runs.write_unit(
                    con, run_id, mode, unit, frame, counts, n_ph, now - t_last, variant_chr
                )
                phases["commit"] += time.perf_counter() - now
                if last_unit[variant_chr] == unit.unit_id:  # no later unit reads this chromosome
                    for key in [k for k in exports if k[-1] == variant_chr]:
                        export = exports.pop(key)
                        if export is not None:
                            export.remove()  # may copy the rest into the cache: reads con
            t_last = now
            if log is not None:
                log(f"run {run_id}: committed unit {unit.unit_id + 1} of {n_total}")
            if bar is not None:
                bar.update(n_ph)
            if pause:
                time.sleep(pause)
    except SegqtlError as exc:
        _fail(lease, run_id, str(exc))
        raise
    except KeyboardInterrupt:
        _fail(lease, run_id, "interrupted", wait=5.0)
        raise
    except Exception as exc:
        _fail(lease, run_id, f"{type(exc).__name__}: {exc}")
        raise
    finally:
        if results is not None:  # stop the workers (and a cluster started for the run) now
            results.close()
        if bar is not None:
            bar.close()
        for path in cleanup:
            shutil.rmtree(path, ignore_errors=True)
        lease.reset()
    start = time.perf_counter()
    with lease.hold():  # the run's last steps in one hold
        totals = runs.finish_run(con, run_id)
        if runs.run_status(con, run_id) == "completed":  # a shard's run-level steps wait for merge
            mode.finish(con, run_id)
        con.execute("CHECKPOINT")
        phases["commit"] += time.perf_counter() - start
        runs.add_phase_seconds(con, run_id, phases)
    return totals
