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
  ``dask_jobqueue`` only when a dask run starts.  Workers need no shared file system: each
  unit's genotype rows are read by the parent from its scratch files and shipped with the unit
  (:func:`~segqtl.engine.units.ship_genotypes`).  With ``--shared-scratch DIR`` (a folder the
  workers see at the same path) the parent writes its scratch files there and the units carry
  their paths, which the workers memory-map as the pool's do.  If the scheduler is lost the
  run stops with :class:`SchedulerLost`; ``segqtl run --resume`` finishes it on another
  cluster.

The executor parameters change where the numbers are computed, never the numbers: each unit is
the same function of the same payload, and each payload's random seeds are its own.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import importlib
import logging
import os
import shutil
import time
import warnings
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import CancelledError

from threadpoolctl import threadpool_limits

from .. import modes
from ..errors import SegqtlError, UsageError
from ..modes.parameters import BATCH_CLUSTERS, JOB_PARAMS, check_execution, job_extra_directives
from .pool import _call, in_order, ordered_map, resolve
from .units import UnitPayload, genotype_paths, ship_genotypes

#: The one line shown when ``--executor dask`` is asked for without the extra installed.
MISSING_DASK = "--executor dask needs the dask extra. Fix: pip install 'segqtl[dask]'"


def require_dask():
    """The ``distributed`` module, or a one-line :class:`UsageError` saying how to install it."""
    try:
        import distributed
    except ImportError:
        raise UsageError(MISSING_DASK) from None
    return distributed


class SchedulerLost(SegqtlError):
    """The Dask scheduler went away mid-run: the committed units are kept, and ``segqtl run
    --resume`` finishes the run on a running cluster (or the pool).

    Parameters
    ----------
    address : str
        The scheduler's address.
    done : int
        Units committed: by this execution (as the executor counts them), or of the run's
        ``total`` when ``run_id`` is given.
    db, run_id, total : optional
        The warehouse, the run and its number of units, to name them in the message
        (:meth:`for_run`).
    """

    exit_code = 3

    def __init__(self, address: str, done: int, *, db=None, run_id=None, total=None):
        self.address = address
        self.done = done
        if run_id is None:
            where, of, command = "", f"{done} units of this execution", "DB --resume RUN_ID"
        else:
            where, of, command = (
                f"run {run_id}: ",
                f"{done} of {total} units",
                f"{db} --resume {run_id}",
            )
        super().__init__(
            f"{where}the Dask scheduler at {address} was lost after {of} were committed. Fix: "
            f"start a scheduler and finish with 'segqtl run --db {command} --executor dask "
            "--scheduler ADDRESS' (or --cluster local, or --executor pool)"
        )

    def for_run(self, db, run_id: int, done: int, total: int) -> SchedulerLost:
        """The same error told for a run: its id, units committed of all, the resume command."""
        return SchedulerLost(self.address, done, db=db, run_id=run_id, total=total)


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


#: The parameters that say where a run's cluster is: a resume that names any of them (or
#: ``--executor``) replaces them all, so that the old cluster's settings are not mixed in.
CLUSTER_PARAMS = ("scheduler", "cluster", "workers", *(p.name for p in JOB_PARAMS))
#: The parameters a resumed run may change: where the rest of its units are computed.
RESUMABLE = ("executor", "num_cores", "shared_scratch", "max_memory", *CLUSTER_PARAMS)


