"""The Dask executor: same numbers as the local pool, units in order, bounded work in flight.

One :class:`distributed.LocalCluster` of two single-threaded worker processes serves the module
(``--scheduler`` at its address); one run starts its own (``--cluster local``) from the command
line.  Each run is compared with the same run on the local pool, table by table, row by row.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from contextlib import closing

import polars as pl
import pytest

from segqtl import api, modes
from segqtl.engine import executors, runner
from segqtl.simulate import simulate_cohort
from segqtl.spec import RunSpec
from segqtl.warehouse.db import connect

from .conftest import cohort_kwargs

distributed = pytest.importorskip("distributed")

#: Small settings so that each pair of runs takes about a second.
FAST = {
    "perm": {"num_permutations": 30},
    "finemap": {"n_bootstrap": 6, "n_lambda": 6},
    "validate": {"n_bootstrap": 6, "n_lambda": 6, "validation_cohort": "val"},
}


@pytest.fixture(scope="module")
def cluster():
    """The module's LocalCluster: two single-threaded worker processes, closed at the end."""
    with distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        dashboard_address="127.0.0.1:0",
        memory_limit=0,
        silence_logs=50,
    ) as local:
        yield local


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    """A warehouse with the small cohort 'small' and its validation cohort 'val'."""
    out = tmp_path_factory.mktemp("dask")
    cohort = simulate_cohort(
        out / "cohort", seed=7, n_samples=60, chromosomes=("1", "2"), n_phenotypes=12,
        n_variants=80, chromosome_length=6_000_000, missing_rate=0.03,
        phenotype_covariate=True, n_validation_samples=45,
    )  # fmt: skip
    db = out / "wh.duckdb"
    api.ingest(db, "small", **cohort_kwargs(cohort))
    val = cohort_kwargs(cohort.validation)
    val.pop("phenotype_covariate")
    api.ingest(db, "val", **val)
    return db


def _spec(mode: str, **kw) -> RunSpec:
    return RunSpec(
        mode=mode, cohort="small", chromosomes=["1", "2"], **{**FAST.get(mode, {}), **kw}
    )


def _tables(db, run_id) -> dict[str, pl.DataFrame]:
    """Every table the run's mode writes, without run_id, rows in a total order."""
    with closing(connect(db, read_only=True)) as con:
        mode = modes.get(
            con.execute("SELECT mode FROM runs WHERE run_id = ?", [run_id]).fetchall()[0][0]
        )
        out = {}
        for table in mode.tables:
            frame = con.sql(f"SELECT * FROM {table} WHERE run_id = {int(run_id)}").pl()
            frame = frame.drop("run_id")
            out[table] = frame.sort(frame.columns, nulls_last=True)
    return out


def _assert_same_results(db, pool_run: int, dask_run: int) -> None:
    pool, dask = _tables(db, pool_run), _tables(db, dask_run)
    assert list(pool) == list(dask)
    assert sum(f.height for f in pool.values()) > 0
    for table in pool:
        assert pool[table].equals(dask[table]), table  # NaN equals NaN, bit for bit otherwise


@pytest.mark.parametrize(
    "mode,kw",
    [
        ("nominal", {"all_variants": True}),
        ("perm", {"perm_method": "beta"}),
        ("perm", {"perm_method": "direct"}),
        ("finemap", {"compute_r2": True}),
        ("validate", {}),
    ],
    ids=["nominal_all_variants", "perm_beta", "perm_direct", "finemap", "validate"],
)
def test_run__dask_cluster_gives_the_pools_results(db, cluster, mode, kw):
    # three phenotypes per unit: several units per chromosome, finishing in any order
    pool_run = api.run(db, _spec(mode, phenotypes_per_unit=3, **kw))
    address = cluster.scheduler_address
    dask_run = api.run(
        db, _spec(mode, phenotypes_per_unit=3, executor="dask", scheduler=address, **kw)
    )
    _assert_same_results(db, pool_run, dask_run)


def test_resume__interrupted_dask_run_finishes_with_the_pools_results(db, cluster, monkeypatch):
    spec = _spec(
        "nominal", executor="dask", scheduler=cluster.scheduler_address, phenotypes_per_unit=4
    )
    write_unit = runner.runs.write_unit
    calls = []

    def interrupted_after_two(*args, **kw):
        if len(calls) == 2:
            raise KeyboardInterrupt
        calls.append(args)
        return write_unit(*args, **kw)

    monkeypatch.setattr(runner.runs, "write_unit", interrupted_after_two)
    with pytest.raises(KeyboardInterrupt):
        api.run(db, spec)
    monkeypatch.undo()
    with closing(connect(db, read_only=True)) as con:
        run_id, status = con.execute(
            "SELECT max(run_id), arg_max(status, run_id) FROM runs"
        ).fetchall()[0]
        done = con.execute(
            "SELECT unit_id, finished_at FROM run_units WHERE run_id = ? AND status = 'done'",
            [run_id],
        ).fetchall()
    assert status == "failed" and len(done) == 2
    api.resume(db, run_id)
    with closing(connect(db, read_only=True)) as con:
        after = dict(
            con.execute(
                "SELECT unit_id, finished_at FROM run_units WHERE run_id = ?", [run_id]
            ).fetchall()
        )
    assert all(after[u] == t for u, t in done)  # committed units were not recomputed
    _assert_same_results(db, api.run(db, _spec("nominal", phenotypes_per_unit=4)), run_id)


