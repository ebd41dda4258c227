"""Faults: a run killed at any step, stopped by a signal, a dead worker, a full disk.

Each case asserts the exit code, the one line on stderr, that no process or scratch folder is
left, and that the run is either complete with all its results or resumable to results
identical to an uninterrupted run's (q-values included).  Runs are subprocesses
(``python -m segqtl run``) on the small simulated cohort; the test hook
``SEGQTL_TEST_KILL_AT=<step>`` makes a run SIGKILL itself at a named step boundary
(``segqtl.engine.runner.STEPS``), or every worker when it receives a unit (``worker``).
"""

from __future__ import annotations

import errno
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import duckdb
import psutil
import pytest
from click.testing import CliRunner

from segqtl import api
from segqtl.cli import cli
from segqtl.engine import pool, runner
from segqtl.spec import RunSpec
from segqtl.warehouse import reads, runs
from segqtl.warehouse.db import connect

from .conftest import cohort_kwargs

#: perm on both chromosomes, few permutations: q-values are its run-level step
RUN_ARGS = ("--mode", "perm", "--num-permutations", "50", "--chromosome", "1", "--chromosome", "2")
SPEC = {"mode": "perm", "num_permutations": 50, "chromosomes": ["1", "2"], "phenotypes_per_unit": 4}


@pytest.fixture(scope="module")
def reference(tmp_path_factory, small_cohort):
    """A warehouse with the cohort and an uninterrupted run, copied for each test."""
    folder = tmp_path_factory.mktemp("faults_reference")
    db = folder / "wh.duckdb"
    api.ingest(db, "small", **cohort_kwargs(small_cohort))
    run_id = api.run(db, RunSpec(cohort="small", **SPEC))
    return db, run_id


@pytest.fixture()
def db(reference, tmp_path):
    target = tmp_path / "wh.duckdb"
    shutil.copy(reference[0], target)
    return target


@pytest.fixture()
def scratch(monkeypatch):
    """The runs' scratch and temporary folder (subprocesses and this process); short, as the
    worker pool's socket path must be."""
    folder = Path(tempfile.mkdtemp(prefix="sqf", dir="/tmp"))
    monkeypatch.setenv("SEGQTL_TMPDIR", str(folder))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def results(db, run_id) -> dict:
    """Every result of a run: perm rows, q-values, the run-level summary and totals."""
    queries = {
        "perm": "SELECT * EXCLUDE (run_id) FROM perm_results WHERE run_id = ? "
        "ORDER BY chr, phenotype_idx",
        "qvalues": "SELECT * EXCLUDE (run_id, run_name) FROM qvalues WHERE run_id = ? "
        "ORDER BY chr, phenotype_idx",
        "fdr": "SELECT * EXCLUDE (run_id, computed_at) FROM run_fdr WHERE run_id = ?",
        "run": "SELECT status, n_units, n_phenotypes, n_pairs, n_pairs_tested, "
        "n_pairs_skipped, n_rows, error FROM runs WHERE run_id = ?",
        "top": "SELECT * EXCLUDE (run_id) FROM nominal_top_stats WHERE run_id = ? "
        "ORDER BY chr, phenotype_idx",
    }
    with connect(db, read_only=True) as con:
        return {k: con.execute(sql, [run_id]).fetchall() for k, sql in queries.items()}


def assert_same_results(db, run_id, reference) -> None:
    got, want = results(db, run_id), results(*reference)
    assert got["run"][0][0] == "completed"
    assert got["perm"] and got["qvalues"] and got["fdr"]
    assert got == want


def status(db, run_id) -> tuple[str, int, int]:
    """The run's status, units done, and q-value rows."""
    with connect(db, read_only=True) as con:
        return (
            con.execute("SELECT status FROM runs WHERE run_id = ?", [run_id]).fetchone()[0],
            con.execute(
                "SELECT count(*) FROM run_units WHERE run_id = ? AND status = 'done'", [run_id]
            ).fetchone()[0],
            con.execute("SELECT count(*) FROM qvalue_stats WHERE run_id = ?", [run_id]).fetchone()[
                0
            ],
        )