def resumed_spec(spec, given: dict, run_id: int, flag: Callable[[str], str] | None = None):
    """The spec a run resumes with: ``spec`` with the execution parameters ``given`` changed.

    Naming ``executor`` or any of :data:`CLUSTER_PARAMS` replaces the recorded cluster (those
    not given fall back to their defaults); ``num_cores`` and ``shared_scratch`` change alone.
    The result is checked as a new run's would be (:func:`~segqtl.modes.parameters.
    check_execution`).

    Parameters
    ----------
    spec : RunSpec
        The run's recorded parameters.
    given : dict
        Parameter name -> value, as typed on the command line.
    run_id : int
        For messages.

    Returns
    -------
    (RunSpec, list of str)
        The resumed spec and the names of the parameters whose values changed.

    Raises
    ------
    UsageError
        One line: a parameter that is not an execution parameter (the units were planned
        with the recorded ones), or execution parameters that do not fit together.
    """
    flag = flag or modes.flag_name
    other = [name for name in given if name not in RESUMABLE]
    if other:
        raise UsageError(
            f"{flag(other[0])} cannot change when run {run_id} resumes: its units were planned "
            f"with the recorded value. Fix: drop {flag(other[0])}, or start a new run"
        )
    values = dict(given)
    if "executor" in given or any(name in given for name in CLUSTER_PARAMS):
        values = {name: modes.param(name).default for name in CLUSTER_PARAMS} | values
        values.setdefault("shared_scratch", None)  # a folder of the old cluster's
    resumed = dataclasses.replace(spec, **values)
    check_execution(resumed, flag)
    changed = [name for name in values if getattr(resumed, name) != getattr(spec, name)]
    return resumed, changed


