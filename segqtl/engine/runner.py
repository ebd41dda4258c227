"""Run orchestration in the parent process: plan, read, dispatch, commit, finish."""

from __future__ import annotations

import contextlib
import errno
import importlib
import os
import shutil
import signal
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import duckdb

from .. import modes
from ..errors import SegqtlError, UsageError
from ..warehouse import reads, runs
from ..warehouse.db import (
    HeldConnection,
    LeasedConnection,
    WriterLease,
    fetch_one,
    transaction,
)
from . import pool
from .executors import map_units

#: The worker that applies --min-samples-observed before the mode's own (engine/observed.py).
OBSERVED_WORKER = "segqtl.engine.observed:compute_unit"


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


#: The test hook ``SEGQTL_TEST_KILL_AT=<step>`` (tests only, never set it otherwise) makes the
#: run's process SIGKILL itself at that step boundary, as a crash or ``kill -9`` there would.
KILL_HOOK = pool.KILL_HOOK
#: The step boundaries of a run, in order (:func:`kill_point`): the run recorded, its first unit
#: committed, its last unit committed, in its last transaction after the status and after the
#: run-level results (q-values), and after that transaction's commit.
STEPS = (
    "started",
    "unit-committed",
    "units-done",
    "finish-status",
    "finish-results",
    "finish-committed",
)


def kill_point(step: str) -> None:
    """Test hook: SIGKILL this process if ``$SEGQTL_TEST_KILL_AT`` names ``step``."""
    if step and os.environ.get(KILL_HOOK) == step:
        os.kill(os.getpid(), signal.SIGKILL)


class Interrupted(KeyboardInterrupt):
    """A run stopped by a signal: SIGINT (Ctrl-C), SIGTERM (SLURM, systemd) or SIGHUP.

    A :class:`KeyboardInterrupt`, so that everything that cleans up after Ctrl-C does so for
    all three.  ``signum`` is the signal; the runner adds ``run_id`` and ``db``.
    """

    def __init__(self, signum: int):
        self.signum = int(signum)
        super().__init__(signal.Signals(signum).name)


#: The signals that stop a run (exit code 128 + the signal's number).
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


