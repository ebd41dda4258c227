"""A warehouse readable while a run works (docs/concurrency.md).

A run holds the DuckDB file only while it reads a unit's inputs or commits
(:class:`segqtl.warehouse.db.WriterLease`); readers retry while it does.  These tests run a
slowed run (``SEGQTL_UNIT_PAUSE``) in a subprocess while the test polls it with the read
commands and a read-only DuckDB connection, and hold a read-only connection open mid-run.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from contextlib import closing

import duckdb
import polars as pl
import pytest

from segqtl import api
from segqtl.spec import RunSpec
from segqtl.warehouse.db import WriterLease, connect

N_PHENOTYPES = 24  # the small cohort: 12 phenotypes on each of chr1 and chr2


def _cli(*args, env=None, timeout=60) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "segqtl", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
    )


class _Run:
    """``segqtl run`` in a subprocess, its stderr collected (with arrival times) by a thread."""

    def __init__(self, db, *args, pause: str, env: dict | None = None):
        env = dict(os.environ, SEGQTL_UNIT_PAUSE=pause, **(env or {}))
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "segqtl", "run", "--db", str(db), "--cohort", "small",
             "--chromosome", "1", "--chromosome", "2", "--verbose", *args],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
        )  # fmt: skip
        self.lines: list[tuple[float, str]] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.proc.stderr:
            self.lines.append((time.monotonic(), line.rstrip("\n")))

    def running(self) -> bool:
        return self.proc.poll() is None

    def wait_started(self, timeout: float = 60) -> None:
        """Until the run is recorded ('run N started'): before that there is nothing to show."""
        deadline = time.monotonic() + timeout
        while not any(line.endswith(" started") for _, line in self.lines):
            assert self.running() and time.monotonic() < deadline, self.stderr()
            time.sleep(0.01)

    def committed(self) -> int:
        return sum("committed unit" in line for _, line in self.lines)

    def finish(self, timeout: float = 120) -> str:
        if self.proc.stdout.closed:  # finished already
            return ""
        out = self.proc.stdout.read()
        self.proc.wait(timeout)
        self._reader.join(timeout)
        self.proc.stdout.close()
        self.proc.stderr.close()
        return out

    def stderr(self) -> str:
        return "\n".join(line for _, line in self.lines)


def _read_only_counts(db) -> tuple[int, int, str | None]:
    """(committed units, result rows, status) through a plain read-only DuckDB connection."""
    con = duckdb.connect(str(db), read_only=True)
    try:
        units = con.execute("SELECT count(*) FROM run_units WHERE status = 'done'").fetchone()[0]
        rows = con.execute("SELECT coalesce(sum(n_rows), 0) FROM run_units").fetchone()[0]
        status = con.execute("SELECT max(status) FROM runs").fetchone()[0]
    finally:
        con.close()
    return units, int(rows), status


def _retrying(read, seconds: float = 30.0):
    """A plain duckdb client's read, retried while the run holds the file for a commit."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            return read()
        except duckdb.IOException:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.02)


def test_concurrency__read_commands_work_throughout_a_run(small_db):
    run = _Run(small_db, "--all-variants", "--unit-size", "2", "--progress-every", "0.5",
               pause="0.6")  # fmt: skip
    polls = []  # (units, rows) seen by each poll, in order
    progress_seen = []
    n_cli = 0
    try:
        run.wait_started()
        while run.running():
            units, rows, _ = _retrying(lambda: _read_only_counts(small_db))
            polls.append((units, rows))
            which = n_cli % 3
            n_cli += 1
            if which == 0:
                res = _cli("runs", "--db", str(small_db), "--format", "json")
                assert res.returncode == 0, res.stderr
                listed = json.loads(res.stdout)
                if listed and listed[0]["status"] == "running":
                    progress_seen.append(listed[0]["progress"])
            elif which == 1:
                res = _cli("show", "--db", str(small_db), "1", "--json")
                assert res.returncode == 0, res.stderr
                info = json.loads(res.stdout)
                polls.append((info["units"]["done"], polls[-1][1]))
                if info["run"]["status"] == "running":
                    progress_seen.append(info["progress"]["summary"])
            else:
                res = _cli("query", "--db", str(small_db), "--format", "json",
                           "SELECT count(*) AS n FROM nominal_stats")  # fmt: skip
                assert res.returncode == 0, res.stderr
                # result rows land with their unit's 'done' record, in one transaction
                assert json.loads(res.stdout)[0]["n"] >= polls[-1][1]
    finally:
        out = run.finish()
    assert run.proc.returncode == 0, run.stderr()
    assert out.strip() == "1"
    assert n_cli >= 3, "the run ended before the read commands could poll it"
    done_units = [u for u, _ in polls]
    assert done_units == sorted(done_units)  # never a committed unit lost from view
    assert [r for _, r in polls] == sorted(r for _, r in polls)
    assert any(0 < u < 12 for u in done_units), "no poll saw the run mid-way"
    # live progress, counted in phenotypes, with rate and ETA once a unit is committed
    assert any(f"/{N_PHENOTYPES} phenotypes" in p and "ETA" in p for p in progress_seen), (
        progress_seen
    )
    # the run id is told before any unit is committed
    lines = [line for _, line in run.lines]
    assert lines[0].endswith("run 1 started")
    assert run.committed() == 12
    # progress lines (not a terminal): timestamped, counted in phenotypes
    assert any(line[:4].isdigit() and f"of {N_PHENOTYPES} phenotypes" in line for line in lines), (
        lines
    )
    final = _read_only_counts(small_db)
    assert final[0] == 12 and final[2] == "completed"


