"""The Dask executor: same numbers as the local pool, units in order, bounded work in flight.

One :class:`distributed.LocalCluster` of two single-threaded worker processes serves the module
(``--scheduler`` at its address); one run starts its own (``--cluster local``) from the command
line.  Each run is compared with the same run on the local pool, table by table, row by row.

There is no batch system here: the SLURM/PBS/LSF/SGE clusters are built (which starts only their
scheduler) and their job scripts read; the one run on a SLURM cluster submits its jobs to a fake
``sbatch`` that runs the job script on this machine.
"""

from __future__ import annotations

import json
import os
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
        ({"executor": "dask", "cluster": "condor"},
         "--cluster is not one of local, slurm, pbs, lsf, sge"),
        ({"executor": "spark"}, "--executor is not one of pool, dask"),
    ],
    ids=["no_cluster", "both", "workers_with_scheduler", "scheduler_without_dask",
         "workers_without_dask", "cluster_condor", "unknown_executor"],
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


# ------------------------------------------------------------------ batch clusters (jobqueue)
@pytest.fixture
def dask_jobqueue():
    """dask-jobqueue (installed with distributed by the dask extra; else the test is skipped)."""
    return pytest.importorskip("dask_jobqueue")


#: Every job flag, and the header directives each batch system's job script must carry for them
#: (4 single-threaded workers of 16GB / 4 each: dask-jobqueue's ``--memory-limit 3.73GiB``).
JOB_FLAGS = {
    "job_cores": 4, "job_memory": "16GB", "walltime": "02:00:00", "queue": "short",
    "account": "lab42", "job_extra": "--qos=high; --exclusive",
}  # fmt: skip
DIRECTIVES = {
    "slurm": ["#SBATCH -p short", "#SBATCH -A lab42", "#SBATCH --cpus-per-task=4",
              "#SBATCH --mem=15G", "#SBATCH -t 02:00:00", "#SBATCH --qos=high",
              "#SBATCH --exclusive"],
    "pbs": ["#PBS -q short", "#PBS -A lab42", "#PBS -l select=1:ncpus=4:mem=15GB",
            "#PBS -l walltime=02:00:00", "#PBS --qos=high", "#PBS --exclusive"],
    "lsf": ["#BSUB -q short", '#BSUB -P "lab42"', "#BSUB -n 4", "#BSUB -M 16000000",
            "#BSUB -W 02:00:00", "#BSUB --qos=high", "#BSUB --exclusive"],
    # SGE has no memory directive of its own (a site's resource_spec or --job-extra '-l ...')
    "sge": ["#$ -q short", "#$ -P lab42", "#$ -l h_rt=02:00:00", "#$ --qos=high",
            "#$ --exclusive"],
}  # fmt: skip


def _batch(cluster: str, **kw) -> RunSpec:
    return _spec("nominal", executor="dask", cluster=cluster, **kw)


def _header_and_worker(script: str) -> tuple[list[str], str]:
    lines = script.splitlines()
    return [x for x in lines if x.startswith("#") and not x.startswith("#!")], lines[-1]


@pytest.mark.parametrize("name", ["slurm", "pbs", "lsf", "sge"])
def test_jobqueue_cluster__job_script_has_the_flags_directives_and_no_job_is_submitted(
    name, dask_jobqueue
):
    with executors.jobqueue_cluster(_batch(name, **JOB_FLAGS)) as batch:
        header, worker = _header_and_worker(batch.job_script())
        assert not batch.workers and not batch.worker_spec  # built, nothing submitted
    for directive in DIRECTIVES[name]:
        assert directive in header, (directive, header)
    assert header[-2:] == [DIRECTIVES[name][-2], DIRECTIVES[name][-1]]  # extras, in order
    # one single-threaded worker process per core, each with its share of the job's memory
    assert {"--nthreads 1", "--nworkers 4", "--memory-limit 3.73GiB"} <= _options(worker)


def _options(worker: str) -> set[str]:
    """The worker command's ``--option value`` pairs, as strings."""
    words = worker.split()
    return {f"{a} {b}" for a, b in zip(words, words[1:], strict=False) if a.startswith("--")}


def test_jobqueue_settings__account_goes_to_each_class_keyword_for_it(dask_jobqueue):
    import inspect

    assert tuple(executors.JOBQUEUE_CLASSES) == modes.params_module.BATCH_CLUSTERS
    for name, (class_name, account, command) in executors.JOBQUEUE_CLASSES.items():
        cls, kwargs = executors.jobqueue_settings(_batch(name, **JOB_FLAGS))
        assert cls is getattr(dask_jobqueue, class_name)
        assert cls.job_cls.submit_command == command
        assert kwargs[account] == "lab42" and account in inspect.signature(cls.job_cls).parameters
        assert kwargs["job_extra_directives"] == ["--qos=high", "--exclusive"]
        assert kwargs["cores"] == kwargs["processes"] == 4