@contextlib.contextmanager
def stop_on_signals():
    """While inside, SIGINT, SIGTERM and SIGHUP raise :class:`Interrupted` in the main thread.

    The first signal only: later ones are ignored while the run stops (its workers killed, its
    status recorded, its scratch removed), so a second Ctrl-C cannot cut that short.  Outside
    the main thread (where Python delivers no signals) nothing changes.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    fired: list[int] = []

    def handler(signum, frame):
        if fired:
            return
        fired.append(signum)
        _FIRED.append(signum)
        raise Interrupted(signum)

    previous = {sig: signal.signal(sig, handler) for sig in STOP_SIGNALS}
    try:
        yield
    except Exception:
        if fired:  # DuckDB turns the signal into RuntimeError('Query interrupted')
            raise Interrupted(fired[0]) from None
        raise
    finally:
        for sig, old in previous.items():
            if old is not None:
                signal.signal(sig, old)
        for signum in fired:
            _FIRED.remove(signum)


#: The signals :func:`stop_on_signals` has received, while inside it.
_FIRED: list[int] = []


def _as_interrupt(exc: BaseException) -> KeyboardInterrupt | None:
    """``exc`` as the interrupt it is: a KeyboardInterrupt, or the error a signal caused inside
    DuckDB (which raises ``RuntimeError('Query interrupted')`` instead of the handler's)."""
    if isinstance(exc, KeyboardInterrupt):
        return exc
    if _FIRED and isinstance(exc, Exception):
        return Interrupted(_FIRED[0])
    return None


def _fail(lease, run_id: int, message: str, wait: float | None = None, status="failed") -> None:
    """Record a stopped run (``failed``, or ``interrupted``); if the warehouse stays busy (or
    cannot be written: a full disk) it is left 'running', which resumes the same way."""
    try:
        with lease.hold(wait=wait):
            runs.fail_run(lease.connection(), run_id, message, status)
    except Exception:  # noqa: BLE001 - the error that stopped the run is the one to report
        pass


def _resume_hint(lease, run_id: int) -> str:
    path = getattr(lease, "path", None)
    db = f"--db {path} " if path is not None else ""
    return f"resume with 'segqtl run {db}--resume {run_id}'"


def _disk_full(lease, run_id: int, exc: BaseException, grown: int, done: int, todo: int):
    """The one-line error of a warehouse whose disk is full, or None for another error."""
    text = " ".join(str(exc).split())
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return SegqtlError(
            f"no space left for {exc.filename or 'a file run ' + str(run_id) + ' writes'} "
            f"({exc.strerror}). Fix: free space there, then {_resume_hint(lease, run_id)}"
        )
    if "No space left" not in text:  # DuckDB's I/O errors carry the OS's text
        return None
    path = getattr(lease, "path", None)
    where = Path(path).parent if path is not None else Path(".")
    free = shutil.disk_usage(where).free if where.exists() else 0
    need = ""
    if done and todo:  # what the committed units took, per unit, times the units left
        need = f", and its {todo} units left need about {_size(grown / done * todo)} more"
    return SegqtlError(
        f"no space left on the disk of the warehouse {path} (run {run_id}: {_size(free)} free"
        f"{need}). Fix: free space there, then {_resume_hint(lease, run_id)}"
    )


def _warehouse_bytes(lease) -> int:
    path = getattr(lease, "path", None)
    if path is None:
        return 0
    return sum(os.path.getsize(p) for p in (path, f"{path}.wal") if os.path.exists(p))


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
        # a conditional run takes the rule from its perm run (Mode.model_spec)
        minimum = mode.model_spec(con, spec).min_samples_observed
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
    kill_point("started")
    committed = 0
    size_before = _warehouse_bytes(lease)
    try:
        scratch = None
        try:
            t_last = time.perf_counter()
            with lease.hold():
                _check_scratch(con, run_id, spec, mode, units, notify)
            root = _scratch_root(spec) or tempfile.gettempdir()
            # what runs whose process was killed left: their scratch, their worker pool's
            # folder (nothing else removes them)
            pool.remove_stale(root, "segqtl-")
            if units:
                scratch = Path(
                    tempfile.mkdtemp(prefix=f"segqtl-run{run_id}-{pool.owner_tag()}-", dir=root)
                )
            # (role, chromosome) -> the chromosome's scratch genotypes (None: none there)
            exports: dict[tuple[str, str], reads.GenotypeExport | None] = {}
            last_unit = {mode.variant_chromosome(spec, u.chr): u.unit_id for u in units}
            payloads = _timed(
                mode.payloads(con, spec, units, info, exports, scratch), phases, "read", lease
            )
            target, preload = mode.worker, list(mode.preload)
            finish_imports = mode.finish_preload
            if minimum and modes.param("min_samples_observed").applies_to(spec.mode):
                # pairs observed in too few samples leave the windows first (engine/observed.py)
                target, preload = OBSERVED_WORKER, [*preload, OBSERVED_WORKER.split(":")[0]]
                payloads = (replace(p, min_observed=minimum, worker=mode.worker) for p in payloads)
            results = (
                map_units(
                    target,
                    payloads,
                    spec,
                    preload=preload,
                    notify=None if notify is None else lambda text: notify(f"run {run_id}: {text}"),
                    # the last step's imports, from when the workers start rather than at the end
                    while_starting=lambda: _import_in_background(finish_imports),
                )
                if units
                else iter(())
            )
            for unit, (result, seconds) in zip(units, results, strict=True):
                frame, counts = result[0], result[1]
                excluded = result[2] if len(result) > 2 else None
                now = time.perf_counter()
                phases["compute"] += seconds
                n_ph = mode.unit_phenotypes(spec, unit)
                variant_chr = mode.variant_chromosome(spec, unit.chr)
                with lease.hold():
                    runs.write_unit(
                        con,
                        run_id,
                        mode,
                        unit,
                        frame,
                        counts,
                        n_ph,
                        now - t_last,
                        variant_chr,
                        excluded=excluded,
                    )
                    committed += 1
                    phases["commit"] += time.perf_counter() - now
                    if last_unit[variant_chr] == unit.unit_id:  # no later unit reads it
                        for key in [k for k in exports if k[-1] == variant_chr]:
                            export = exports.pop(key)
                            if export is not None:
                                export.remove()  # may copy the rest into the cache: reads con
                kill_point("unit-committed" if committed == 1 else "")
                t_last = now
                if log is not None:
                    log(f"run {run_id}: committed unit {unit.unit_id + 1} of {n_total}")
                if bar is not None:
                    bar.update(n_ph)
                if pause:
                    time.sleep(pause)
        finally:
            if results is not None and hasattr(results, "close"):
                results.close()  # stop the workers (and a cluster started for the run) now
            if bar is not None:
                bar.close()
            if scratch is not None:
                shutil.rmtree(scratch, ignore_errors=True)
            lease.reset()
        kill_point("units-done")
        return _finish(lease, con, run_id, mode, phases)
    except BaseException as exc:
        stop = _as_interrupt(exc)
        if stop is None and not isinstance(exc, Exception):
            raise  # SystemExit, GeneratorExit: not the run's doing
        if stop is not None:  # status 'interrupted', resumable
            name = signal.Signals(getattr(stop, "signum", signal.SIGINT)).name
            _fail(lease, run_id, f"interrupted by {name}", wait=2.0, status=runs.INTERRUPTED)
            stop.run_id, stop.db = run_id, getattr(lease, "path", None)
            if stop is exc:
                raise
            raise stop from None
        error = _failed(lease, run_id, exc, committed, len(units) - committed, size_before)
        if error is exc:
            raise
        raise error from None


def _failed(lease, run_id: int, exc: BaseException, done: int, todo: int, size_before: int):
    """Record a run stopped by ``exc`` as failed (resumable); returns the error to raise:
    ``exc``, or one line naming the cause (a dead worker, a full disk) and how to resume."""
    error: BaseException = exc
    if isinstance(exc, pool.WorkerDied):
        error = pool.WorkerDied(
            exc.attempt_codes,
            f"; then {_resume_hint(lease, run_id)}",
            (modes.flag_name("num_cores"), modes.flag_name("phenotypes_per_unit")),
        )
    elif isinstance(exc, Exception) and not isinstance(exc, SegqtlError):
        grown = _warehouse_bytes(lease) - size_before
        error = _disk_full(lease, run_id, exc, grown, done, todo) or exc
    if isinstance(error, SegqtlError):
        # a full disk may keep the status from being written: do not wait for it long
        full = error is not exc and not isinstance(exc, pool.WorkerDied)
        _fail(lease, run_id, str(error), wait=2.0 if full else None)
    else:
        _fail(lease, run_id, f"{type(exc).__name__}: {exc}")
    return error


def _import_in_background(names: tuple[str, ...]) -> None:
    """Import the modules ``names`` in a thread of their own, beside the run.

    A mode's last step may import a module that takes a while (perm: the q-values'
    scipy.stats, about half a second). Imported here while the workers compute, it is ready
    when that step comes, and the first units were not held back for it. An import that fails
    is left to the step that needs the module: its own import raises the error then (and
    waits for this one while it is still running).
    """

    def run() -> None:
        for name in names:
            with contextlib.suppress(Exception):
                importlib.import_module(name)

    if names:
        threading.Thread(target=run, daemon=True, name="segqtl-finish-imports").start()


def _finish(lease, con, run_id: int, mode, phases: dict) -> dict:
    """The run's last transaction: its status, totals, run-level results (q-values) and phase
    times commit together, so a ``completed`` run always has all of them."""
    start = time.perf_counter()
    with lease.hold():
        with transaction(con):
            totals = runs.finish_run(con, run_id, transaction=False)
            kill_point("finish-status")
            if runs.run_status(con, run_id) == "completed":  # a shard's wait for the merge
                mode.finish(con, run_id, transaction=False)
            kill_point("finish-results")
            phases["commit"] += time.perf_counter() - start
            runs.add_phase_seconds(con, run_id, phases)
        kill_point("finish-committed")
        # The run is complete (its commit is in the WAL): a checkpoint that fails (a full disk)
        # is left to the next open, which replays the WAL.
        with contextlib.suppress(duckdb.Error):
            con.execute("CHECKPOINT")
    return totals