def map_units(
    target: str,
    payloads: Iterable,
    spec,
    *,
    preload: list[str] | None = None,
    notify: Callable[[str], None] | None = None,
    while_starting: Callable[[], None] | None = None,
):
    """Yield ``(target(p), seconds)`` for each payload, in order, on the run's executor.

    Parameters
    ----------
    target : str
        The worker, as ``"module:function"`` (imported only by the processes that compute).
    payloads : iterable
        The units' payloads, pulled lazily (a bounded number is held at once).
    spec : RunSpec
        The run's parameters: ``executor``, ``num_cores`` (pool) or ``scheduler``/``cluster``/
        ``workers``, ``shared_scratch`` and the batch jobs' flags (dask).
    preload : list of str, optional
        Modules the pool's fork server imports once (the mode's ``preload``).
    notify : callable, optional
        Told when the pool computes a unit again because its worker died.
    while_starting : callable, optional
        Called while the pool's workers start (:func:`~segqtl.engine.pool.ordered_map`); not
        on Dask or one core.

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
            shared_scratch=spec.shared_scratch,
        )
    return ordered_map(
        target,
        payloads,
        spec.num_cores,
        preload=preload,
        notify=notify,
        while_starting=while_starting,
    )


def _task(target: str, payload):
    """One unit on a Dask worker: :func:`~segqtl.engine.pool._call` with one BLAS thread.

    The worker module is imported first, so that the BLAS/OpenMP libraries it loads exist when
    they are limited; one thread per unit keeps N single-threaded workers on N cores, as the
    pool's workers are (Dask only limits its own task threads).
    """
    _keep_freed_memory()
    func = resolve(target)
    pause = float(os.environ.get("SEGQTL_TASK_PAUSE", "0") or 0)
    if pause:  # test hook: a unit that takes a while, to kill its worker in the middle
        time.sleep(pause)
    with threadpool_limits(1):
        return _call(func, payload)


@functools.cache  # once per worker process
def _keep_freed_memory() -> None:
    """Let this Dask worker's C allocator keep and reuse freed memory, as a pool worker does.

    A Dask nanny starts its worker with ``MALLOC_TRIM_THRESHOLD_=65536``
    (``distributed.nanny.pre-spawn-environ``), which also switches off glibc's adaptive mmap
    threshold: every array above 128 KB is then a fresh ``mmap`` whose pages fault in one by
    one, and the scans allocate megabyte-sized temporaries per phenotype (units took 13-18%
    longer on Dask workers than on the pool's; docs/benchmarks.md).  Fixed thresholds of
    32 MB (mmap, glibc's largest) and 512 MB (trim) restore the reuse on every Dask worker,
    whatever its configuration.  A no-op without glibc.
    """
    import ctypes
    import ctypes.util

    with contextlib.suppress(OSError, AttributeError, TypeError):
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        m_trim_threshold, m_mmap_threshold = -1, -3  # glibc's mallopt parameters
        libc.mallopt(m_mmap_threshold, 32 * 1024 * 1024)
        libc.mallopt(m_trim_threshold, 512 * 1024 * 1024)


def local_cluster(workers: int):
    """The ``distributed.LocalCluster`` of ``--cluster local``: ``workers`` single-threaded
    worker processes (each with its nanny, which restarts a killed worker)."""
    distributed = require_dask()
    import dask

    # The statistical profiler (a stack sample every 10 ms) and the GIL monitor run beside
    # each worker's unit and compete with it for the machine's cores; the run's own cluster
    # does without them (the workers take this config from their nanny).
    quiet = {
        "distributed.worker.profile.enabled": False,
        "distributed.admin.system-monitor.gil.enabled": False,
    }
    with dask.config.set(quiet):
        return distributed.LocalCluster(
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
    local = local_cluster(workers)
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


def for_workers(payload, shared_scratch: str | None = None):
    """The payload as sent to a Dask worker.

    A unit's genotype files are replaced by the rows it reads
    (:func:`~segqtl.engine.units.ship_genotypes`), unless every file is inside
    ``shared_scratch``, the folder the workers see (then they memory-map the files, as the
    pool's workers do).  Files outside it (a genotype cache elsewhere) are shipped too.
    Payloads that are not units (the executor's tests) pass unchanged.
    """
    if not isinstance(payload, UnitPayload):
        return payload
    if shared_scratch is not None:
        root = os.path.realpath(shared_scratch)
        paths = genotype_paths(payload)
        if all(os.path.realpath(p).startswith(root + os.sep) for p in paths):
            return payload
    return ship_genotypes(payload)


#: The errors a ``distributed.Client`` raises when its scheduler goes away (its futures are
#: cancelled: ``FutureCancelledError``, a ``CancelledError``; or a call fails to connect).
_LOST = (CancelledError, OSError, TimeoutError)


@contextlib.contextmanager
def _quiet_client_logs():
    """Silence the Dask client's own log lines for the run: a lost scheduler makes it log
    reconnection tracebacks, and the run reports the loss itself in one line."""
    loggers = [logging.getLogger(n) for n in ("distributed.client", "distributed.batched")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.CRITICAL + 1)
    try:
        yield
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)


def dask_map(
    target: str,
    payloads: Iterable,
    *,
    scheduler: str | None = None,
    cluster: str | None = None,
    workers: int = 1,
    max_in_flight: int | None = None,
    spec=None,
    shared_scratch: str | None = None,
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
    shared_scratch : str, optional
        A folder the workers see at the same path: units whose genotype files are in it carry
        their paths; all others carry their genotype rows (:func:`for_workers`).

    Returns
    -------
    iterator of (object, float)
        Each unit's result and the seconds its computation took on its worker.

    Raises
    ------
    SchedulerLost
        The scheduler went away (units already yielded stay yielded).
    """
    with _quiet_client_logs(), _client(scheduler, cluster, workers, spec) as (client, n_threads):
        address = scheduler or client.scheduler.address
        done = 0
        outside: list[str] = []  # a genotype file outside the shared scratch (warned once)

        def check() -> None:
            # A client that lost its scheduler tries to reconnect (for up to the connect
            # timeout) and has cancelled every future: nothing more can be computed.
            if client.status != "running":
                raise SchedulerLost(address, done)

        def limit() -> int:
            check()
            try:
                return max_in_flight or 2 * max(1, n_threads())
            except _LOST:
                raise SchedulerLost(address, done) from None

        def submit(payload):
            check()
            sent = for_workers(payload, shared_scratch)
            if shared_scratch is not None and sent is not payload and not outside:
                outside.append(genotype_paths(payload)[0])
                flag = modes.flag_name("shared_scratch")
                warnings.warn(
                    f"the genotype copy {outside[0]} is outside {flag} {shared_scratch}, so "
                    "units send their genotype rows. Fix: set "
                    "SEGQTL_CACHE to a folder inside it",
                    stacklevel=2,
                )
            try:
                with warnings.catch_warnings():
                    # a unit with its genotype rows is a "large graph" (megabytes) by design
                    warnings.filterwarnings("ignore", "Sending large graph", UserWarning)
                    return client.submit(_task, target, sent, pure=False)
            except _LOST:
                raise SchedulerLost(address, done) from None

        def wait(future):
            try:
                return future.result()  # out-of-order finishers wait on the cluster
            except _LOST:
                if future.status == "error":  # the unit's own error, raised on its worker
                    raise
                raise SchedulerLost(address, done) from None

        for item in in_order(submit, payloads, limit, wait):
            yield item
            done += 1