def test_jobqueue_cluster__yaml_config_supplies_the_settings_the_flags_leave_out(
    tmp_path, dask_jobqueue
):
    import dask

    (tmp_path / "jobqueue.yaml").write_text(
        "jobqueue:\n"
        "  slurm:\n"
        "    cores: 2\n"
        "    memory: 8GB\n"
        "    walltime: '06:00:00'\n"
        "    queue: long\n"
        "    account: lab7\n"
        "    job-extra-directives: ['--constraint=avx2']\n"
    )
    # read the file as dask reads ~/.config/dask/jobqueue.yaml or $DASK_CONFIG
    loaded = dask.config.collect(paths=[str(tmp_path)], env={})["jobqueue"]["slurm"]
    with dask.config.set({f"jobqueue.slurm.{k}": v for k, v in loaded.items()}):
        with executors.jobqueue_cluster(_batch("slurm")) as batch:
            from_config, config_worker = _header_and_worker(batch.job_script())
        with executors.jobqueue_cluster(_batch("slurm", queue="short", job_cores=4)) as batch:
            overridden, _ = _header_and_worker(batch.job_script())
    assert {"#SBATCH -p long", "#SBATCH -A lab7", "#SBATCH --cpus-per-task=2",
            "#SBATCH --mem=8G", "#SBATCH -t 06:00:00", "#SBATCH --constraint=avx2"} <= set(
        from_config)  # fmt: skip
    assert {"--nworkers 2", "--nthreads 1"} <= _options(config_worker)
    assert {"#SBATCH -p short", "#SBATCH --cpus-per-task=4", "#SBATCH -A lab7"} <= set(
        overridden
    )  # a flag given wins over the config; the others still come from it
    assert "#SBATCH -p long" not in overridden


