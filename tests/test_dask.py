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


def _watch_genotype_reads() -> None:
    """On a worker: record every file ``numpy.load`` opens from now on (the genotype files a
    unit memory-maps), so that a test can tell whether its workers read the parent's files."""
    import numpy

    if not hasattr(numpy, "_segqtl_load"):
        numpy._segqtl_load, numpy._segqtl_opened = numpy.load, []

        def load(file, *args, **kw):
            numpy._segqtl_opened.append(os.path.realpath(str(file)))
            return numpy._segqtl_load(file, *args, **kw)

        numpy.load = load
    numpy._segqtl_opened.clear()


def _genotype_reads() -> list[str]:
    """On a worker: the files recorded since :func:`_watch_genotype_reads`."""
    import numpy

    return list(numpy._segqtl_opened)


#: Every mode, with the options that exercise most of it; pool runs computed once per case.
MODE_CASES = {
    "nominal_all_variants": ("nominal", {"all_variants": True}),
    "perm_beta": ("perm", {"perm_method": "beta"}),
    "perm_direct": ("perm", {"perm_method": "direct"}),
    "finemap": ("finemap", {"compute_r2": True}),
    "validate": ("validate", {}),
}
_POOL_RUNS: dict[str, int] = {}


@pytest.mark.parametrize("genotypes", ["shipped", "shared_scratch"])
@pytest.mark.parametrize("case", list(MODE_CASES))
def test_run__dask_cluster_gives_the_pools_results(
    db, cluster, case, genotypes, tmp_path, monkeypatch
):
    mode, kw = MODE_CASES[case]
    # three phenotypes per unit: several units per chromosome, finishing in any order
    if case not in _POOL_RUNS:
        _POOL_RUNS[case] = api.run(db, _spec(mode, phenotypes_per_unit=3, **kw))
    shared = None
    if genotypes == "shared_scratch":
        shared = tmp_path / "shared"
        shared.mkdir()
        # the genotype cache inside the shared folder too, as the README recommends
        monkeypatch.setenv("SEGQTL_CACHE", str(shared / "cache"))
    with distributed.Client(cluster, set_as_default=False) as client:
        client.run(_watch_genotype_reads)
        dask_run = api.run(
            db,
            _spec(
                mode, phenotypes_per_unit=3, executor="dask", scheduler=cluster.scheduler_address,
                shared_scratch=None if shared is None else str(shared), **kw,
            ),
        )  # fmt: skip
        opened = [path for paths in client.run(_genotype_reads).values() for path in paths]
    _assert_same_results(db, _POOL_RUNS[case], dask_run)
    if shared is None:  # the units carried their rows: no worker opened a file
        assert opened == []
    else:  # the workers read the parent's copies in the shared folder, and nothing else
        assert opened and all(p.startswith(f"{shared.resolve()}{os.sep}") for p in opened)


def _genotype_files(tmp_path, n_variants=9, n_samples=5):
    """A chromosome's genotype files with missing dosages, as the runner writes them."""
    import numpy as np

    from segqtl.engine.units import GenotypeFiles

    rng = np.random.default_rng(3)
    alt = rng.uniform(0, 2, (n_variants, n_samples))
    ref = rng.uniform(0, 2, (n_variants, n_samples))
    alt[rng.uniform(size=alt.shape) < 0.2] = np.nan
    paths = {}
    for key, array in (("alt", alt), ("ref", ref), ("pos", np.arange(n_variants) * 100 + 7)):
        paths[key] = str(tmp_path / f"chr1.{key}.npy")
        np.save(paths[key], array)
    return GenotypeFiles("chr1", paths["alt"], paths["ref"], paths["pos"], n_variants)


