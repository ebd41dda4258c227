"""The worker pool: ``multiprocess`` processes with one BLAS thread each.

One place decides the number of workers: the ``num_cores`` argument.  Each worker pins its
BLAS/OpenMP pools to one thread so that N workers use N cores.  With one core the work runs in
the calling process (no start-up or pickling cost) under the same one-thread limit.
"""

from __future__ import annotations

import collections
import importlib
import time
from collections.abc import Callable, Iterable, Iterator

from threadpoolctl import threadpool_limits


def _init_worker() -> None:
    threadpool_limits(1)
    # keep a reference so the limit stays in force for the worker's lifetime
    global _LIMIT
    _LIMIT = threadpool_limits(1)


_LIMIT = None


def resolve(target: Callable | str) -> Callable:
    """A function, or the function named ``"module:function"`` (imported on first use)."""
    if callable(target):
        return target
    module, name = target.split(":")
    return getattr(importlib.import_module(module), name)


def _call(target: Callable | str, payload):
    """``(target(payload), seconds it took)``, in the process that computes.

    Workers are named rather than pickled, so the parent never imports them (nor the kernels,
    numba and scipy they load), which would compete with the workers for the cores.
    """
    func = resolve(target)
    start = time.perf_counter()
    result = func(payload)
    return result, time.perf_counter() - start


def in_order(
    submit: Callable,
    payloads: Iterable,
    limit: Callable[[], int],
    wait: Callable,
    started: Iterable = (),
) -> Iterator:
    """Submit each payload with at most ``limit()`` units in flight; yield their results in
    submission order.

    A sliding window: the oldest unit is awaited first (``wait(handle)``), so results come in
    unit order while up to ``limit()`` units run or wait; ``started`` are payloads already
    pulled from ``payloads`` (submitted first).  ``limit`` is re-read after each unit, so a
    cluster that grows or shrinks is followed.  Shared by every executor.
    """
    pending: collections.deque = collections.deque(submit(p) for p in started)
    it = iter(payloads)
    exhausted = False
    while True:
        window = limit()
        while not exhausted and len(pending) < window:
            try:
                p = next(it)
            except StopIteration:
                exhausted = True
                break
            pending.append(submit(p))
        if not pending:
            return
        yield wait(pending.popleft())


def ordered_map(
    func: Callable | str,
    payloads: Iterable,
    num_cores: int,
    max_in_flight: int | None = None,
    preload: list[str] | None = None,
) -> Iterator:
    """Yield ``(func(p), seconds)`` for each payload, in order, computed by ``num_cores``
    workers (``seconds``: the time the computation took in its worker).

    ``func`` is a function or a ``"module:function"`` name, which only the processes that
    compute import.

    Payloads are pulled lazily: at most ``max_in_flight`` (default ``2 * num_cores``) are
    held at once, so memory stays bounded whatever the number of units.  ``preload`` names
    modules the fork server imports once, so that every worker starts with them loaded
    (default: the nominal engine).
    """
    if num_cores <= 1:
        func = resolve(func)
        with threadpool_limits(1):
            for p in payloads:
                yield _call(func, p)
        return

    def submit(p):
        return pool.apply_async(_call, (func, p))

    import threading

    import multiprocess

    ctx = multiprocess.get_context("forkserver")
    ctx.set_forkserver_preload(preload or ["segqtl.engine.nominal"])
    limit = max_in_flight or 2 * num_cores
    # Starting the workers (a fresh interpreter importing numpy/scipy/polars) takes about a
    # second; do it in the background while the first payloads are read.
    holder: dict = {}

    def start():
        try:
            holder["pool"] = ctx.Pool(processes=num_cores, initializer=_init_worker)
        except BaseException as exc:  # re-raised in the caller's thread
            holder["error"] = exc

    starter = threading.Thread(target=start, daemon=True)
    starter.start()
    it = iter(payloads)
    first: collections.deque = collections.deque()
    try:
        for p in it:
            first.append(p)
            if len(first) >= limit:
                break
    except BaseException:
        starter.join()
        if "pool" in holder:
            holder["pool"].terminate()
        raise
    starter.join()
    if "error" in holder:
        raise holder["error"]
    pool = holder["pool"]
    with pool:
        yield from in_order(submit, it, lambda: limit, lambda handle: handle.get(), first)