@pytest.fixture
def sbatch_on_path(tmp_path, monkeypatch, dask_jobqueue):
    """A PATH whose only entry holds an ``sbatch`` that is never run (the submit check)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "sbatch").write_text("#!/bin/sh\nexit 1\n")
    (bin_dir / "sbatch").chmod(0o755)
    monkeypatch.setenv("PATH", str(bin_dir))


@pytest.mark.parametrize(
    "kw,message",
    [
        ({"queue": "short"}, "--queue is a dask option. Fix: add --executor dask"),
        ({"executor": "dask", "cluster": "local", "job_cores": 4},
         "--job-cores configures batch jobs, which --cluster slurm, pbs, lsf or sge submit"),
        ({"executor": "dask", "scheduler": "tcp://h:8786", "adapt_max": 4},
         "--adapt-max configures batch jobs"),
        ({"executor": "dask", "cluster": "slurm", "adapt_min": 2},
         "--adapt-min needs --adapt-max"),
        ({"executor": "dask", "cluster": "slurm", "adapt_min": 5, "adapt_max": 2},
         r"--adapt-min must be at most --adapt-max \(got 5 > 2\)"),
        ({"executor": "dask", "cluster": "slurm", "adapt_max": 4, "workers": 2},
         "give --workers .* or --adapt-max .*, not both"),
        ({"executor": "dask", "cluster": "slurm", "job_extra": " ; "},
         "--job-extra has no directive"),
        ({"executor": "dask", "cluster": "slurm", "job_memory": "16GB"},
         "--cluster slurm needs the cores per job. Fix: add --job-cores 8, or set "
         "jobqueue.slurm.cores"),
        ({"executor": "dask", "cluster": "pbs", "job_cores": 4},
         "--cluster pbs needs the memory per job. Fix: add --job-memory 16GB"),
        ({"executor": "dask", "cluster": "slurm", "job_cores": 4, "job_memory": "lots"},
         "--job-memory must be a size such as 16GB"),
        ({"executor": "dask", "cluster": "lsf", "job_cores": 4, "job_memory": "16GB"},
         "--cluster lsf submits jobs with bsub, which is not on PATH here"),
        ({"executor": "dask", "cluster": "slurm", "adapt_max": 0},
         r"--adapt-max must be in \[1, 4096\] \(got 0\)"),
    ],
    ids=["job_flag_without_dask", "job_flag_with_local", "adapt_with_scheduler",
         "adapt_min_alone", "adapt_min_above_max", "workers_and_adapt", "empty_job_extra",
         "no_cores", "no_memory", "bad_memory", "no_submit_command", "adapt_max_zero"],
)  # fmt: skip
def test_check_spec__batch_job_flags_that_do_not_fit_are_one_line_errors(
    kw, message, sbatch_on_path
):
    import dask

    # no cores or memory from a config file on this machine
    with dask.config.set({"jobqueue.slurm.cores": None, "jobqueue.pbs.memory": None}):
        with pytest.raises(modes.UsageError, match=message) as err:
            modes.check_spec(_spec("nominal", **kw))
    assert "\n" not in str(err.value) and "Fix:" in str(err.value)


def test_check_spec__batch_cluster_accepts_its_flags_and_records_them(sbatch_on_path):
    spec = _batch("slurm", adapt_min=1, adapt_max=8, **JOB_FLAGS)
    modes.check_spec(spec)
    modes.check_spec(_batch("slurm", workers=3, job_cores=2, job_memory="4GB"))
    rows = {k: json.loads(v) for k, v in spec.to_rows()}
    assert {k: rows[k] for k in (*JOB_FLAGS, "adapt_min", "adapt_max")} == {
        **JOB_FLAGS, "adapt_min": 1, "adapt_max": 8,
    }  # fmt: skip
    assert RunSpec.from_rows(spec.to_rows()) == spec


def test_check_spec__batch_cluster_without_dask_jobqueue_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "dask_jobqueue", None)  # as if it were not installed
    with pytest.raises(modes.UsageError) as err:
        modes.check_spec(_batch("slurm", job_cores=4, job_memory="16GB"))
    assert str(err.value) == executors.MISSING_DASK


@pytest.fixture
def fake_slurm(tmp_path, monkeypatch, dask_jobqueue):
    """An ``sbatch`` that runs each job script here, in its own process group, and a
    ``scancel`` that ends that group: SLURM's two commands, without a batch system.

    Yields the file where ``scancel`` records the jobs it ended.
    """
    bin_dir, cancelled = tmp_path / "bin", tmp_path / "cancelled"
    bin_dir.mkdir()
    (bin_dir / "sbatch").write_text(
        "#!/bin/sh\n"
        f'script="{tmp_path}/job-$$.sh"\n'
        'cp "$1" "$script"\n'  # dask-jobqueue deletes its copy once sbatch returns
        'setsid sh "$script" >/dev/null 2>&1 </dev/null &\n'
        'echo "Submitted batch job $!"\n'
    )
    (bin_dir / "scancel").write_text(
        "#!/bin/sh\n"
        f'for job in "$@"; do kill -TERM -- "-$job"; echo "$job" >> "{cancelled}"; done\n'
    )
    for command in ("sbatch", "scancel"):
        (bin_dir / command).chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    yield cancelled


@pytest.mark.parametrize(
    "jobs", [{"workers": 1}, {"adapt_min": 0, "adapt_max": 1}], ids=["scaled", "adaptive"]
)
def test_dask_map__slurm_cluster_runs_the_units_on_its_jobs_and_cancels_them(fake_slurm, jobs):
    spec = _batch("slurm", job_cores=2, job_memory="2GB", **jobs)
    modes.check_spec(spec)
    pulled, yielded, most = [], [], [0]

    def payloads():
        for i in range(8):
            pulled.append(i)
            most[0] = max(most[0], len(pulled) - len(yielded))
            yield float(i)

    for result, seconds in executors.map_units(f"{__name__}:slow_square", payloads(), spec):
        yielded.append(result)
        assert seconds > 0
    assert yielded == [float(i * i) for i in range(8)]
    assert most[0] == 2 * 2  # one job of two single-threaded workers: four units in flight
    assert len(fake_slurm.read_text().split()) == 1  # the job was cancelled with the cluster


def test_run__worker_killed_mid_unit_is_replaced_and_the_unit_recomputed(db, monkeypatch):
    import os
    import signal
    import threading
    import time

    pool_run = api.run(db, _spec("nominal", phenotypes_per_unit=4))
    monkeypatch.setenv("SEGQTL_TASK_PAUSE", "1.5")  # inherited by the workers started below
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address="127.0.0.1:0",
        memory_limit=0, silence_logs=50,
    ) as local, distributed.Client(local, set_as_default=False) as client:  # fmt: skip
        spec = _spec(
            "nominal", executor="dask", scheduler=local.scheduler_address, phenotypes_per_unit=4
        )
        outcome = {}
        thread = threading.Thread(
            target=lambda: outcome.setdefault("run", api.run(db, spec)), daemon=True
        )
        thread.start()
        deadline = time.monotonic() + 60
        busy = {}
        while not busy and time.monotonic() < deadline:
            busy = {w: tasks for w, tasks in client.processing().items() if tasks}
            time.sleep(0.05)
        assert busy, "no unit reached a worker"
        victim = next(iter(busy))
        pid = client.run(os.getpid, workers=[victim])[victim]
        os.kill(pid, signal.SIGKILL)  # as the out-of-memory killer does
        thread.join(timeout=120)
        assert not thread.is_alive() and "run" in outcome
    _assert_same_results(db, pool_run, outcome["run"])
