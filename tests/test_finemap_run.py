"""finemap runs end to end on a small simulated cohort: warehouse rows, cores, failures."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from segqtl import api
from segqtl.kernels import finemap as fm
from segqtl.spec import RunSpec
from segqtl.warehouse.db import connect

FAST = dict(n_bootstrap=20, n_lambda=8, compute_r2=True)


def _spec(**kw) -> RunSpec:
    return RunSpec(
        **{"mode": "finemap", "cohort": "small", "chromosomes": ["1", "2"], **FAST, **kw}
    )


def _rows(db, sql, params):
    con = connect(db, read_only=True)
    try:
        return con.execute(sql, params).fetchall()
    finally:
        con.close()


def test_run_finemap__results_do_not_depend_on_cores(small_db):
    one = api.run(small_db, _spec(num_cores=1))
    two = api.run(small_db, _spec(num_cores=2, phenotypes_per_unit=5))
    cols = "chr, phenotype_idx, variant_idx, stability_score, lambda_selected, beta_full, status"
    sql = f"SELECT {cols} FROM finemap_stats WHERE run_id = ? ORDER BY ALL"
    a, b = _rows(small_db, sql, [one]), _rows(small_db, sql, [two])
    assert a == b and len(a) > 24
    boot = (
        "SELECT * EXCLUDE (run_id, unit_id) FROM finemap_bootstrap_stats WHERE run_id = ? "
        "ORDER BY ALL"
    )
    assert _rows(small_db, boot, [one]) == _rows(small_db, boot, [two])
    # every phenotype is accounted for: fitted rows or one marked empty row
    n_ph = _rows(
        small_db,
        "SELECT count(DISTINCT (chr, phenotype_idx)) FROM finemap_results WHERE run_id = ?",
        [one],
    )[0][0]
    assert n_ph == 24
    done = _rows(small_db, "SELECT status, n_phenotypes FROM runs WHERE run_id = ?", [one])
    assert done == [("completed", 24)]


def test_run_finemap__a_failing_phenotype_is_marked_and_the_run_goes_on(small_db, monkeypatch):
    real = fm.finemap_phenotype

    def flaky(prep, k, params):
        if k == 2:
            raise FloatingPointError("boom in phenotype 2")
        return real(prep, k, params)

    monkeypatch.setattr(fm, "finemap_phenotype", flaky)
    run_id = api.run(small_db, _spec(chromosomes=["1"], num_cores=1))
    failed = _rows(
        small_db,
        "SELECT phenotype_idx, variant, n_samples, status, message FROM finemap_results "
        "WHERE run_id = ? AND status <> 'tested'",
        [run_id],
    )
    assert failed == [(2, None, 0, "failed", "FloatingPointError: boom in phenotype 2")]
    others = _rows(
        small_db,
        "SELECT count(DISTINCT phenotype_idx) FROM finemap_results "
        "WHERE run_id = ? AND status = 'tested'",
        [run_id],
    )
    assert others == [(11,)]
    status = _rows(small_db, "SELECT status FROM runs WHERE run_id = ?", [run_id])
    assert status == [("completed",)]


@pytest.mark.slow
def test_run_finemap__killed_run_resumes_to_identical_results(small_db):
    args = ["--n-bootstrap", "20", "--n-lambda", "8", "--compute-r2"]
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "segqtl",
            "run",
            "--db",
            str(small_db),
            "--cohort",
            "small",
            "--mode",
            "finemap",
            "--chromosome",
            "1",
            "--chromosome",
            "2",
            "--verbose",
            *args,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ, SEGQTL_UNIT_PAUSE="0.3"),
        start_new_session=True,
    )
    committed = 0
    deadline = time.monotonic() + 180
    while committed < 3 and time.monotonic() < deadline:
        line = proc.stderr.readline()
        if not line:
            break
        committed += "committed unit" in line
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    proc.stdout.close()
    proc.stderr.close()
    assert committed == 3, "the run did not get far enough to be killed mid-way"
    run_id, status = _rows(small_db, "SELECT run_id, status FROM runs", [])[0]
    assert status == "running"
    api.resume(small_db, run_id)
    fresh = api.run(
        small_db,
        RunSpec(
            mode="finemap",
            cohort="small",
            chromosomes=["1", "2"],
            n_bootstrap=20,
            n_lambda=8,
            compute_r2=True,
        ),
    )
    for table in ("finemap_stats", "finemap_bootstrap_stats", "finemap_r2_stats"):
        sql = f"SELECT * EXCLUDE (run_id, unit_id) FROM {table} WHERE run_id = ? ORDER BY ALL"
        assert _rows(small_db, sql, [run_id]) == _rows(small_db, sql, [fresh]), table