@pytest.mark.parametrize(
    "rows", [[2, 3, 4], [0, 3, 8], [], None], ids=["contiguous", "scattered", "none", "all"]
)
def test_ship_genotypes__worker_decodes_the_shipped_rows_as_it_reads_the_files(tmp_path, rows):
    import pickle

    import numpy as np

    from segqtl.engine import units

    files = _genotype_files(tmp_path)
    rows = None if rows is None else np.asarray(rows, dtype=np.int64)
    covariates = pl.DataFrame({"name": ["age"], "values": [[1.0] * 5]})
    phenotypes = pl.DataFrame(
        {"phenotype_idx": [0], "gene_id": ["g"], "values": [[1.0] * 5], "pcov": [None],
         "cn": [None]}
    )  # fmt: skip
    part = units.CohortSlice("c", 5, phenotypes, covariates, files, rows, None, None, None)
    shipped = units.ship_genotypes(units.UnitPayload(main=part, params=None))
    assert isinstance(shipped.main.genotypes, units.GenotypeRows)
    assert units.genotype_paths(shipped) == []
    assert str(tmp_path).encode() not in pickle.dumps(shipped)  # no path travels with it
    from_files = units.UnitCohort(part)
    from_rows = units.UnitCohort(pickle.loads(pickle.dumps(shipped)).main)
    (block_f, vidx_f, pos_f), (block_r, vidx_r, pos_r) = from_files.block(), from_rows.block()
    for name in ("s", "d", "observed", "missing_rows", "missing_cols"):
        assert np.array_equal(getattr(block_f, name), getattr(block_r, name))
    assert np.array_equal(vidx_f, vidx_r) and np.array_equal(pos_f, pos_r)
    if rows is not None:  # finemap's and validate's form (their slices always have rows)
        (d_f, p_f), (d_r, p_r) = from_files.differences(), from_rows.differences()
        assert np.array_equal(d_f, d_r, equal_nan=True) and np.array_equal(p_f, p_r)
        want = np.load(files.ref)[rows] - np.load(files.alt)[rows]
        assert np.array_equal(d_r, want, equal_nan=True)


def test_for_workers__only_files_inside_the_shared_scratch_travel_as_paths(tmp_path):
    import numpy as np

    from segqtl.engine.units import CohortSlice, GenotypeFiles, GenotypeRows, UnitPayload

    (tmp_path / "shared").mkdir()
    files = _genotype_files(tmp_path / "shared")
    part = CohortSlice("c", 5, pl.DataFrame(), pl.DataFrame(), files, np.arange(3), *[None] * 3)
    payload = UnitPayload(main=part, params=None)
    shared = executors.for_workers(payload, str(tmp_path / "shared"))
    assert isinstance(shared.main.genotypes, GenotypeFiles)
    for elsewhere in (None, str(tmp_path / "other"), str(tmp_path / "sha")):
        shipped = executors.for_workers(payload, elsewhere)
        assert isinstance(shipped.main.genotypes, GenotypeRows)
        assert shipped.main.genotypes.alt.shape == (3, 5)
    assert executors.for_workers(2.0, None) == 2.0  # not a unit: unchanged


def test_dask_map__genotype_copy_outside_the_shared_scratch_is_sent_with_one_warning(
    tmp_path, cluster
):
    import numpy as np

    from segqtl.engine.units import CohortSlice, UnitPayload

    (tmp_path / "shared").mkdir()
    files = _genotype_files(tmp_path)  # a genotype cache elsewhere
    part = CohortSlice("c", 5, pl.DataFrame(), pl.DataFrame(), files, np.arange(3), *[None] * 3)
    payloads = [UnitPayload(main=part, params=None)] * 3
    with pytest.warns(UserWarning) as caught:
        out = list(
            executors.dask_map(
                f"{__name__}:genotype_kind", payloads, scheduler=cluster.scheduler_address,
                shared_scratch=str(tmp_path / "shared"),
            )
        )  # fmt: skip
    assert [kind for kind, _ in out] == ["GenotypeRows"] * 3
    messages = [str(w.message) for w in caught]
    assert messages == [
        f"the genotype copy {files.alt} is outside --shared-scratch {tmp_path / 'shared'}, so "
        "units send their genotype rows. Fix: set SEGQTL_CACHE to a folder inside it"
    ]


