"""The worker pool: ``multiprocess`` processes with one BLAS thread each.

One place decides the number of workers: the ``num_cores`` argument.  Each worker pins its
BLAS/OpenMP pools to one thread so that N workers use N cores.  With one core the work runs in
the calling process (no start-up or pickling cost) under the same one-thread limit.

Faults (README, "Stopping, crashes and full disks"): the parent hands each worker one unit at a time
over its own pipe, so it knows which unit a worker holds.  A worker that dies (the
out-of-memory killer's SIGKILL) is replaced and its unit computed again once; a second death
stops the run (:class:`WorkerDied`).  Workers ignore SIGINT and SIGHUP (a terminal's Ctrl-C or
hang-up reaches the whole process group): the parent decides, and kills them when it stops.
They exit by themselves when the parent dies (``PR_SET_PDEATHSIG`` and a watchdog thread).
"""

from __future__ import annotations

import collections
import contextlib
import importlib
import os
import queue
import re
import shutil
import signal
import socket
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from threadpoolctl import threadpool_limits

from ..errors import SegqtlError

#: Test hook (never set it otherwise): ``SEGQTL_TEST_KILL_AT=worker`` makes every worker
#: SIGKILL itself when it receives a unit, as the out-of-memory killer would.
KILL_HOOK = "SEGQTL_TEST_KILL_AT"


class WorkerDied(SegqtlError):
    """A worker process died while computing a unit, twice: the run stops, resumable.

    Parameters
    ----------
    attempt_codes : list of int
        The dead workers' exit codes (negative: killed by that signal).
    suffix : str
        Added to the message (the runner adds how to resume the run).
    flags : tuple of str
        How the command line in use spells the cores and unit-size flags.
    """

    exit_code = 3

    def __init__(
        self,
        attempt_codes: list[int],
        suffix: str = "",
        flags: tuple[str, str] = ("--num-cores", "--unit-size"),
    ):
        self.attempt_codes = attempt_codes
        how = ", ".join(_how(c) for c in attempt_codes)
        super().__init__(
            "a worker process died (killed, often by the out-of-memory killer) while computing "
            f"a unit, which was tried {len(attempt_codes)} times ({how}). Fix: lower "
            f"{flags[0]} or {flags[1]}, or raise memory{suffix}"
        )


def _how(code: int | None) -> str:
    """How a process ended, from its exit code (negative: the signal that killed it)."""
    if code is not None and code < 0:
        with contextlib.suppress(ValueError):
            return f"signal {signal.Signals(-code).name}"
    return f"exit code {code}"


_LIMIT = None