def test_concurrency__idle_reader_makes_the_run_wait_not_fail(small_db):
    args = ["--mode", "perm", "--num-permutations", "30", "--unit-size", "2"]
    # units 0.5 s apart: longer than the lease lingers, so the reader gets in between commits
    run = _Run(small_db, *args, pause="0.5", env={"SEGQTL_LOCK_NOTICE": "1"})
    try:
        deadline = time.monotonic() + 60
        while run.committed() < 3 and run.running() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert run.running(), run.stderr()
        # a notebook's idle read-only connection, held for a few seconds mid-run
        reader = _retrying(lambda: duckdb.connect(str(small_db), read_only=True))
        held_at = time.monotonic()
        units_then = reader.execute(
            "SELECT count(*) FROM run_units WHERE status = 'done'"
        ).fetchone()[0]
        time.sleep(3.0)
        assert run.running(), run.stderr()
        units_held = reader.execute(
            "SELECT count(*) FROM run_units WHERE status = 'done'"
        ).fetchone()[0]
        reader.close()
        released_at = time.monotonic()
        out = run.finish()
    finally:
        if run.running():
            run.proc.kill()
        run.finish()  # closes the pipes, also when an assertion stopped the test early
    assert run.proc.returncode == 0, run.stderr()
    assert units_held == units_then
    # nothing is committed while the reader has the file (lines are stamped as they arrive)
    assert not [line for t, line in run.lines
                if held_at + 0.3 < t < released_at and "committed unit" in line]  # fmt: skip
    waits = [(t, line) for t, line in run.lines if "the run waits and continues" in line]
    assert len(waits) == 1, run.stderr()
    t_wait, wait_line = waits[0]
    assert "read-only client" in wait_line and str(small_db) in wait_line
    assert f"process {os.getpid()}" in wait_line  # names the holder: this test
    assert held_at < t_wait < released_at
    assert any("is free again" in line for _, line in run.lines)
    assert run.committed() == N_PHENOTYPES // 2
    run_id = int(out.strip())

    undisturbed = api.run(
        small_db,
        RunSpec(mode="perm", cohort="small", chromosomes=["1", "2"], num_permutations=30,
                phenotypes_per_unit=2),
    )  # fmt: skip

    def results(rid):
        return api.query(
            small_db,
            "SELECT * EXCLUDE (run_id, run_name) FROM perm_results WHERE run_id = $r "
            "ORDER BY chr, phenotype_idx",
            {"r": rid},
        )

    waited, clean = results(run_id), results(undisturbed)
    assert waited.height == N_PHENOTYPES
    assert waited.equals(clean)
    with closing(connect(small_db, read_only=True)) as con:
        qvalues = con.execute(
            "SELECT run_id, count(*) FROM qvalue_stats GROUP BY run_id ORDER BY run_id"
        ).fetchall()
    assert qvalues == [(run_id, N_PHENOTYPES), (undisturbed, N_PHENOTYPES)]