def genotype_kind(payload) -> str:
    """A worker for the executor tests: the form in which a unit's genotypes arrived."""
    return type(payload.main.genotypes).__name__


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
    assert status == "interrupted" and len(done) == 2  # Ctrl-C: resumable
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


def malloc_kept(_payload) -> tuple[str | None, bool]:
    """A Dask worker's MALLOC_TRIM_THRESHOLD_ and whether segqtl set its allocator's
    thresholds (test target)."""
    import os

    called = executors._keep_freed_memory.cache_info().misses == 1
    return os.environ.get("MALLOC_TRIM_THRESHOLD_"), called


def test_dask_map__workers_keep_freed_memory_despite_the_nannys_trim_setting(cluster):
    address = cluster.scheduler_address
    results = list(executors.dask_map(f"{__name__}:malloc_kept", [0, 1], scheduler=address))
    # the nanny's setting is there (it disables glibc's adaptive thresholds), and each worker
    # that ran a unit has set fixed ones (executors._keep_freed_memory)
    assert all(env is not None and kept for (env, kept), _ in results)


def test_local_cluster__workers_run_without_profiler_or_gil_monitor():
    import dask
    import distributed

    with executors.local_cluster(1) as cluster, distributed.Client(cluster) as client:
        got = client.run(
            lambda: (
                dask.config.get("distributed.worker.profile.enabled"),
                dask.config.get("distributed.admin.system-monitor.gil.enabled"),
            )
        )
    assert list(got.values()) == [(False, False)]
    assert dask.config.get("distributed.worker.profile.enabled")  # this process: unchanged


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
        ({"shared_scratch": "."}, "--shared-scratch is a dask option"),
        ({"executor": "dask", "cluster": "local", "shared_scratch": "/no/such/folder"},
         "--shared-scratch /no/such/folder is not a folder. Fix: create it"),
    ],
    ids=["no_cluster", "both", "workers_with_scheduler", "scheduler_without_dask",
         "workers_without_dask", "cluster_condor", "unknown_executor", "shared_scratch_pool",
         "shared_scratch_missing"],
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