def last_run(db) -> int:
    with connect(db, read_only=True) as con:
        return con.execute("SELECT max(run_id) FROM runs").fetchone()[0]


def start(db, *extra, env=None, scratch=None, unit_pause="0"):
    """``python -m segqtl run`` in its own session (as a terminal's job), stderr piped."""
    env = dict(os.environ, SEGQTL_UNIT_PAUSE=unit_pause, **(env or {}))
    if scratch is not None:
        env.update(SEGQTL_TMPDIR=str(scratch), TMPDIR=str(scratch))
    return subprocess.Popen(
        [sys.executable, "-m", "segqtl", "run", "--db", str(db), "--cohort", "small", *RUN_ARGS]
        + ["--unit-size", "4", "--verbose", *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        start_new_session=True,
    )


def wait_for(proc, text: str, timeout: float = 60) -> list[str]:
    """stderr lines up to the first containing ``text``."""
    lines = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if not line:
            break
        lines.append(line)
        if text in line:
            return lines
    raise AssertionError(f"no {text!r} on stderr: {''.join(lines)}")


def descendants(pid: int) -> list[psutil.Process]:
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []


def gone(procs: list[psutil.Process], timeout: float) -> list[psutil.Process]:
    """Those of ``procs`` still alive (zombies count as gone) after up to ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        alive = []
        for p in procs:
            try:
                if p.is_running() and p.status() != psutil.STATUS_ZOMBIE:
                    alive.append(p)
            except psutil.NoSuchProcess:
                pass
        if not alive or time.monotonic() > deadline:
            return alive
        time.sleep(0.1)


def resume_cli(db, run_id, *extra):
    args = ["run", "--db", str(db), "--resume", str(run_id), "-q", *extra]
    res = CliRunner().invoke(cli, args)
    assert res.exit_code == 0, res.output
    return res


def error_lines(stderr: str) -> list[str]:
    """stderr without the progress and per-unit lines."""
    return [
        line
        for line in stderr.splitlines()
        if line.strip() and not re.search(r"committed unit \d| started$|phenotypes \(|"
                                           r"genotype copies need", line)
    ]  # fmt: skip


# --------------------------------------------------------------------------- kill at each step
@pytest.mark.parametrize("step", runner.STEPS)
def test_kill__at_each_step_boundary_is_complete_or_resumes_identically(
    step, db, reference, scratch
):
    proc = start(db, env={runner.KILL_HOOK: step}, scratch=scratch)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == -signal.SIGKILL, err
    run_id = last_run(db)
    state, _, n_qvalues = status(db, run_id)
    if step == "finish-committed":
        assert state == "completed"
        assert_same_results(db, run_id, reference)
    else:  # killed before its last transaction committed: unfinished, without q-values
        assert state == "running" and n_qvalues == 0
        with pytest.raises(api.UsageError, match="not completed"):
            api.export(db, run_id, scratch / "out")
        resume_cli(db, run_id)
        assert_same_results(db, run_id, reference)
    # the killed run's scratch (and the worker pool's folder) are gone after the resume
    assert [p.name for p in scratch.iterdir()] == []


def test_resume__completed_run_is_refused_and_has_its_qvalues(db, reference):
    run_id = reference[1]
    assert status(reference[0], run_id)[2] > 0
    res = CliRunner().invoke(cli, ["run", "--db", str(db), "--resume", str(run_id)])
    assert res.exit_code == 2 and "already completed" in res.stderr


# ------------------------------------------------------------------------------------ signals
@pytest.mark.parametrize(
    ("sig", "cores", "to_group"),
    [
        (signal.SIGINT, 2, True),
        (signal.SIGTERM, 2, False),
        (signal.SIGHUP, 1, False),
        (signal.SIGINT, 1, True),
    ],
)
def test_signal__stops_within_5s_with_one_line_and_resumes(
    sig, cores, to_group, db, reference, scratch
):
    proc = start(db, "--num-cores", str(cores), scratch=scratch, unit_pause="0.5")
    before = wait_for(proc, "committed unit 1 ")
    children = descendants(proc.pid)
    assert len(children) >= (cores + 1 if cores > 1 else 0)  # fork server and workers
    sent = time.monotonic()
    if to_group:  # as a terminal's Ctrl-C: the whole process group
        os.killpg(proc.pid, sig)
    else:
        os.kill(proc.pid, sig)
    _, err = proc.communicate(timeout=30)
    took = time.monotonic() - sent
    assert took < 5, f"stopping took {took:.1f} s"
    assert proc.returncode == 128 + sig
    assert "Traceback" not in err and "KeyboardInterrupt" not in err
    lines = error_lines("".join(before) + err)
    run_id = last_run(db)
    name = signal.Signals(sig).name
    assert lines == [
        f"segqtl: interrupted ({name}): run {run_id} stopped, its committed units are kept. "
        f"Resume it with 'segqtl run --db {db} --resume {run_id}'"
    ]
    assert gone(children, 5) == []
    assert [p.name for p in scratch.iterdir()] == []
    state, done, _ = status(db, run_id)
    assert state == runs.INTERRUPTED and done >= 1
    listed = api.list_runs(db)
    assert listed.filter(listed["run_id"] == run_id)["status"].to_list() == ["interrupted"]
    resume_cli(db, run_id, "--num-cores", "1")  # the numbers do not depend on the cores
    assert_same_results(db, run_id, reference)


def test_run__restores_the_signal_handlers_after_it(db, scratch):
    # the run's handlers are restored after it: a run via the API leaves none behind (whatever
    # earlier tests or libraries installed stays as it was)
    kinds = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
    before = {s: signal.getsignal(s) for s in kinds}
    api.run(db, RunSpec(cohort="small", **SPEC))
    assert {s: signal.getsignal(s) for s in kinds} == before


# ---------------------------------------------------------------------------- dead processes
def test_parent_killed__workers_exit_and_next_run_removes_leftovers(db, reference, scratch):
    proc = start(db, "--num-cores", "2", scratch=scratch, unit_pause="0.5")
    wait_for(proc, "committed unit 1 ")
    children = descendants(proc.pid)
    assert len(children) >= 3
    os.kill(proc.pid, signal.SIGKILL)  # the parent only, as the OOM killer would
    proc.communicate(timeout=30)
    assert gone(children, 5) == [], "orphaned workers"
    left = sorted(p.name for p in scratch.iterdir())
    assert left and all(name.startswith(("segqtl-run", "segqtl-mp-")) for name in left)
    assert not any(name.startswith("pymp-") for name in left)
    run_id = last_run(db)
    resume_cli(db, run_id, "--num-cores", "1")
    assert [p.name for p in scratch.iterdir()] == []
    assert_same_results(db, run_id, reference)


def _workers(pid: int) -> list[psutil.Process]:
    """The run's worker processes: the children of its fork server."""
    procs = descendants(pid)
    servers = {p.pid for p in procs if "forkserver" in " ".join(p.cmdline())}
    return [p for p in procs if p.ppid() in servers]


def test_worker_killed__its_unit_is_computed_again(db, reference, scratch):
    proc = start(db, "--num-cores", "2", scratch=scratch, env={"SEGQTL_TASK_PAUSE": "0.7"})
    wait_for(proc, " started")
    deadline = time.monotonic() + 30
    while len(_workers(proc.pid)) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(0.2)  # both workers hold a unit (each takes 0.7 s)
    victim = _workers(proc.pid)[0]
    victim.send_signal(signal.SIGKILL)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    run_id = last_run(db)
    assert (
        f"segqtl: run {run_id}: a worker process died (signal SIGKILL; the out-of-memory "
        "killer?) while computing a unit; computing it again\n"
    ) in err
    assert_same_results(db, run_id, reference)


def test_worker_dies_twice__run_stops_with_one_line_naming_memory(db, reference, scratch):
    proc = start(db, "--num-cores", "2", "-q", scratch=scratch, env={runner.KILL_HOOK: "worker"})
    started = time.monotonic()
    _, err = proc.communicate(timeout=120)
    assert time.monotonic() - started < 60
    run_id = last_run(db)
    assert proc.returncode == 3
    lines = error_lines(err)
    assert len(lines) == 1 and "Traceback" not in err
    assert lines[0].startswith("segqtl: error: a worker process died (killed, often by the "
                               "out-of-memory killer) while computing a unit, which was tried "
                               "2 times (signal SIGKILL, signal SIGKILL)")  # fmt: skip
    assert "Fix: lower --num-cores or --unit-size, or raise memory" in lines[0]
    assert lines[0].endswith(f"then resume with 'segqtl run --db {db} --resume {run_id}'")
    assert [p.name for p in scratch.iterdir()] == []
    state, done, _ = status(db, run_id)
    assert state == "failed" and done == 0
    resume_cli(db, run_id, "--num-cores", "1")
    assert_same_results(db, run_id, reference)


# -------------------------------------------------------------------------------- full disks
class _FullDisk:
    """A connection whose COMMIT fails as on a full disk: DuckDB ends the transaction."""

    def __init__(self, con):
        self._con = con

    def execute(self, sql, *args):
        if sql == "COMMIT":
            self._con.execute("ROLLBACK")
            raise duckdb.IOException(
                'IO Error: Could not write file "wh.duckdb.wal": No space left on device'
            )
        return self._con.execute(sql, *args)

    def __getattr__(self, name):
        return getattr(self._con, name)


def test_disk_full__warehouse_commit_is_one_line_and_resumable(db, reference, monkeypatch):
    real = runs.write_unit
    calls = []

    def write_unit(con, *args, **kwargs):
        calls.append(1)
        return real(_FullDisk(con) if len(calls) == 2 else con, *args, **kwargs)

    monkeypatch.setattr(runs, "write_unit", write_unit)
    res = CliRunner().invoke(
        cli, ["run", "--db", str(db), "--cohort", "small", *RUN_ARGS, "--unit-size", "4", "-q"]
    )
    monkeypatch.undo()
    assert res.exit_code == 1
    run_id = last_run(db)
    assert res.stderr.count("\n") == 1, res.stderr
    assert res.stderr.startswith(
        f"segqtl: error: no space left on the disk of the warehouse {db} (run {run_id}: "
    )
    assert "and its 5 units left need about" in res.stderr
    assert res.stderr.rstrip().endswith(f"Fix: free space there, then resume with 'segqtl run "
                                        f"--db {db} --resume {run_id}'")  # fmt: skip
    assert "TransactionException" not in res.stderr
    state, done, _ = status(db, run_id)
    assert state == "failed" and done == 1
    resume_cli(db, run_id)
    assert_same_results(db, run_id, reference)


def test_disk_full__scratch_write_is_one_line_and_resumable(db, reference, scratch, monkeypatch):
    monkeypatch.setenv("SEGQTL_CACHE", "off")
    real = os.pwrite
    calls = []

    def pwrite(fd, data, offset):
        calls.append(1)
        if len(calls) > 3:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(fd, data, offset)

    monkeypatch.setattr(reads.os, "pwrite", pwrite)
    res = CliRunner().invoke(
        cli, ["run", "--db", str(db), "--cohort", "small", *RUN_ARGS, "--unit-size", "4", "-q"]
    )
    monkeypatch.setattr(reads.os, "pwrite", real)
    run_id = last_run(db)
    assert res.exit_code == 1 and res.stderr.count("\n") == 1, res.stderr
    assert res.stderr.startswith(f"segqtl: error: no space left in {scratch}/segqtl-run{run_id}-")
    assert " for the genotype copy chr1." in res.stderr and "MB are free" in res.stderr
    assert f"(run {run_id} stopped; resume it with 'segqtl run --db {db} --resume" in res.stderr
    assert [p.name for p in scratch.iterdir()] == []
    assert status(db, run_id)[0] == "failed"
    resume_cli(db, run_id)
    assert_same_results(db, run_id, reference)


def test_disk_full__any_command_writing_a_file_says_so_in_one_line(db, monkeypatch, tmp_path):
    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "q.csv"))

    monkeypatch.setattr(api, "fdr", full)
    res = CliRunner().invoke(cli, ["fdr", "--db", str(db), "--run", "1", "--out", "q.csv"])
    assert res.exit_code == 1
    assert res.stderr == (
        f"segqtl: error: no space left on the device of {tmp_path / 'q.csv'}: [Errno 28] No "
        f"space left on device: '{tmp_path / 'q.csv'}'. Fix: free space there, or write to a "
        "folder with more room\n"
    )