def _pid_alive(pid: int) -> bool:
    """Whether process ``pid`` exists and is not a zombie (a dead process not yet reaped)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state not in ("Z", "X")


def _die_with_parent(parent_pid: int) -> None:
    """End this worker when the run's process dies (a SIGKILL leaves no one to stop it).

    The worker's parent is the fork server, which exits when the run's process dies; Linux then
    sends SIGKILL (``PR_SET_PDEATHSIG``).  A watchdog thread covers other systems and the gap
    before the fork server notices.
    """
    if sys.platform.startswith("linux"):
        with contextlib.suppress(Exception):
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
    first_ppid = os.getppid()

    def watch() -> None:
        while True:
            time.sleep(0.5)
            if os.getppid() != first_ppid or not _pid_alive(parent_pid):
                os._exit(1)

    threading.Thread(target=watch, name="segqtl-watchdog", daemon=True).start()


def _init_worker(parent_pid: int | None = None) -> None:
    # The parent stops the workers (SIGKILL).  SIGTERM keeps its default: multiprocess ends
    # daemonic children with it at exit.
    for sig in (signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)
    if parent_pid is not None:
        _die_with_parent(parent_pid)
    # keep a reference so the limit stays in force for the worker's lifetime
    global _LIMIT
    _LIMIT = threadpool_limits(1)


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


def _frame_as_arrow(frame):
    """Pickle a polars DataFrame as its Arrow table (the same columns, types and nulls).

    polars pickles a frame as compressed IPC: about 60 ms for a nominal unit's 215,000 rows
    with its six all-null columns, against 14 ms for the Arrow table, which the parent turns
    back into a frame without a copy.
    """
    import polars as pl

    return pl.from_arrow, (frame.to_arrow(),)


def _worker_main(conn, parent_pid: int) -> None:
    """A worker process: receive ``(key, target, payload)``, send ``(key, "ok", (result,
    seconds))`` or ``(key, "error", exception)``; ``None`` ends it."""
    _init_worker(parent_pid)
    import polars as pl
    from multiprocess.reduction import ForkingPickler

    ForkingPickler.register(pl.DataFrame, _frame_as_arrow)
    die = os.environ.get(KILL_HOOK) == "worker"
    # test hook: a unit that takes a while, to kill its worker in the middle (as the Dask
    # executor's tasks read it)
    pause = float(os.environ.get("SEGQTL_TASK_PAUSE", "0") or 0)
    while True:
        try:
            task = conn.recv()
        except (EOFError, OSError):  # the parent went away
            return
        if task is None:
            return
        key, target, payload = task
        if die:
            os.kill(os.getpid(), signal.SIGKILL)
        if pause:
            time.sleep(pause)
        try:
            message = (key, "ok", _call(target, payload))
        except Exception as exc:  # the unit's own error, raised again in the parent
            with contextlib.suppress(Exception):  # (an attribute pickling keeps)
                exc.worker_traceback = traceback.format_exc()
            message = (key, "error", exc)
        try:
            conn.send(message)
        except (EOFError, OSError):
            return
        except Exception as exc:  # a result or an error that cannot be pickled
            conn.send((key, "error", RuntimeError(f"{type(exc).__name__}: {exc}")))


def owner_tag() -> str:
    """``<host>-pid<N>``: the process that owns a folder, in the folder's name.

    The host is part of it because a shared scratch folder is seen by other machines, whose
    process ids say nothing here.
    """
    host = "".join(c if c.isalnum() else "." for c in socket.gethostname()) or "host"
    return f"{host}-pid{os.getpid()}"


def pid_folder_stale(name: str, prefix: str) -> bool:
    """Whether folder ``name`` (``<prefix>...-<host>-pid<N>-...``, :func:`owner_tag`) belongs
    to a process of this host that is gone."""
    if not name.startswith(prefix):
        return False
    match = re.search(r"-([A-Za-z0-9.]+)-pid(\d+)-", name)
    if match is None or match.group(1) != owner_tag().rsplit("-pid", 1)[0]:
        return False
    return not _pid_alive(int(match.group(2)))


def remove_stale(root: str | Path, prefix: str) -> list[Path]:
    """Remove the folders ``<prefix>*-<host>-pid<N>-*`` in ``root`` whose process ``N`` (of
    this host) is gone: left by a killed run (its scratch, or its worker pool's temporary
    folder)."""
    removed = []
    with contextlib.suppress(OSError):
        for entry in os.scandir(root):
            if entry.is_dir(follow_symlinks=False) and pid_folder_stale(entry.name, prefix):
                shutil.rmtree(entry.path, ignore_errors=True)
                removed.append(Path(entry.path))
    return removed


def _private_tempdir() -> None:
    """Give ``multiprocess`` (its fork server's socket) a folder named after this process.

    Its default, ``pymp-*`` in the temporary folder, stays behind when the process is killed;
    ``segqtl-mp-<host>-pid<N>-*`` is recognised and removed by the next run
    (:func:`remove_stale`).  A fork server whose socket was removed meanwhile (a cleaned
    temporary folder) is replaced.
    """
    from multiprocess import forkserver, process, util

    config = process.current_process()._config
    folder = config.get("tempdir")
    server = forkserver._forkserver
    address = getattr(server, "_forkserver_address", None)
    if address is not None and not os.path.exists(address):
        server._stop()
    if folder is not None and os.path.isdir(folder):
        return
    prefix = f"segqtl-mp-{owner_tag()}-"
    # The fork server's socket is <folder>/listener-XXXXXXXX, and a socket's path has at most
    # 107 bytes: a deep temporary folder falls back to /tmp.
    roots = [tempfile.gettempdir(), "/tmp"]
    fits = [r for r in roots if len(os.path.abspath(r)) + len(prefix) + 30 < 100]
    if not fits:
        config["tempdir"] = None  # multiprocess's own default
        return
    remove_stale(fits[0], "segqtl-mp-")
    folder = tempfile.mkdtemp(prefix=prefix, dir=fits[0])
    util.Finalize(None, shutil.rmtree, args=[folder, True], exitpriority=-100)
    config["tempdir"] = folder


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
    cluster that grows or shrinks is followed.  Used by the Dask executor.
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


class _RemoteTraceback(Exception):
    """The traceback of a unit's error in its worker (shown with SEGQTL_DEBUG=1)."""

    def __str__(self) -> str:
        return f'\n"""\n{self.args[0]}"""'


#: What a worker's sender thread takes to stop.
_STOP = object()


class _Worker:
    """One worker process with its pipe, and two threads of the parent's: one pickles and
    sends the unit handed to it (a large unit does not block the parent), one receives its
    results as they come (a large result does not block the worker) and passes them, or the
    worker's death (the end of its pipe), to ``on_message(worker, message or None)``.

    ``keys`` holds the unit the worker computes (one at most).
    """

    def __init__(self, ctx, parent_pid: int, on_message: Callable):
        self.conn, child = ctx.Pipe()
        self.process = ctx.Process(
            target=_worker_main, args=(child, parent_pid), daemon=True, name="segqtl-worker"
        )
        self.process.start()
        child.close()
        self.keys: collections.deque = collections.deque()
        self.on_message = on_message
        self.tasks: queue.Queue = queue.Queue()
        # The pipe is closed by the last of the two threads to finish, never under a thread
        # still using it: a closed descriptor's number is reused by the next worker's pipe,
        # and a late write to it (a None meant for this dead worker) would end that worker.
        self._users = 2
        self._users_lock = threading.Lock()
        for loop in (self._send, self._receive):
            threading.Thread(
                target=self._run, args=(loop,), daemon=True, name="segqtl-pool"
            ).start()

    def _run(self, loop: Callable[[], None]) -> None:
        try:
            loop()
        finally:
            with self._users_lock:
                self._users -= 1
                last = self._users == 0
            if last:
                with contextlib.suppress(Exception):
                    self.conn.close()

    def give(self, key: int, target, payload) -> None:
        self.keys.append(key)
        self.tasks.put((key, target, payload))

    def _send(self) -> None:
        while True:
            task = self.tasks.get()
            if task is _STOP:
                return
            try:
                self.conn.send(task)
            except (OSError, EOFError):  # the worker died: the receiver reports it
                return
            except Exception as exc:  # a unit that cannot be pickled: the unit's error
                self.on_message(self, (task[0], "error", exc))
            if task is None:
                return

    def _receive(self) -> None:
        while True:
            try:
                message = self.conn.recv()
            except (EOFError, OSError):
                self.on_message(self, None)  # the worker is gone
                return
            self.on_message(self, message)

    def exit_code(self) -> int | None:
        # The fork server reports a child's exit status; on a loaded machine 2 s was not
        # always enough (a test run saw a death reported without its signal).
        self.process.join(timeout=10)
        return self.process.exitcode

    def stop(self, wait: float) -> None:
        """Let the worker end (``wait`` seconds for an idle one), then kill it.

        The pipe is left to the two threads, which end once the worker is gone (the receiver
        sees its end of the pipe; the sender its stop or a broken pipe) and then close it.
        """
        if not self.keys:
            self.tasks.put(None)  # the worker returns when it receives None
            self.process.join(timeout=wait)
        self.tasks.put(_STOP)
        with contextlib.suppress(Exception):
            if self.process.exitcode is None:
                self.process.kill()
        self.process.join(timeout=1)


class _Pool:
    """Worker processes that take the waiting units one at a time, as each becomes free (a
    worker's receiving thread hands it the next unit, so it need not wait for the parent);
    the unit of a worker that died is computed again, once."""

    def __init__(self, ctx, notify: Callable[[str], None] | None = None):
        self.ctx = ctx
        self.notify = notify
        self.parent_pid = os.getpid()
        self.events: queue.Queue = queue.Queue()  # (worker, message or None) for map()
        self.workers: list[_Worker] = []
        self.todo: collections.deque = collections.deque()  # keys waiting for a worker
        self.held: dict[int, object] = {}  # key -> payload, until its result is yielded
        self.target = None
        self._lock = threading.RLock()
        self._closed = False

    def start(self, n: int) -> None:
        """Start ``n`` workers (each listed as soon as it runs, so :meth:`close` ends it)."""
        for _ in range(n):
            with self._lock:
                if self._closed:
                    return
                worker = _Worker(self.ctx, self.parent_pid, self._on_message)
                self.workers.append(worker)
                self._dispatch(worker)

    def _dispatch(self, worker: _Worker) -> None:
        """Hand ``worker`` the next waiting unit if it is free (lock held)."""
        if not worker.keys and self.todo and worker in self.workers and self.target:
            key = self.todo.popleft()
            worker.give(key, self.target, self.held[key])

    def _on_message(self, worker: _Worker, message) -> None:
        """A worker's result (or error, or death): free it for the next unit, tell map()."""
        with self._lock:
            if message is not None and worker in self.workers:
                with contextlib.suppress(ValueError):
                    worker.keys.remove(message[0])
                self._dispatch(worker)
        self.events.put((worker, message))

    def map(self, target, first: Iterable, rest: Iterator, limit: int) -> Iterator:
        """Yield ``(target(p), seconds)`` for ``first`` then ``rest``, in order, with at most
        ``limit`` payloads pulled and not yet yielded."""
        done: dict[int, tuple] = {}
        tries: dict[int, list[int | None]] = {}
        pulled = given = 0
        source = iter(list(first))
        exhausted = False
        self.target = target
        while True:
            while not exhausted and pulled - given < limit:
                try:
                    payload = next(source)
                except StopIteration:
                    if source is rest:
                        exhausted = True
                        break
                    source = rest
                    continue
                with self._lock:
                    self.held[pulled] = payload
                    self.todo.append(pulled)
                    for worker in self.workers:
                        self._dispatch(worker)
                pulled += 1
            if given in done:
                with self._lock:
                    self.held.pop(given)
                result = done.pop(given)
                given += 1
                yield result
                continue
            if exhausted and given == pulled:
                return
            if not self.workers:
                raise RuntimeError("the worker pool has no worker processes")
            worker, message = self.events.get()
            if message is not None:
                key, kind, value = message
                if kind == "error":
                    text = getattr(value, "worker_traceback", None)
                    raise value from (None if text is None else _RemoteTraceback(text))
                done[key] = value
                continue
            if worker not in self.workers:
                continue  # a worker already replaced
            # The worker died (killed: the out-of-memory killer?) while computing its unit.
            code = worker.exit_code()
            with self._lock:
                lost = list(worker.keys)
                worker.keys.clear()
                worker.stop(0)
                new = _Worker(self.ctx, self.parent_pid, self._on_message)
                self.workers[self.workers.index(worker)] = new
                if lost:
                    codes = tries.setdefault(lost[0], [])
                    codes.append(code)
                    if len(codes) > 1:
                        raise WorkerDied(codes)
                    self.todo.extendleft(reversed(lost))
                    if self.notify is not None:
                        self.notify(
                            f"a worker process died ({_how(code)}; the out-of-memory killer?) "
                            "while computing a unit; computing it again"
                        )
                self._dispatch(new)

    def close(self) -> None:
        """Ask idle workers to exit, then kill any left (a stopped run's busy ones)."""
        with self._lock:
            self._closed = True
            workers, self.workers = self.workers, []
            self.todo.clear()
        deadline = time.monotonic() + 2.0
        for worker in workers:
            worker.stop(max(0.0, deadline - time.monotonic()))


def prestart(preload: list[str] | None, *, cores: object, executor: object = "pool") -> None:
    """Start the fork server now, in the background, so that the workers of a later
    :func:`ordered_map` fork from an interpreter that has already imported ``preload``.

    The server's imports (numpy, scipy, polars, the kernels: about a second) then overlap the
    caller's own start-up and planning instead of delaying the first unit.  Only the pool's
    fork server is started, no worker; a server already running is kept.  Nothing is done
    unless the run will use the pool's workers (``executor`` pool, ``cores`` an integer of at
    least 2; other values are left to the parameter checks).
    """
    if executor != "pool" or not isinstance(cores, int) or cores < 2:
        return

    def start() -> None:
        import multiprocess
        from multiprocess import forkserver

        with contextlib.suppress(Exception):  # ordered_map starts it (and reports) if this fails
            _private_tempdir()
            multiprocess.get_context("forkserver").set_forkserver_preload(_server_preload(preload))
            forkserver.ensure_running()

    thread = threading.Thread(target=start, daemon=True, name="segqtl-prestart")
    _PRESTART.append(thread)
    thread.start()


def _server_preload(preload: list[str] | None) -> list[str]:
    """The modules the fork server imports: the mode's (default: the nominal engine), then
    the one that makes the server end at once with its run (engine/forkserver_exit.py)."""
    return [*(preload or ["segqtl.engine.nominal"]), "segqtl.engine.forkserver_exit"]


#: prestart()'s threads: ordered_map waits for them before it sets up the pool itself.
_PRESTART: list[threading.Thread] = []


def ordered_map(
    func: Callable | str,
    payloads: Iterable,
    num_cores: int,
    max_in_flight: int | None = None,
    preload: list[str] | None = None,
    notify: Callable[[str], None] | None = None,
    while_starting: Callable[[], None] | None = None,
) -> Iterator:
    """Yield ``(func(p), seconds)`` for each payload, in order, computed by ``num_cores``
    workers (``seconds``: the time the computation took in its worker).

    ``func`` is a function or a ``"module:function"`` name, which only the processes that
    compute import.

    Payloads are pulled lazily: at most ``max_in_flight`` (default ``2 * num_cores``) are
    held at once, so memory stays bounded whatever the number of units.  ``preload`` names
    modules the fork server imports once, so that every worker starts with them loaded
    (default: the nominal engine).  ``notify`` is told when a unit is computed again because
    its worker died.  ``while_starting`` is called in the caller's thread once the first
    payloads are read, while the workers still start (with several cores only): time the
    caller would otherwise spend waiting.

    Raises
    ------
    WorkerDied
        A unit's worker died twice (each time the worker is replaced).
    """
    if num_cores <= 1:
        func = resolve(func)
        with threadpool_limits(1):
            for p in payloads:
                yield _call(func, p)
        return

    import multiprocess

    while _PRESTART:  # a fork server being started by prestart(): one at a time
        _PRESTART.pop().join()
    _private_tempdir()
    ctx = multiprocess.get_context("forkserver")
    ctx.set_forkserver_preload(_server_preload(preload))
    limit = max_in_flight or 2 * num_cores
    # Starting the workers (a fresh interpreter importing numpy/scipy/polars) takes about a
    # second; do it in the background while the first payloads are read.
    holder: dict = {}
    pool = _Pool(ctx, notify)

    def start():
        try:
            pool.start(num_cores)
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
        if while_starting is not None:
            while_starting()
        starter.join()
        if "error" in holder:
            raise holder["error"]
        yield from pool.map(func, first, it, limit)
    finally:
        try:
            starter.join()
        finally:
            pool.close()