def test_cli_run__cluster_local_gives_the_pools_results_and_show_lists_the_executor(db):
    args = [sys.executable, "-m", "segqtl", "run", "--db", str(db), "--cohort", "small",
            "--chromosome", "1", "--chromosome", "2", "--mode", "nominal", "-q"]  # fmt: skip
    dask = subprocess.run(
        [*args, "--executor", "dask", "--cluster", "local", "--workers", "2"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert dask.returncode == 0, dask.stderr
    assert dask.stderr == ""  # Dask's own logging stays quiet
    dask_run = int(dask.stdout)
    _assert_same_results(db, api.run(db, _spec("nominal")), dask_run)
    shown = api.show(db, dask_run)["parameters"]
    assert (shown["executor"], shown["cluster"], shown["workers"], shown["scheduler"]) == (
        "dask", "local", 2, None,
    )  # fmt: skip


# ------------------------------------------------------------------------------ the executor
def slow_square(x: float) -> float:
    """A worker for the executor tests: later payloads finish first."""
    time.sleep(0.05 * (5 - x % 5))
    return x * x


def test_dask_map__yields_in_order_with_at_most_twice_the_workers_in_flight(cluster):
    pulled, yielded, most = [], [], [0]

    def payloads():
        for i in range(12):
            pulled.append(i)
            most[0] = max(most[0], len(pulled) - len(yielded))
            yield float(i)

    for result, seconds in executors.dask_map(
        f"{__name__}:slow_square", payloads(), scheduler=cluster.scheduler_address
    ):
        yielded.append(result)
        assert seconds > 0
    assert yielded == [float(i * i) for i in range(12)]
    assert most[0] == 2 * 2  # two workers: four units in flight, never more


def blas_threads(_payload) -> int:
    """A worker for the executor tests: the most threads any loaded BLAS/OpenMP pool may use."""
    import numpy  # noqa: F401  (loads the BLAS that is to be limited)
    from threadpoolctl import threadpool_info

    return max(pool["num_threads"] for pool in threadpool_info())


def test_dask_map__units_run_with_one_blas_thread(cluster):
    address = cluster.scheduler_address
    results = list(executors.dask_map(f"{__name__}:blas_threads", [0, 1], scheduler=address))
    assert [threads for threads, _ in results] == [1, 1]


def test_dask_map__worker_error_reaches_the_parent(cluster):
    with pytest.raises(TypeError):
        list(executors.dask_map("math:sqrt", ["four"], scheduler=cluster.scheduler_address))


def test_dask_map__unreachable_scheduler_is_a_one_line_error():
    import dask

    with dask.config.set({"distributed.comm.timeouts.connect": "1s"}):
        with pytest.raises(modes.UsageError, match="no Dask scheduler answers at tcp://127.0.0"):
            list(executors.dask_map("math:sqrt", [4.0], scheduler="tcp://127.0.0.1:9"))


# -------------------------------------------------------------------------------- the checks
@pytest.mark.parametrize(
    "kw,message",
    [
        ({"executor": "dask"}, "--executor dask needs a cluster. Fix: add --scheduler ADDRESS"),
        ({"executor": "dask", "scheduler": "tcp://h:8786", "cluster": "local"},
         "give --scheduler or --cluster, not both"),
        ({"executor": "dask", "scheduler": "tcp://h:8786", "workers": 2},
         "--workers sizes a cluster segqtl starts"),
        ({"scheduler": "tcp://h:8786"}, "--scheduler is a dask option. Fix: add --executor dask"),
        ({"workers": 2}, "--workers is a dask option"),
        ({"executor": "dask", "cluster": "slurm"}, "--cluster is not one of local"),
        ({"executor": "spark"}, "--executor is not one of pool, dask"),
    ],
    ids=["no_cluster", "both", "workers_with_scheduler", "scheduler_without_dask",
         "workers_without_dask", "cluster_slurm", "unknown_executor"],
)  # fmt: skip
def test_check_spec__executor_flags_that_do_not_fit_are_one_line_errors(kw, message):
    with pytest.raises(modes.UsageError, match=message) as err:
        modes.check_spec(_spec("nominal", **kw))
    assert "\n" not in str(err.value) and "Fix:" in str(err.value)


def test_check_spec__dask_without_the_extra_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)  # as if it were not installed
    with pytest.raises(modes.UsageError) as err:
        modes.check_spec(_spec("nominal", executor="dask", cluster="local"))
    assert str(err.value) == "--executor dask needs the dask extra. Fix: pip install 'segqtl[dask]'"


def test_check_spec__dask_executor_accepts_a_scheduler_or_a_local_cluster():
    modes.check_spec(_spec("nominal", executor="dask", scheduler="tcp://h:8786"))
    modes.check_spec(_spec("nominal", executor="dask", cluster="local", workers=3))
    spec = _spec("nominal", executor="dask", cluster="local", workers=3)
    assert json.loads(dict(spec.to_rows())["workers"]) == 3
