"""Executors: where a run's work units are computed.

Every executor has one contract, :func:`map_units`'s: yield ``(result, seconds)`` for each
payload, **in unit order**, with a bounded number of units in flight, so that the parent
(:func:`segqtl.engine.runner.execute`) commits each finished unit as it comes and a run resumes
the same way whichever executor computed it.  Workers are named (``"module:function"``) and
imported only where they run, never in the parent.

- ``pool`` (the default): ``multiprocess`` worker processes on this machine
  (:func:`segqtl.engine.pool.ordered_map`).
- ``dask``: a Dask cluster, either a running ``dask scheduler`` (``--scheduler ADDRESS``) or a
  :class:`distributed.LocalCluster` started for the run (``--cluster local --workers N``).  It
  needs the optional ``dask`` extra; this module imports ``distributed`` only when a dask run
  starts.  Workers read the genotype files the parent wrote to its scratch/cache folder, so in
  this version they must share the parent's file system.

The executor parameters change where the numbers are computed, never the numbers: each unit is
the same function of the same payload, and each payload's random seeds are its own.
"""

from __future__ import annotations

import collections
import contextlib
import logging
from collections.abc import Iterable, Iterator

from threadpoolctl import threadpool_limits

from ..errors import UsageError
from .pool import _call, ordered_map, resolve

#: The one line shown when ``--executor dask`` is asked for without the extra installed.
MISSING_DASK = "--executor dask needs the dask extra. Fix: pip install 'segqtl[dask]'"


def require_dask():
    """The ``distributed`` module, or a one-line :class:`UsageError` saying how to install it."""
    try:
        import distributed
    except ImportError:
        raise UsageError(MISSING_DASK) from None
    return distributed


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
        ``workers`` (dask).
    preload : list of str, optional
        Modules the pool's fork server imports once (the mode's ``preload``).

    Returns
    -------
    iterator of (object, float)
        Each unit's result and the seconds its computation took in its worker.
    """
    if spec.executor == "dask":
        return dask_map(
            target,
            payloads,
            scheduler=spec.scheduler,
            cluster=spec.cluster,
            workers=spec.workers or spec.num_cores,
        )
    return ordered_map(target, payloads, spec.num_cores, preload=preload)


def _task(target: str, payload):
    """One unit on a Dask worker: :func:`~segqtl.engine.pool._call` with one BLAS thread.

    The worker module is imported first, so that the BLAS/OpenMP libraries it loads exist when
    they are limited; one thread per unit keeps N single-threaded workers on N cores, as the
    pool's workers are (Dask only limits its own task threads).
    """
    func = resolve(target)
    with threadpool_limits(1):
        return _call(func, payload)


@contextlib.contextmanager
def _client(scheduler: str | None, cluster: str | None, workers: int):
    """A ``distributed.Client`` of the run's cluster, closed (with the cluster it started) on
    exit; yields ``(client, n_threads)``, ``n_threads()`` giving the worker threads now."""
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
    if cluster != "local":  # refused by the parameter checks; kept for direct callers
        raise UsageError(f"--cluster {cluster} is not available in this version. Fix: use local")
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


def dask_map(
    target: str,
    payloads: Iterable,
    *,
    scheduler: str | None = None,
    cluster: str | None = None,
    workers: int = 1,
    max_in_flight: int | None = None,
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
    cluster : {"local"}, optional
        ``local``: a :class:`distributed.LocalCluster` of ``workers`` single-threaded worker
        processes, closed when the iteration ends.
    workers : int
        The LocalCluster's worker processes.
    max_in_flight : int, optional
        The bound on units in flight; default twice the cluster's worker threads (re-read
        after each unit when the cluster is a running scheduler's).

    Returns
    -------
    iterator of (object, float)
        Each unit's result and the seconds its computation took on its worker.
    """
    with _client(scheduler, cluster, workers) as (client, n_threads):

        def limit() -> int:
            return max_in_flight or 2 * max(1, n_threads())

        # A sliding window: the oldest unit is awaited first, so results come in unit order
        # while up to `limit()` units run or wait on the cluster; out-of-order finishers wait
        # in the cluster's memory until their turn.
        pending: collections.deque = collections.deque()
        it = iter(payloads)
        exhausted = False
        while True:
            window = limit()
            while not exhausted and len(pending) < window:
                try:
                    payload = next(it)
                except StopIteration:
                    exhausted = True
                    break
                pending.append(client.submit(_task, target, payload, pure=False))
            if not pending:
                return
            yield pending.popleft().result()