# ---------------------------------------------------------------------------------- leftovers
def test_run__removes_scratch_of_dead_processes_only(db, scratch):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    dead_pid = int(dead.stdout)
    host = pool.owner_tag().rsplit("-pid", 1)[0]
    stale = [
        scratch / f"segqtl-run7-{host}-pid{dead_pid}-abc",
        scratch / f"segqtl-mp-{host}-pid{dead_pid}-def",
    ]
    kept = [
        scratch / f"segqtl-run8-{pool.owner_tag()}-ghi",  # this process: alive
        scratch / f"segqtl-run9-otherhost-pid{dead_pid}-jkl",  # another machine's
        scratch / "segqtl-cache",
    ]
    for folder in stale + kept:
        folder.mkdir()
        (folder / "chr1.alt.npy").write_bytes(b"x")
    api.run(db, RunSpec(cohort="small", **SPEC))
    assert sorted(p.name for p in scratch.iterdir()) == sorted(p.name for p in kept)


def test_cache__a_cut_short_copy_is_copied_again(db, reference, tmp_path, monkeypatch):
    monkeypatch.setenv("SEGQTL_CACHE", str(tmp_path / "cache"))
    first = api.run(db, RunSpec(cohort="small", **SPEC))
    alt = next((tmp_path / "cache").rglob("chr1.alt.npy"))
    with open(alt, "r+b") as fh:  # as a full disk or a user would leave it
        fh.truncate(alt.stat().st_size // 2)
    second = api.run(db, RunSpec(cohort="small", **SPEC))
    assert results(db, first) == results(db, second) == results(*reference)
    copy = {k: str(alt.with_name(f"chr1.{k}.npy")) for k in ("alt", "ref", "pos")}
    assert reads._whole(copy, 60)  # copied again in whole (60 samples)


# ------------------------------------------------------------------------------- the pool itself
def slow_square(x: int) -> int:
    """A worker for the pool tests: later payloads finish first."""
    time.sleep(0.05 * (5 - x % 5))
    if x == 7:
        raise ValueError("payload 7 is bad")
    return x * x


def test_pool__results_come_in_order_and_a_units_error_is_raised_here():
    got = [r for r, _ in pool.ordered_map("tests.test_faults:slow_square", range(7), 2)]
    assert got == [x * x for x in range(7)]
    with pytest.raises(ValueError, match="payload 7 is bad"):
        list(pool.ordered_map("tests.test_faults:slow_square", range(10), 2))


def frame_of(n: int):
    """A worker for the pool tests: a result frame with nulls, all-null and nested columns."""
    import polars as pl

    return pl.DataFrame(
        {
            "i": pl.Series([1, None, 3] * n, dtype=pl.Int8),
            "x": pl.Series([0.5, float("nan"), None] * n, dtype=pl.Float64),
            "none": pl.Series([None] * 3 * n, dtype=pl.Float64),
            "s": pl.Series(["a", None, "é"] * n, dtype=pl.Utf8),
            "e": pl.Series(["u", "v", "u"] * n, dtype=pl.Enum(["u", "v"])),
            "l": pl.Series([[1], [], None] * n, dtype=pl.List(pl.Int32)),
            "b": pl.Series([True, None, False] * n, dtype=pl.Boolean),
        }
    )


def test_pool__a_workers_frame_arrives_as_it_was_made():
    got = [r for r, _ in pool.ordered_map("tests.test_faults:frame_of", [0, 1, 5_000], 2)]
    for n, frame in zip([0, 1, 5_000], got, strict=True):
        want = frame_of(n)
        assert frame.schema == want.schema
        assert frame.equals(want, null_equal=True)
        assert frame["x"].is_nan().sum() == n and frame["x"].null_count() == n


def test_pool__while_starting_is_called_once_here_before_the_first_result():
    calls = []

    def payloads():
        for x in range(6):
            calls.append(("read", x))
            yield x

    results = pool.ordered_map(
        "tests.test_faults:slow_square",
        payloads(),
        2,
        while_starting=lambda: calls.append(("starting", threading.get_ident())),
    )
    first = next(results)
    # after the first payloads (2 per core), before any result, in this thread
    assert calls[:5] == [("read", x) for x in range(4)] + [("starting", threading.get_ident())]
    assert [first[0], *(r for r, _ in results)] == [x * x for x in range(6)]
    assert [c for c in calls if c[0] == "starting"] == [calls[4]]


def slow_unit(x: int) -> int:
    """A worker for the pool tests: a unit that takes long enough to kill its worker."""
    time.sleep(0.6)
    return x * x


def test_pool__a_dead_workers_late_write_reaches_no_other_worker(monkeypatch):
    """The parent sends a dead worker the None that ends it; a thread preempted between its
    check of the pipe and its write must not write into the next worker's pipe (the same
    descriptor number once closed), which ended that worker with exit code 0."""
    from multiprocess import connection
    from multiprocess.reduction import ForkingPickler

    none = bytes(ForkingPickler.dumps(None))
    real = connection.Connection._send

    def late_send(self, buf, write=os.write):
        if len(buf) <= len(none) + 8 and bytes(buf).endswith(none):
            handle = self._handle
            time.sleep(0.4)  # preempted between the check and the write
            write(handle, buf)
            return None
        return real(self, buf)

    monkeypatch.setattr(connection.Connection, "_send", late_send)
    told = []
    results = pool.ordered_map("tests.test_faults:slow_unit", range(6), 2, notify=told.append)
    got = [next(results)[0]]
    _workers(os.getpid())[0].send_signal(signal.SIGKILL)
    got += [r for r, _ in results]
    assert got == [x * x for x in range(6)]
    assert told == [
        "a worker process died (signal SIGKILL; the out-of-memory killer?) while computing "
        "a unit; computing it again"
    ]


def test_pool__workers_are_gone_after_a_stopped_iteration():
    results = pool.ordered_map("tests.test_faults:slow_square", range(20), 2)
    next(results)
    workers = _workers(os.getpid())
    assert len(workers) == 2
    results.close()  # as a run stopped by a signal or an error
    assert gone(workers, 3) == []


def test_disk_full__export_leaves_no_half_written_file(db, reference, tmp_path, monkeypatch):
    from segqtl.warehouse import export

    out = tmp_path / "out"
    real = os.replace

    def replace(src, dst):  # the disk fills up as the first file is completed
        raise OSError(errno.ENOSPC, "No space left on device", str(dst))

    monkeypatch.setattr(export.os, "replace", replace)
    res = CliRunner().invoke(
        cli, ["export", "--db", str(db), "--run", str(reference[1]), "--out-dir", str(out)]
    )
    monkeypatch.setattr(export.os, "replace", real)
    assert res.exit_code == 1
    assert res.stderr.count("\n") == 1
    assert res.stderr.startswith(f"segqtl: error: no space left on the device of {out}/")
    assert list(out.iterdir()) == []  # neither the file nor its temporary copy


def test_signal__inside_a_duckdb_query_is_still_an_interrupt():
    """DuckDB turns a signal that arrives during a query into RuntimeError('Query
    interrupted'); a run stops as interrupted all the same."""
    con = duckdb.connect()
    con.create_function(
        "term", lambda x: os.kill(os.getpid(), signal.SIGTERM) or x, ["BIGINT"], "BIGINT"
    )
    with pytest.raises(runner.Interrupted) as info, runner.stop_on_signals():
        con.execute("SELECT term(range) FROM range(3)").fetchall()
    assert info.value.signum == signal.SIGTERM
    assert runner._FIRED == []