def test_concurrency__busy_warehouse_is_one_line_after_the_wait(small_db):
    holder = duckdb.connect(str(small_db))  # a writer that keeps the file
    try:
        env = dict(os.environ, SEGQTL_LOCK_WAIT="0.5")
        for args in (["runs"], ["query", "SELECT 1"], ["show", "1"], ["cohorts"]):
            start = time.monotonic()
            res = _cli(*args, "--db", str(small_db), env=env)
            assert res.returncode != 0
            assert time.monotonic() - start >= 0.5
            lines = res.stderr.strip().splitlines()
            assert len(lines) == 1, res.stderr
            assert f"the warehouse {small_db} is busy" in lines[0]
            assert f"process {os.getpid()}" in lines[0] and "SEGQTL_LOCK_WAIT" in lines[0]
            assert "Traceback" not in res.stderr
        bad = _cli("runs", "--db", str(small_db), env=dict(os.environ, SEGQTL_LOCK_WAIT="soon"))
        assert bad.returncode != 0 and "SEGQTL_LOCK_WAIT='soon'" in bad.stderr
    finally:
        holder.close()


def test_concurrency__reader_waits_for_a_commit_then_reads(small_db):
    holder = duckdb.connect(str(small_db))
    timer = threading.Timer(0.5, holder.close)  # a commit that takes half a second
    timer.start()
    start = time.monotonic()
    res = _cli("runs", "--db", str(small_db), "--format", "json")
    timer.join()
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout) == []
    assert time.monotonic() - start >= 0.5


def test_writer_lease__lets_go_when_idle_and_after_max_hold(small_db):
    with WriterLease(small_db, linger=0.2, max_hold=0.5, gap=0.1) as lease:
        lease.configure(threads=1)
        with lease.hold() as con:
            assert con.execute("SELECT current_setting('threads')").fetchone()[0] == 1
        assert lease.opens == 1
        # back-to-back holds share one open
        with lease.hold() as con:
            con.execute("SELECT count(*) FROM runs").fetchall()
        assert lease.opens == 1
        time.sleep(0.5)  # idle past linger: the watcher let go of the file
        assert lease._con is None
        probe = _cli("query", "--db", str(small_db), "SELECT 1 AS one")
        assert probe.returncode == 0, probe.stderr
        # held past max_hold: released at the end of the hold, reopened after the gap
        with lease.hold() as con:
            time.sleep(0.6)
        assert lease._con is None
        start = time.monotonic()
        with lease.hold() as con:
            assert con.execute("SELECT current_setting('threads')").fetchone()[0] == 1
        assert time.monotonic() - start >= 0.05
        assert lease.opens == 3
    assert lease._con is None


def test_run_progress__view_counts_phenotypes_rate_and_eta(small_db):
    run_id = api.run(
        small_db,
        RunSpec(mode="nominal", cohort="small", chromosomes=["1", "2"], phenotypes_per_unit=5),
    )
    with closing(connect(small_db)) as con:
        # make the run look half done: its last units pending again, with known unit times
        con.execute("UPDATE run_units SET seconds = 2.0 WHERE run_id = ?", [run_id])
        con.execute(
            "UPDATE run_units SET status = 'pending', n_phenotypes = NULL "
            "WHERE run_id = ? AND chr = 'chr2'",
            [run_id],
        )
        con.execute("UPDATE runs SET status = 'running' WHERE run_id = ?", [run_id])
        units = con.execute(
            "SELECT status, last_phenotype_idx - first_phenotype_idx + 1, seconds "
            "FROM run_units WHERE run_id = ?",
            [run_id],
        ).fetchall()
    done = sum(n for s, n, _ in units if s == "done")
    seconds = sum(t for s, _, t in units if s == "done")
    assert 0 < done < N_PHENOTYPES
    frame = api.list_runs(small_db)
    expected_rate = done / seconds
    eta = (N_PHENOTYPES - done) / expected_rate
    text = frame.filter(pl.col("run_id") == run_id)["progress"][0]
    assert text.startswith(f"{done}/{N_PHENOTYPES} phenotypes, {expected_rate:.3g}/s, ETA ")
    progress = api.show(small_db, run_id)["progress"]
    assert progress["phenotypes_done"] == done
    assert progress["phenotypes_total"] == N_PHENOTYPES
    assert progress["rate_per_second"] == pytest.approx(expected_rate, rel=1e-3)
    assert progress["eta_seconds"] == pytest.approx(eta, rel=1e-3)