# ------------------------------------------------------------------------- a lost scheduler
def _start(args: list[str], **kw) -> subprocess.Popen:
    """A Dask command (``distributed.cli.dask_scheduler``, ...) in its own process group."""
    return subprocess.Popen(
        [sys.executable, "-m", *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True, **kw,
    )  # fmt: skip


def test_cli_run__lost_scheduler_stops_in_one_line_and_resume_finishes_on_a_new_cluster(
    db, cluster, tmp_path
):
    import json as _json
    import signal

    scheduler_file = tmp_path / "scheduler.json"
    scheduler = _start(
        ["distributed.cli.dask_scheduler", "--host", "127.0.0.1", "--port", "0",
         "--dashboard-address", "127.0.0.1:0", "--scheduler-file", str(scheduler_file)]
    )  # fmt: skip
    worker = None
    try:
        deadline = time.monotonic() + 30
        while not scheduler_file.is_file() and time.monotonic() < deadline:
            time.sleep(0.1)
        address = _json.loads(scheduler_file.read_text())["address"]
        worker = _start(
            ["distributed.cli.dask_worker", address, "--nthreads", "1", "--nworkers", "1",
             "--no-dashboard", "--memory-limit", "0"]
        )  # fmt: skip
        args = [sys.executable, "-m", "segqtl", "run", "--db", str(db), "--cohort", "small",
                "--chromosome", "1", "--chromosome", "2", "--mode", "perm",
                "--num-permutations", "30", "--unit-size", "2", "-q", "-v"]  # fmt: skip
        # the parent waits after each commit, so the scheduler dies with units left to do
        env = {**os.environ, "SEGQTL_UNIT_PAUSE": "0.4"}
        run = subprocess.Popen(
            [*args, "--executor", "dask", "--scheduler", address],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
        )  # fmt: skip
        lines = []
        for line in run.stderr:
            lines.append(line)
            if "committed unit 2 of" in line:
                os.killpg(scheduler.pid, signal.SIGKILL)
                break
        out, rest = run.communicate(timeout=60)
    finally:
        for process in (scheduler, worker):
            if process is not None and process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
    stderr = "".join(lines) + rest
    errors = [x for x in stderr.splitlines() if "committed unit" not in x]
    assert run.returncode == 3 and out == "", stderr
    assert len(errors) == 1 and "Traceback" not in stderr, stderr
    with closing(connect(db, read_only=True)) as con:
        run_id, status, error = con.execute(
            "SELECT run_id, status, error FROM runs ORDER BY run_id DESC LIMIT 1"
        ).fetchall()[0]
        done, total = con.execute(
            "SELECT count(*) FILTER (status = 'done'), count(*) FROM run_units WHERE run_id = ?",
            [run_id],
        ).fetchall()[0]
    assert status == "failed" and f"scheduler at {address} was lost" in error
    assert 2 <= done < total
    assert errors[0] == (
        f"segqtl: error: run {run_id}: the Dask scheduler at {address} was lost after {done} "
        f"of {total} units were committed. Fix: start a scheduler and finish with 'segqtl run "
        f"--db {db} --resume {run_id} --executor dask --scheduler ADDRESS' (or --cluster local, or "
        "--executor pool)"
    )
    # finish it on another cluster (the module's): the recorded scheduler is replaced
    resumed = subprocess.run(
        [sys.executable, "-m", "segqtl", "run", "--db", str(db), "--resume", str(run_id),
         "--scheduler", cluster.scheduler_address, "-q"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert resumed.returncode == 0 and resumed.stderr == "", resumed.stderr
    shown = api.show(db, run_id)
    assert shown["run"]["status"] == "completed"
    assert shown["parameters"]["scheduler"] == cluster.scheduler_address
    pool_run = api.run(db, _spec("perm", phenotypes_per_unit=2, num_permutations=30))
    _assert_same_results(db, pool_run, run_id)


@pytest.mark.parametrize(
    "given,expected",
    [
        ({"scheduler": "tcp://new:8786"},
         {"executor": "dask", "scheduler": "tcp://new:8786", "cluster": None, "workers": None}),
        ({"executor": "pool", "num_cores": 2},
         {"executor": "pool", "scheduler": None, "cluster": None, "num_cores": 2}),
        ({"num_cores": 3}, {"executor": "dask", "cluster": "local", "workers": 2}),
    ],
    ids=["new_scheduler", "back_to_the_pool", "cores_only"],
)  # fmt: skip
def test_resumed_spec__execution_flags_replace_the_recorded_cluster(given, expected, tmp_path):
    recorded = _spec(
        "perm", executor="dask", cluster="local", workers=2, shared_scratch=str(tmp_path)
    )
    spec, changed = executors.resumed_spec(recorded, given, 4)
    assert {k: getattr(spec, k) for k in expected} == expected
    assert spec.num_permutations == recorded.num_permutations  # the model is untouched
    differ = {k for k, v in vars(spec).items() if v != getattr(recorded, k)}
    assert set(changed) == differ  # what api.resume records
    # a new cluster does not inherit the old one's shared folder; a change of cores keeps it
    assert spec.shared_scratch == (str(tmp_path) if list(given) == ["num_cores"] else None)


def test_resumed_spec__model_flag_or_misfit_executor_flags_are_one_line_errors():
    recorded = _spec("perm", executor="dask", cluster="local")
    with pytest.raises(modes.UsageError) as err:
        executors.resumed_spec(recorded, {"num_permutations": 100}, 4)
    assert str(err.value) == (
        "--num-permutations cannot change when run 4 resumes: its units were planned with the "
        "recorded value. Fix: drop --num-permutations, or start a new run"
    )
    with pytest.raises(modes.UsageError, match="--workers is a dask option"):
        executors.resumed_spec(recorded, {"executor": "pool", "workers": 2}, 4)
