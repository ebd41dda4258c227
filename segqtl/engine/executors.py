"""Executors: where a run's work units are computed.

Every executor has one contract, :func:`map_units`'s: yield ``(result, seconds)`` for each
payload, **in unit order**, with a bounded number of units in flight, so that the parent
(:func:`segqtl.engine.runner.execute`) commits each finished unit as it comes and a run resumes
the same way whichever executor computed it.  Workers are named (``"module:function"``) and
imported only where they run, never in the parent.

- ``pool`` (the default): ``multiprocess`` worker processes on this machine
  (:func:`segqtl.engine.pool.ordered_map`).
- ``dask``: a Dask cluster, either a running ``dask scheduler`` (``--scheduler ADDRESS``), a
  :class:`distributed.LocalCluster` started for the run (``--cluster local --workers N``) or
  batch jobs submitted for the run through dask-jobqueue (``--cluster slurm|pbs|lsf|sge``:
  :func:`jobqueue_cluster`, configured by dask-jobqueue's own config file and the job flags).
  It needs the optional ``dask`` extra; this module imports ``distributed`` and
  ``dask_jobqueue`` only when a dask run starts.  Workers read the genotype files the parent
  wrote to its scratch/cache folder, so in this version they must share the parent's file
  system.

The executor parameters change where the numbers are computed, never the numbers: each unit is
the same function of the same payload, and each payload's random seeds are its own.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
import shutil
import time
from collections.abc import Callable, Iterable, Iterator

from threadpoolctl import threadpool_limits

from .. import modes
from ..errors import UsageError
from ..modes.parameters import BATCH_CLUSTERS, job_extra_directives
from .pool import _call, in_order, ordered_map, resolve

#: The one line shown when ``--executor dask`` is asked for without the extra installed.
MISSING_DASK = "--executor dask needs the dask extra. Fix: pip install 'segqtl[dask]'"


def require_dask():
    """The ``distributed`` module, or a one-line :class:`UsageError` saying how to install it."""
    try:
        import distributed
    except ImportError:
        raise UsageError(MISSING_DASK) from None
    return distributed


#: Each batch system (:data:`~segqtl.modes.parameters.BATCH_CLUSTERS`): its dask-jobqueue
#: cluster class, the keyword that takes ``--account`` (SLURM and PBS call it ``account``, LSF
#: and SGE ``project``) and the command that submits its jobs.  The other job flags have the
#: same keyword in every class: ``cores``, ``memory``, ``walltime``, ``queue`` and
#: ``job_extra_directives``.
JOBQUEUE_CLASSES = {
    "slurm": ("SLURMCluster", "account", "sbatch"),
    "pbs": ("PBSCluster", "account", "qsub"),
    "lsf": ("LSFCluster", "project", "bsub"),
    "sge": ("SGECluster", "project", "qsub"),
}


def jobqueue_settings(spec, flag: Callable[[str], str] | None = None) -> tuple[type, dict]:
    """The dask-jobqueue cluster class of ``spec.cluster`` and its keyword arguments.

    Only the job flags given are passed, so dask-jobqueue takes every other setting from its
    configuration (``jobqueue.<cluster>.*``: ``~/.config/dask/jobqueue.yaml``,
    ``$DASK_CONFIG``).  The cores per job come from ``--job-cores`` or that configuration, and
    ``processes`` is set to them: each job runs one single-threaded worker process per core.

    Parameters
    ----------
    spec : RunSpec
        The run's parameters; ``spec.cluster`` is one of slurm, pbs, lsf, sge.
    flag : callable, optional
        Spells a parameter's flag for messages (default :func:`segqtl.modes.flag_name`).

    Returns
    -------
    (type, dict)
        The cluster class (``dask_jobqueue.SLURMCluster``, ...) and its keyword arguments.

    Raises
    ------
    UsageError
        One line: dask-jobqueue is not installed, ``--job-memory`` is not a size, or the
        cores or memory per job are neither given nor configured.
    """
    flag = flag or modes.flag_name
    require_dask()
    try:
        dask_jobqueue = importlib.import_module("dask_jobqueue")
    except ImportError:
        raise UsageError(MISSING_DASK) from None
    import dask
    from dask.utils import parse_bytes

    name = spec.cluster
    class_name, account_keyword, _ = JOBQUEUE_CLASSES[name]
    config = f"jobqueue.{name}"
    cores = spec.job_cores if spec.job_cores is not None else dask.config.get(f"{config}.cores")
    memory = spec.job_memory if spec.job_memory is not None else dask.config.get(f"{config}.memory")
    if cores is None or memory is None:
        missing, what, example = (
            ("job_cores", "cores", "8") if cores is None else ("job_memory", "memory", "16GB")
        )
        raise UsageError(
            f"{flag('cluster')} {name} needs the {what} per job. Fix: add {flag(missing)} "
            f"{example}, or set {config}.{what} in ~/.config/dask/jobqueue.yaml"
        )
    try:
        parse_bytes(memory)
    except (ValueError, TypeError):
        source = flag("job_memory") if spec.job_memory else f"{config}.memory"
        raise UsageError(
            f"{source} must be a size such as 16GB (got {memory!r}). Fix: give the memory per "
            "job with its unit, such as 16GB"
        ) from None
    kwargs: dict = {"cores": cores, "memory": memory, "processes": cores}
    for field in ("walltime", "queue"):  # the same keyword in every class
        if getattr(spec, field) is not None:
            kwargs[field] = getattr(spec, field)
    if spec.account is not None:
        kwargs[account_keyword] = spec.account
    if spec.job_extra is not None:
        kwargs["job_extra_directives"] = job_extra_directives(spec.job_extra)
    # The scheduler runs here; its dashboard takes any free port unless the config names one
    # (the default 8787 is taken by any other cluster on a login node: a warning per run).
    scheduler_options = dask.config.get(f"{config}.scheduler-options", None) or {}
    kwargs["scheduler_options"] = {"dashboard_address": "127.0.0.1:0", **scheduler_options}
    return getattr(dask_jobqueue, class_name), kwargs


def jobqueue_cluster(spec):
    """The run's dask-jobqueue cluster, with no job submitted yet.

    Creating it starts the Dask scheduler in this process; jobs are submitted only when it is
    scaled (:meth:`scale`/:meth:`adapt`, which :func:`dask_map` calls).  Close it (``with``)
    to stop the scheduler and cancel the jobs.

    Parameters
    ----------
    spec : RunSpec
        The run's parameters (:func:`jobqueue_settings`).

    Returns
    -------
    dask_jobqueue.JobQueueCluster
        A ``SLURMCluster``, ``PBSCluster``, ``LSFCluster`` or ``SGECluster``;
        ``job_script()`` shows the script each job would run.
    """
    cls, kwargs = jobqueue_settings(spec)
    return cls(**kwargs)


def check_submit_command(cluster: str, flag: Callable[[str], str] | None = None) -> None:
    """Refuse a batch-system cluster whose submit command (``sbatch``, ...) is not on PATH.

    Without it no job could start and the run would wait for workers forever.  ``flag`` spells
    flags in the message (default :func:`segqtl.modes.flag_name`).
    """
    flag = flag or modes.flag_name
    command = JOBQUEUE_CLASSES[cluster][2]
    if shutil.which(command) is None:
        raise UsageError(
            f"{flag('cluster')} {cluster} submits jobs with {command}, which is not on PATH "
            f"here. Fix: run segqtl where {cluster.upper()} jobs are submitted (a login node), "
            f"or use {flag('cluster')} local"
        )


def map_units(target: str, payloads: Iterable, spec, *, preload: list[str] | None = None):
    """Yield ``(target(p), seconds)`` for each payload, in order, on the run's executor.

    Parameters
    ----------
    target : str
        The worker, as ``"module:function"`` (imported only by the processes that compute).
    payloads : iterable
        The units' payloads, pulled lazily (a bounded number is held at once).
    spec : RunSpec
        The run's parameters: ``executor``, ``num_cores`` (pool) or ``scheduler``/``cluster``/
        ``workers`` and the batch jobs' flags (dask).
    preload : list of str, optional
        Modules the pool's fork server imports once (the mode's ``preload``).

    Returns
    -------
    iterator of (object, float)
        Each unit's result and the seconds its computation took in its worker.
    """
    if spec.executor == "dask":
        batch = spec.cluster in BATCH_CLUSTERS
        return dask_map(
            target,
            payloads,
            scheduler=spec.scheduler,
            cluster=spec.cluster,
            # a LocalCluster's worker processes, or a batch cluster's jobs
            workers=spec.workers or (1 if batch else spec.num_cores),
            spec=spec if batch else None,
        )
    return ordered_map(target, payloads, spec.num_cores, preload=preload)


def _task(target: str, payload):
    """One unit on a Dask worker: :func:`~segqtl.engine.pool._call` with one BLAS thread.

    The worker module is imported first, so that the BLAS/OpenMP libraries it loads exist when
    they are limited; one thread per unit keeps N single-threaded workers on N cores, as the
    pool's workers are (Dask only limits its own task threads).
    """
    func = resolve(target)
    pause = float(os.environ.get("SEGQTL_TASK_PAUSE", "0") or 0)
    if pause:  # test hook: a unit that takes a while, to kill its worker in the middle
        time.sleep(pause)
    with threadpool_limits(1):
        return _call(func, payload)


@contextlib.contextmanager
def _client(scheduler: str | None, cluster: str | None, workers: int, spec=None):
    """A ``distributed.Client`` of the run's cluster, closed (with the cluster it started) on
    exit; yields ``(client, n_threads)``, ``n_threads()`` giving the worker threads to plan
    for (those now, or those a batch cluster was asked for while its jobs wait in the queue).
    """
    distributed = require_dask()
    if scheduler is not None:
        try:
            client = distributed.Client(scheduler, set_as_default=False)
        except OSError:  # refused, or no answer within distributed.comm.timeouts.connect
            raise UsageError(
                f"no Dask scheduler answers at {scheduler}. Fix: start one with "
                "'dask scheduler' and give its address, or use --cluster local"
            ) from None
        with client:
            # a running cluster may gain or lose workers during the run
            yield client, lambda: sum(client.nthreads().values())
        return
    if cluster in BATCH_CLUSTERS:
        with _batch_client(distributed, spec, workers) as out:
            yield out
        return
    if cluster != "local":  # refused by the parameter checks; kept for direct callers
        raise UsageError(
            f"--cluster {cluster} is not available in this version. "
            f"Fix: use local, {', '.join(BATCH_CLUSTERS)}"
        )
    local = distributed.LocalCluster(
        n_workers=workers,
        threads_per_worker=1,
        processes=True,
        # any free local port: the scheduler serves HTTP even without a dashboard, and the
        # default port 8787 is taken by any other cluster on the machine (a warning per run)
        dashboard_address="127.0.0.1:0",
        # the units hold their own memory, as the pool's do; Dask's limit would spill and
        # pause for data it does not manage
        memory_limit=0,
        silence_logs=logging.ERROR,
    )
    with local, distributed.Client(local, set_as_default=False) as client:
        yield client, lambda: workers


@contextlib.contextmanager
def _batch_client(distributed, spec, jobs: int):
    """A client of the run's dask-jobqueue cluster, scaled to ``jobs`` jobs or adaptive
    (``--adapt-min``/``--adapt-max``); the jobs are cancelled when the cluster closes."""
    cls, kwargs = jobqueue_settings(spec)
    cores = kwargs["cores"]
    with cls(**kwargs) as batch:
        if spec.adapt_max is not None:
            batch.adapt(minimum_jobs=spec.adapt_min or 0, maximum_jobs=spec.adapt_max)
            planned = spec.adapt_max * cores
        else:
            batch.scale(jobs=jobs)
            planned = jobs * cores
        with distributed.Client(batch, set_as_default=False) as client:
            # Queued jobs have no workers yet: plan for the threads asked for, so that enough
            # units wait on the scheduler for every worker (and adaptive scaling) to use.
            yield client, lambda: max(planned, sum(client.nthreads().values()))


def dask_map(
    target: str,
    payloads: Iterable,
    *,
    scheduler: str | None = None,
    cluster: str | None = None,
    workers: int = 1,
    max_in_flight: int | None = None,
    spec=None,
) -> Iterator:
    """Yield ``(target(p), seconds)`` for each payload, in order, computed on a Dask cluster.

    Parameters
    ----------
    target : str
        The worker, as ``"module:function"``: it is imported on the Dask workers only.
    payloads : iterable
        Pulled lazily: at most ``max_in_flight`` units are submitted and not yet yielded.
    scheduler : str, optional
        Address of a running ``dask scheduler``; else ``cluster`` is started for the run.
    cluster : {"local", "slurm", "pbs", "lsf", "sge"}, optional
        ``local``: a :class:`distributed.LocalCluster` of ``workers`` single-threaded worker
        processes; ``slurm``, ``pbs``, ``lsf``, ``sge``: :func:`jobqueue_cluster`'s batch jobs
        (``workers`` of them, or adaptive).  Either is closed when the iteration ends.
    workers : int
        The LocalCluster's worker processes, or the batch cluster's jobs.
    max_in_flight : int, optional
        The bound on units in flight; default twice the cluster's worker threads (re-read
        after each unit when the cluster is a running scheduler's or a batch cluster's).
    spec : RunSpec, optional
        The run's parameters: the job flags of a batch cluster (needed for those only).

    Returns
    -------
    iterator of (object, float)
        Each unit's result and the seconds its computation took on its worker.
    """
    with _client(scheduler, cluster, workers, spec) as (client, n_threads):

        def limit() -> int:
            return max_in_flight or 2 * max(1, n_threads())

        yield from in_order(
            lambda payload: client.submit(_task, target, payload, pure=False),
            payloads,
            limit,
            lambda future: future.result(),  # out-of-order finishers wait on the cluster
        )
