"""Connections, the SQL file loader, schema migrations and the views.

Tables change only through numbered migrations (``sql/migrations/NNN_*.sql``, recorded in
``schema_migrations``; an applied migration is never edited).  Views have one home: each view's
live definition is the file ``sql/views/<name>.sql``.  After the pending migrations, a write
connection re-creates every view from those files (in dependency order: a file's ``Reads :``
header names the views it reads) whenever a migration ran or the files differ from the ones the
warehouse last applied (table ``schema_views``: each file's sha256).  A read-only connection
never writes: it refuses a warehouse whose schema or views are older (or newer) than this
segqtl's with :class:`SchemaTooOld`, whose message says to run ``segqtl upgrade``.
"""

from __future__ import annotations

import hashlib
import os
import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

# DuckDB's engine alone (connect, execute, fetchall, the errors: the package re-exports these
# very objects). duckdb 2's package adds its Python relation layer (con.sql(), .pl()) to the
# connection class when imported, 50-80 ms: more than 'segqtl query' of one phenotype takes
# in all (issue 13). Connections for general use load it (relations()); the query command's
# plain SELECTs never need it.
import _duckdb

from ..errors import UsageError
from ..paths import nearest_existing
from .engine_start import MEMORY_SETTINGS

if TYPE_CHECKING:
    import duckdb


class SchemaTooOld(UsageError):
    """A read-only open of a warehouse whose schema (or views) predate this segqtl's."""


def sql_dir() -> Path:
    """The folder holding ``*.sql`` (the repository's ``sql/`` or the installed copy)."""
    here = Path(__file__).resolve()
    for candidate in (here.parents[2] / "sql", here.parents[1] / "_sql"):
        if candidate.is_dir():
            return candidate
    raise RuntimeError("segqtl's sql/ folder is missing from the installation")


@cache
def load_sql(name: str) -> str:
    """Text of ``sql/<name>.sql``."""
    return (sql_dir() / f"{name}.sql").read_text()


def query(con: duckdb.DuckDBPyConnection, name: str, **params) -> duckdb.DuckDBPyConnection:
    """Run ``sql/<name>.sql`` with named parameters (``$param`` in the file)."""
    text, used = bind_sql(name, params)
    return con.execute(text, used)


def migrations() -> list[tuple[int, str, str]]:
    """All migrations as ``(version, name, sql)``, in order."""
    out = []
    for path in sorted((sql_dir() / "migrations").glob("*.sql")):
        version, _, name = path.stem.partition("_")
        out.append((int(version), name, path.read_text()))
    return out


SCHEMA_VERSION = max(v for v, _, _ in migrations())


@dataclass(frozen=True)
class ViewFile:
    """One view's definition: ``sql/views/<name>.sql``."""

    name: str
    sql: str  # CREATE OR REPLACE VIEW <name> AS ... (genotypes: a template, see below)
    reads: tuple[str, ...]  # the other views it reads (its header's "Reads :" field)

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def _header_field(text: str, field: str) -> str:
    """A field of a SQL file's header comment (``-- Reads : a, b`` plus indented continuations)."""
    out: list[str] = []
    inside = False
    for line in text.splitlines():
        if not line.startswith("--"):
            break
        key = re.match(r"-- ?(\w[\w ]*?)\s*:(.*)", line)
        if key and not line.startswith("--  "):
            inside = key.group(1) == field
            if inside:
                out.append(key.group(2))
        elif inside and line.startswith("--  "):
            out.append(line[2:])
        else:
            inside = False
    return " ".join(out)


@cache
def view_files() -> tuple[ViewFile, ...]:
    """Every ``sql/views/*.sql``, ordered so that a view comes after the views it reads."""
    texts = {p.stem: p.read_text() for p in sorted((sql_dir() / "views").glob("*.sql"))}
    files = {
        name: ViewFile(
            name,
            text,
            tuple(
                sorted(
                    set(re.findall(r"\w+", _header_field(text, "Reads"))) & texts.keys() - {name}
                )
            ),
        )
        for name, text in texts.items()
    }
    ordered: list[ViewFile] = []
    done: set[str] = set()
    while len(ordered) < len(files):
        ready = [v for n, v in files.items() if n not in done and set(v.reads) <= done]
        if not ready:
            cycle = sorted(files.keys() - done)
            raise RuntimeError(f"sql/views: the views {cycle} read each other in a cycle")
        ordered.extend(ready)
        done.update(v.name for v in ready)
    return tuple(ordered)


def _has_table(con, name: str) -> bool:
    return bool(
        fetch_one(
            con,
            # duckdb_tables(): base tables only, 1 ms where information_schema takes 6-8 ms
            "SELECT count(*) FROM duckdb_tables() WHERE table_name = ? AND NOT temporary",
            [name],
        )[0]
    )


def rollback(con) -> None:
    """ROLLBACK the open transaction, if there is still one.

    A COMMIT that fails (a full disk) has already ended the transaction, and DuckDB refuses the
    ROLLBACK then; that refusal would hide the error that matters, the failed COMMIT's.
    """
    try:
        con.execute("ROLLBACK")
    except _duckdb.Error:
        pass


@contextmanager
def transaction(con, *, own: bool = True) -> Iterator[None]:
    """``BEGIN`` ... ``COMMIT`` around the block, :func:`rollback` if it raises (anything,
    interrupts included); the error goes on.

    ``own=False``: the caller already holds a transaction (``transaction=False`` of the
    run-level steps), and the block simply runs inside it.
    """
    if not own:
        yield
        return
    con.execute("BEGIN TRANSACTION")
    try:
        yield
        con.execute("COMMIT")
    except BaseException:
        rollback(con)
        raise


def has_table(con, name: str) -> bool:
    """Whether the warehouse has the base table ``name`` (older schemas lack later tables)."""
    return _has_table(con, name)


def _current_version(con) -> int:
    if not _has_table(con, "schema_migrations"):
        return 0
    return fetch_one(con, "SELECT coalesce(max(version), 0) FROM schema_migrations")[0]


def _views_stale(con) -> bool:
    """Whether the warehouse's views were made from other files than this segqtl's sql/views/.

    False before schema 7 (no ``schema_views``): such a schema keeps its migrations' views.
    """
    if not _has_table(con, "schema_views"):
        return False
    applied = dict(con.execute("SELECT name, sha256 FROM schema_views").fetchall())
    return applied != {v.name: v.sha256 for v in view_files()}


def apply_views(con: duckdb.DuckDBPyConnection, *, force: bool = False) -> bool:
    """(Re)create every view from ``sql/views/`` when stale (or ``force``), in one transaction.

    Records the files' hashes in ``schema_views``; does nothing before schema 7.  Returns whether
    the views were (re)created.  Views not made from ``sql/views/`` (a user's own) are left alone.
    """
    if not _has_table(con, "schema_views") or not (force or _views_stale(con)):
        return False
    with transaction(con):
        for view in view_files():
            if view.name == "genotypes":
                refresh_genotypes_view(con, view.sql)  # one SELECT per cohort
            else:
                con.execute(view.sql)
        con.execute("DELETE FROM schema_views")
        con.executemany(
            "INSERT INTO schema_views VALUES (?, ?, current_timestamp)",
            [[v.name, v.sha256] for v in view_files()],
        )
    return True


def _refuse_foreign(con: duckdb.DuckDBPyConnection, path: Path | None = None) -> None:
    """Refuse a DuckDB database with tables but without segqtl's ``schema_migrations``: another
    program's database, which segqtl must not fill with its tables."""
    tables = [
        r[0]
        for r in con.execute(
            "SELECT table_name FROM information_schema.tables "
            "WHERE table_catalog = current_database() ORDER BY table_name LIMIT 4"
        ).fetchall()
    ]
    if tables:
        if path is None:
            path = Path(
                fetch_one(
                    con,
                    "SELECT path FROM duckdb_databases() WHERE database_name = current_database()",
                )[0]
                or ""
            )
        shown = ", ".join(tables[:3]) + (", ..." if len(tables) > 3 else "")
        raise UsageError(
            f"{path} is a DuckDB database but not a segqtl warehouse (it has {shown} and no "
            "schema_migrations); it is left as it is. Fix: give --db a segqtl warehouse, or a "
            "new file name to create one"
        )


def migrate(con: duckdb.DuckDBPyConnection, path: Path | None = None) -> int:
    """Apply pending migrations, each in its own transaction, then the views if they are stale.

    Returns the schema version.  A DuckDB database with other tables and no
    ``schema_migrations`` (another program's, named ``path`` in the message) is refused.
    """
    current = _current_version(con)
    if current > SCHEMA_VERSION:
        raise UsageError(
            f"this warehouse has schema version {current}, newer than this segqtl supports "
            f"({SCHEMA_VERSION}). Fix: upgrade segqtl"
        )
    if current == 0:
        _refuse_foreign(con, path)
        con.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations "
            "(version INTEGER PRIMARY KEY, name VARCHAR NOT NULL, applied_at TIMESTAMP NOT NULL)"
        )
    ran = False
    for version, name, text in migrations():
        if version <= current:
            continue
        ran = True
        with transaction(con):
            con.execute(text)
            con.execute(
                "INSERT INTO schema_migrations VALUES (?, ?, current_timestamp)", [version, name]
            )
    apply_views(con, force=ran)
    return SCHEMA_VERSION


def connect(
    path: str | Path,
    *,
    read_only: bool = False,
    must_exist: bool = False,
    wait: float | None = None,
) -> duckdb.DuckDBPyConnection:
    """Open (creating and migrating if needed) a warehouse file.

    Read-only connections do not migrate; they fail clearly on an older schema, or on views made
    from other definitions than this segqtl's sql/views/ (:class:`SchemaTooOld`).  Commands that
    only make sense on existing results pass ``must_exist`` so that a mistyped ``--db`` is an
    error instead of a new, empty warehouse.

    While another process holds the file (a run committing a unit, docs/concurrency.md) the open
    is retried for up to ``wait`` seconds (default :func:`lock_wait`: ``$SEGQTL_LOCK_WAIT`` or
    60), then fails with one line naming the holder.
    """
    path = Path(path)
    check_warehouse_file(path, must_exist=read_only or must_exist)
    if not read_only:
        make_parent(path)
    con = open_file(path, read_only=read_only, wait=lock_wait() if wait is None else wait)
    with damaged_file(path):
        if read_only:
            check_schema(con, path)
        else:
            try:
                migrate(con, path)
            except BaseException:
                con.close()
                raise
    return con


def connect_query(path: str | Path) -> duckdb.DuckDBPyConnection:
    """The locked-down connection of ``segqtl query``: it reads the warehouse and nothing else.

    An in-memory database attaches the file read-only (so the process's other connections to
    the file, with other settings, are no obstacle), makes it the default catalog, then turns
    off access to any other file (``COPY ... TO``, ``EXPORT``, ``ATTACH``, ``read_csv``,
    ``INSTALL``/``LOAD``) and locks the configuration so that no statement turns it back on.
    Like :func:`connect` with ``read_only``: waits for a busy file, refuses an old schema.
    """
    path = Path(path)
    check_warehouse_file(path, must_exist=True)
    con = open_file(path, read_only=True, wait=lock_wait(), locked=True)
    with damaged_file(path):
        check_schema(con, path)
    return con


#: The settings of :func:`connect_query`'s connection, in the order they are applied (the
#: extensions' autoloading first, when the in-memory database is made: DuckDB would fetch one
#: to read, say, a https:// path).
LOCKED_SETTINGS = (
    *MEMORY_SETTINGS,
    ("enable_external_access", False),
    ("lock_configuration", True),
)


def locked_memory_database() -> duckdb.DuckDBPyConnection:
    """The empty in-memory database :func:`_open_locked` attaches the warehouse to."""
    return _duckdb.connect(":memory:", config=dict(MEMORY_SETTINGS))


def _open_locked(path: Path) -> duckdb.DuckDBPyConnection:
    """An in-memory connection with ``path`` attached read-only, in use, and locked down
    (the database made in the background when the process is ``segqtl query``:
    :mod:`segqtl.warehouse.engine_start`)."""
    from .engine_start import take

    con = take() or locked_memory_database()
    try:
        alias = '"' + (path.stem or "warehouse").replace('"', '""') + '"'
        # ATTACH takes no bound parameters: the path is a quoted literal
        literal = "'" + str(path).replace("'", "''") + "'"
        con.execute(f"ATTACH {literal} AS {alias} (READ_ONLY)")
        con.execute(f"USE {alias}")
        for name, value in LOCKED_SETTINGS[len(MEMORY_SETTINGS) :]:
            con.execute(f"SET {name} = ?", [value])
    except BaseException:
        con.close()
        raise
    return con


#: DuckDB's file header: a checksum (8 bytes), then the magic bytes.
DUCKDB_MAGIC = b"DUCK"
#: The main header and the two database headers of a DuckDB file (4 KiB each).
HEADER_BYTES = 3 * 4096


def check_warehouse_file(path: Path, *, must_exist: bool = False) -> None:
    """Refuse, with one line naming the file, a ``--db`` that is not a DuckDB warehouse.

    A folder, an empty file, a file without DuckDB's magic bytes (a CSV, text: DuckDB would
    open some of them as an empty in-memory database and store nothing) or a DuckDB file
    shorter than its header says (truncated by a copy or a full disk) is refused; the file is
    left as it is.  A missing file is fine (a new warehouse) unless ``must_exist``.
    """
    fix_other = "give --db the warehouse file (a new name creates a new warehouse)"
    if not path.exists():
        if must_exist:
            raise UsageError(f"{path}: no such warehouse. Fix: check the --db path")
        existing = nearest_existing(path)
        if existing is not None and not existing.is_dir():
            raise UsageError(
                f"{path}: cannot create the warehouse, {existing} is a file, not a folder. "
                "Fix: give --db a path in a folder"
            )
        return
    if path.is_dir():
        raise UsageError(f"{path} is a folder, not a warehouse file. Fix: {fix_other}")
    try:
        with open(path, "rb") as fh:
            head = fh.read(HEADER_BYTES)
    except OSError as exc:
        raise UsageError(
            f"{path}: cannot read the warehouse ({exc.strerror or exc}). Fix: check the file's "
            "permissions, or give --db another file"
        ) from None
    if not head:
        raise UsageError(
            f"{path} is an empty file, not a DuckDB warehouse; it is left as it is. Fix: "
            f"remove it, or {fix_other}"
        )
    if head[8:12] != DUCKDB_MAGIC:
        preview = head[:24].decode("utf-8", errors="replace")
        looks = "text" if " ".join(preview.split()).isprintable() else "binary data"
        raise UsageError(
            f"{path} is not a DuckDB warehouse (it starts with {looks}: {preview!r}); it is "
            f"left as it is. Fix: {fix_other}"
        )
    size = path.stat().st_size
    block = _block_size(head)
    # A checkpoint that failed (e.g. on a full disk) can leave a partial block, with the
    # changes still in the write-ahead log: DuckDB opens that file and replays the log, so it
    # is not refused (a resume must be able to open it).
    if size >= HEADER_BYTES and Path(f"{path}.wal").exists():
        block = None
    if size < HEADER_BYTES or (block is not None and (size - HEADER_BYTES) % block):
        # A writer's checkpoint may be growing the file right now: look again
        time.sleep(0.05)
        size = path.stat().st_size
        if size < HEADER_BYTES or (block is not None and (size - HEADER_BYTES) % block):
            raise UsageError(
                f"{path} is a damaged DuckDB warehouse: truncated ({size} bytes, not a whole "
                "number of its blocks); it is left as it is. Fix: restore it from a copy (or "
                "re-create it with 'segqtl ingest' and the runs)"
            )


def _block_size(head: bytes) -> int | None:
    """The block size of a DuckDB file, from its active database header.

    A DuckDB file is its 12 KiB of headers followed by whole blocks (a checkpoint grows or
    trims it by blocks), so any other size is a truncated copy.  Each of the two database
    headers (at 4 KiB and 8 KiB) holds, after an 8-byte checksum: iteration, meta block, free
    list, block count and block size (little-endian 64-bit); the one with the higher
    iteration is in force.  None when the header is not understood (another storage
    version): DuckDB then judges the file alone.
    """
    import struct

    if len(head) < HEADER_BYTES:
        return None
    best = max(
        (struct.unpack_from("<5Q", head, offset + 8) for offset in (4096, 8192)),
        key=lambda h: h[0],
    )
    block_size = best[4]
    if block_size & (block_size - 1) or not 4096 <= block_size <= 2**30:
        return None
    return block_size


def make_parent(path: Path) -> None:
    """Create the warehouse's folder, or say in one line why it cannot be."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(
            f"{path}: cannot create the folder {path.parent} ({exc.strerror or exc}). Fix: give "
            "--db a path in a folder you can write"
        ) from None


#: DuckDB's errors that mean the file's content is broken (not a bug in a statement).
_DAMAGE = (_duckdb.IOException, _duckdb.SerializationException, _duckdb.InternalException)


@contextmanager
def damaged_file(path: Path) -> Iterator[None]:
    """Turn DuckDB's errors reading a broken file into one line naming it."""
    try:
        yield
    except _DAMAGE as exc:
        if _is_lock_error(exc):
            raise
        text = " ".join(str(exc).split())
        raise UsageError(
            f"{path}: cannot read the warehouse, the file is damaged ({text}). Fix: restore "
            "it from a copy"
        ) from None


def connect_reader(path: str | Path) -> duckdb.DuckDBPyConnection:
    """A read-only connection for a command that may upgrade the schema first (export).

    Reading needs no write lock, so exports can run beside queries; an older warehouse is
    upgraded (briefly opened for writing) and then reopened read-only.
    """
    try:
        return connect(path, read_only=True)
    except SchemaTooOld:
        connect(path, must_exist=True).close()
        return connect(path, read_only=True)


def check_schema(con: duckdb.DuckDBPyConnection, path: Path) -> None:
    """Refuse (closing ``con``) a read-only warehouse whose schema or views are not this
    segqtl's (:class:`SchemaTooOld`, or a newer schema)."""
    version = _current_version(con)
    if version == 0:
        try:
            _refuse_foreign(con, path)
        except UsageError:
            con.close()
            raise
    if version != SCHEMA_VERSION:
        con.close()
        if version > SCHEMA_VERSION:
            raise UsageError(
                f"{path}: warehouse schema version {version}, newer than this segqtl "
                f"supports ({SCHEMA_VERSION}). Fix: upgrade segqtl"
            )
        raise SchemaTooOld(
            f"{path}: warehouse schema version {version}, this segqtl needs {SCHEMA_VERSION}. "
            f"Fix: upgrade it with 'segqtl upgrade --db {path}' (any write command, e.g. "
            "'segqtl run', also does; it is open for writing then)"
        )
    if _views_stale(con):
        con.close()
        raise SchemaTooOld(
            f"{path}: the warehouse's views (schema version {version}) were made from other "
            "definitions than this segqtl's. Fix: re-create them with "
            f"'segqtl upgrade --db {path}' (any write command, e.g. 'segqtl run', also does; "
            "it is open for writing then)"
        )


#: Seconds a command waits for a warehouse another process holds, unless $SEGQTL_LOCK_WAIT.
DEFAULT_LOCK_WAIT = 60.0


#: Seconds a run waits for the file before saying so on stderr, unless $SEGQTL_LOCK_NOTICE.
DEFAULT_LOCK_NOTICE = 10.0


def _env_seconds(name: str, default: float) -> float:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not value >= 0:
        raise UsageError(
            f"{name}={raw!r} is not a number of seconds. Fix: set it to e.g. {default:.0f}, "
            "or unset it"
        )
    return value


def lock_wait() -> float:
    """Seconds a command waits for a busy warehouse: ``$SEGQTL_LOCK_WAIT`` (default 60)."""
    return _env_seconds("SEGQTL_LOCK_WAIT", DEFAULT_LOCK_WAIT)


def lock_notice() -> float:
    """Seconds a run waits for the file before saying so: ``$SEGQTL_LOCK_NOTICE`` (default
    10)."""
    return _env_seconds("SEGQTL_LOCK_NOTICE", DEFAULT_LOCK_NOTICE)


def _is_lock_error(exc: BaseException) -> bool:
    # the word, not "block" (a damaged file's "cannot read block ...")
    return isinstance(exc, _duckdb.Error) and re.search(r"\block\b", str(exc), re.I) is not None


def relations() -> None:
    """Load duckdb's Python package, which gives every connection of the process its relation
    API (``con.sql()``, ``.pl()``, ...). :func:`connect` and the writer's connections have it;
    :func:`connect_query`'s has it once this has run."""
    import duckdb  # noqa: F401  (the import is the point)


def open_file(
    path: Path,
    *,
    read_only: bool,
    wait: float | None,
    on_wait: Callable[[str, float], None] | None = None,
    locked: bool = False,
) -> duckdb.DuckDBPyConnection:
    """``duckdb.connect``, retried while another process holds the file's lock.

    DuckDB's lock is not a queue (a failed open just fails), so the open is retried every few
    tens of milliseconds: shorter than the pause a run leaves between its holds
    (:class:`WriterLease`), so a reader gets in while a run works.

    Parameters
    ----------
    wait : float or None
        Give up after this many seconds (one-line :class:`UsageError`); None waits as long as
        needed.
    on_wait : callable, optional
        Called after each failed try with DuckDB's message and the seconds waited so far.
    locked : bool
        Open :func:`connect_query`'s locked-down read-only connection instead.

    A file that is not a DuckDB warehouse (:func:`check_warehouse_file`) is refused first.
    """
    start = time.monotonic()
    delay = 0.01
    check_warehouse_file(path)
    while True:
        try:
            if locked:
                return _open_locked(path)
            relations()
            return _duckdb.connect(str(path), read_only=read_only)
        except _duckdb.Error as exc:
            if not _is_lock_error(exc):
                text = " ".join(str(exc).split())
                raise UsageError(
                    f"{path}: cannot open the warehouse ({text}). Fix: check that --db is a "
                    "segqtl warehouse, or restore it from a copy"
                ) from None
            waited = time.monotonic() - start
            if wait is not None and waited >= wait:
                raise UsageError(_lock_message(path, str(exc), read_only, waited)) from None
            if on_wait is not None:
                on_wait(str(exc), waited)
            # short tries while a reader may be slipping in; a long wait (a notebook holding
            # the file) polls slowly
            limit = 0.05 if waited < 10 else 0.5
            pause = min(delay, limit)
            if wait is not None:
                pause = min(pause, max(0.0, wait - waited))
            time.sleep(pause)
            delay = min(delay * 1.5, limit)


def lock_holder(error: str) -> tuple[str, bool]:
    """Who holds a warehouse, from DuckDB's lock error: ``("process 12 (segqtl run)", ro)``.

    ``ro`` is whether the holder has the file open read-only: DuckDB then adds that the file
    could be opened read-only.  The command line comes from /proc when the process is local.
    """
    pid = re.search(r"\(PID (\d+)\)", error)
    if not pid:
        return "another process", "read-only mode" in error
    holder = f"process {pid.group(1)}"
    try:
        argv = Path(f"/proc/{pid.group(1)}/cmdline").read_bytes().split(b"\0")
        words = [a.decode(errors="replace") for a in argv if a]
    except OSError:
        words = []
    if words:
        words[0] = Path(words[0]).name
        command = " ".join(words)
        holder += f" ({command[:60]}{'...' if len(command) > 60 else ''})"
    return holder, "read-only mode" in error


def _lock_message(path: Path, error: str, read_only: bool, waited: float) -> str:
    """Why the warehouse cannot be opened now, naming the process DuckDB says holds it."""
    holder, holder_reads = lock_holder(error)
    waited_text = f"{waited:.0f} s" if waited >= 1 else "a moment"
    if read_only or not holder_reads:
        # Only a writer excludes readers: a run between two commits lets go of the file, so a
        # writer that keeps it this long is committing something big or is another command.
        return (
            f"the warehouse {path} is busy: {holder} writes it (a run committing, or another "
            f"write command) and kept it for {waited_text}. Fix: retry, or wait longer with "
            "SEGQTL_LOCK_WAIT=SECONDS"
        )
    return (
        f"the warehouse {path} is open read-only in {holder} (a notebook? 'segqtl query'?) and "
        f"stayed open for {waited_text}; DuckDB lets one process write a file only while no "
        "other process has it open. Fix: close that connection (con.close()), then retry, or "
        "wait longer with SEGQTL_LOCK_WAIT=SECONDS"
    )


class WriterLease:
    """A run's hold on the warehouse: open for writing only while the run reads or commits.

    DuckDB lets one process open a file read-write, or any number read-only, never both.  A
    run holding its connection for hours would lock every reader out, and a reader (a
    notebook) holding the file would make the run fail.  The lease opens the file on demand
    (:meth:`hold`), keeps it while the run's reads and commits come back to back, and closes
    it when it has been idle for ``linger`` seconds (a background thread) or held for
    ``max_hold`` seconds (then the next open waits ``gap`` seconds, longer than a reader's
    retry interval, so readers get in).  An open that finds the file held waits as long as
    needed, telling ``notify`` once it has waited ``notify_after`` seconds (default
    ``$SEGQTL_LOCK_NOTICE`` or 10) and who holds it.

    Closing skips DuckDB's checkpoint (the units' commits stay WAL appends, which the next
    open replays); when the WAL has grown past ``wal_limit`` bytes a release checkpoints
    first, which bounds what each open (the run's and the readers') replays.  The first open
    migrates the schema; later opens skip that.  Settings from :meth:`configure` are applied
    at every open.  Measured figures: docs/concurrency.md.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        notify: Callable[[str], None] | None = None,
        label: str = "the run",
        linger: float = 0.25,
        max_hold: float = 2.0,
        gap: float = 0.15,
        wal_limit: int = 32_000_000,
        notify_after: float | None = None,
    ):
        self.path = Path(path)
        self.notify = notify
        self.label = label
        self.linger, self.max_hold, self.gap = linger, max_hold, gap
        self.wal_limit = wal_limit
        self.notify_after = lock_notice() if notify_after is None else notify_after
        self.settings: dict[str, object] = {}
        self.opens = 0  # statistics: opens, seconds waited for the lock, checkpoints
        self.waited = 0.0
        self.checkpoints = 0
        self._con: duckdb.DuckDBPyConnection | None = None
        self._migrated = False
        self._lock = threading.RLock()
        self._depth = 0
        self._opened_at = self._used_at = 0.0
        self._not_before = 0.0
        self._stop = threading.Event()
        self._watcher: threading.Thread | None = None

    # ------------------------------------------------------------------ use
    @contextmanager
    def hold(self, wait: float | None = None) -> Iterator[duckdb.DuckDBPyConnection]:
        """The connection for one stretch of work (relations must be consumed inside).

        ``wait``: give up opening after this many seconds (:class:`UsageError`); default: wait
        as long as the file is held elsewhere.
        """
        with self._lock:
            self._depth += 1
            try:
                yield self._acquire(wait)
            finally:
                self._depth -= 1
                self._used_at = time.monotonic()
                if (
                    self._depth == 0
                    and self._con is not None
                    and self._used_at - self._opened_at >= self.max_hold
                ):
                    self._release()
                    self._not_before = time.monotonic() + self.gap

    def connection(self) -> duckdb.DuckDBPyConnection:
        """The open connection (opened if needed), for a call made inside :meth:`hold`."""
        with self._lock:
            self._used_at = time.monotonic()
            return self._acquire()

    def configure(self, **settings) -> None:
        """DuckDB settings (``SET name = value``) for every connection the lease opens."""
        with self._lock:
            self.settings.update(settings)
            if self._con is not None:
                self._apply(self._con, settings)

    def reset(self) -> None:
        """Forget the :meth:`configure` settings (``RESET`` on an open connection)."""
        with self._lock:
            if self._con is not None:
                for name in self.settings:
                    self._con.execute(f"RESET {name}")
            self.settings.clear()

    def release(self) -> None:
        """Close the file now (it reopens on the next use)."""
        with self._lock:
            if self._con is not None:
                self._release()

    def close(self) -> None:
        """Release the file and stop the idle watcher; the lease is not used after this."""
        self._stop.set()
        if self._watcher is not None and self._watcher is not threading.current_thread():
            self._watcher.join()
        self.release()

    def __enter__(self) -> WriterLease:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ------------------------------------------------------------------ inside
    @staticmethod
    def _apply(con, settings: dict) -> None:
        for name, value in settings.items():
            # names come from segqtl's code, values are bound
            con.execute(f"SET {name} = ?", [value])

    def _acquire(self, wait: float | None = None) -> duckdb.DuckDBPyConnection:
        if self._con is not None:
            return self._con
        pause = self._not_before - time.monotonic()
        if pause > 0:
            time.sleep(pause)
        told: list[float] = []

        def on_wait(error: str, waited: float) -> None:
            if not told and waited >= self.notify_after:
                told.append(waited)
                if self.notify is not None:
                    self.notify(self._waiting_message(error))

        start = time.monotonic()
        con = open_file(self.path, read_only=False, wait=wait, on_wait=on_wait)
        self.waited += time.monotonic() - start
        try:
            # Closing would checkpoint; the release decides instead (see the class notes).
            con.execute("PRAGMA disable_checkpoint_on_shutdown")
            if not self._migrated:
                migrate(con)
                self._migrated = True
            self._apply(con, self.settings)
        except BaseException:
            con.close()
            raise
        if told and self.notify is not None:
            self.notify(f"{self.label}: the warehouse {self.path} is free again; continuing")
        self.opens += 1
        self._con = con
        self._opened_at = self._used_at = time.monotonic()
        if self._watcher is None:
            self._watcher = threading.Thread(target=self._watch, name="segqtl-lease", daemon=True)
            self._watcher.start()
        return con

    def _waiting_message(self, error: str) -> str:
        holder, reads = lock_holder(error)
        what = (
            f"a read-only client (a notebook?), {holder}, holds {self.path}"
            if reads
            else f"{holder} has {self.path} open for writing"
        )
        return (
            f"{self.label}: {what}; the run waits and continues when it closes "
            "(docs/concurrency.md)"
        )

    def _release(self) -> None:
        con, self._con = self._con, None
        try:
            wal = Path(f"{self.path}.wal")
            if wal.exists() and wal.stat().st_size > self.wal_limit:
                con.execute("CHECKPOINT")
                self.checkpoints += 1
        finally:
            con.close()

    def _watch(self) -> None:
        """Close the file once the run has left it idle for ``linger`` seconds."""
        while not self._stop.wait(self.linger / 2):
            with self._lock:
                if (
                    self._con is not None
                    and self._depth == 0
                    and time.monotonic() - self._used_at >= self.linger
                ):
                    try:
                        self._release()
                    except Exception:  # noqa: BLE001 - reported by the next use instead
                        pass


class HeldConnection:
    """A lease-like wrapper of a connection the caller owns (kept open, never released).

    Lets :func:`segqtl.engine.runner.execute` take an open connection (tests, notebooks) as
    well as a :class:`WriterLease`; settings from :meth:`configure` are reset at :meth:`close`.
    """

    def __init__(self, con: duckdb.DuckDBPyConnection):
        self._con = con
        self._set: list[str] = []

    @contextmanager
    def hold(self, wait: float | None = None) -> Iterator[duckdb.DuckDBPyConnection]:
        yield self._con

    def connection(self) -> duckdb.DuckDBPyConnection:
        return self._con

    def configure(self, **settings) -> None:
        WriterLease._apply(self._con, settings)
        self._set.extend(settings)

    def reset(self) -> None:
        for name in self._set:
            self._con.execute(f"RESET {name}")
        self._set.clear()

    def release(self) -> None:
        pass

    def close(self) -> None:
        self.reset()


class LeasedConnection:
    """Stands in for a connection: every attribute is the lease's current connection's.

    The modes' payload generators and the readers keep ``con`` across units; through this
    proxy each call reaches whichever connection the lease has open (reopening the file if it
    was released).  Results (relations, Arrow readers) must be consumed inside the runner's
    :meth:`WriterLease.hold`, which keeps the connection open meanwhile.
    """

    def __init__(self, lease: WriterLease | HeldConnection):
        self._lease = lease

    def __getattr__(self, name: str):
        return getattr(self._lease.connection(), name)


def small_frame(rel):
    """A small result (a few rows of plain values) as a polars frame, without pyarrow.

    ``.pl()`` goes through Arrow, whose import costs more than a read command's whole work;
    the commands that list runs and cohorts build their frames from the rows instead.  The
    columns keep their names and order; types come from the values (all NULL: a Null column).
    """
    import polars as pl

    rows = rel.fetchall()
    return (
        pl.DataFrame(rows, schema=rel.columns, orient="row")
        if rows
        else pl.DataFrame({c: [] for c in rel.columns})
    )


def query_pl(con: duckdb.DuckDBPyConnection, name: str, **params):
    """Run the SELECT in ``sql/<name>.sql`` and return a polars DataFrame."""
    relations()
    text, used = bind_sql(name, params)
    return con.sql(text, params=used).pl()


def sql_parameters(text: str) -> set[str]:
    """The ``$name`` parameters an SQL text uses; those its ``--`` comments (the files'
    headers) only mention are not parameters."""
    return set(re.findall(r"\$([A-Za-z_]\w*)", re.sub(r"--[^\n]*", "", text)))


def bind_sql(name: str, params: dict | None = None, **kw) -> tuple[str, dict]:
    """Text of ``sql/<name>.sql`` and the subset of parameters it uses (all must be given)."""
    params = {**(params or {}), **kw}
    text = load_sql(name)
    used = sql_parameters(text)
    missing = used - params.keys()
    if missing:
        raise TypeError(f"sql/{name}.sql needs parameters {sorted(missing)}")
    return text, {k: v for k, v in params.items() if k in used}


def fetch_one(con: duckdb.DuckDBPyConnection, sql: str, params=None):
    """First row of a query (or None), consuming the whole result.

    DuckDB refuses new relational queries on a connection while an ``execute`` result is only
    partly fetched, so never leave one open.
    """
    rows = con.execute(sql, params or []).fetchall()
    return rows[0] if rows else None


#: A cohort's tables besides ``cohorts`` and its genotype table (``genotype_table``), each
#: keyed by a ``cohort`` column, as ingest fills them.
COHORT_TABLES = (
    "cohort_files",
    "samples",
    "phenotypes",
    "variants",
    "covariates",
    "copynumber",
    "phenotype_covariate",
    "segments",
    "cohort_control",
    "cohort_file_headers",
    "cohort_exclusions",
    "cohort_pcs",
)


def genotype_table(cohort_id: int) -> str:
    """Name of a cohort's genotype table (an identifier made from an integer, never user text)."""
    return f"genotypes_{int(cohort_id)}"


def refresh_genotypes_view(con: duckdb.DuckDBPyConnection, template: str | None = None) -> None:
    """(Re)create the ``genotypes`` view over all cohorts' genotype tables (sql/views/genotypes).

    ``template`` is that file's text (default: read it).
    """
    rows = con.execute("SELECT cohort, cohort_id FROM cohorts ORDER BY cohort_id").fetchall()
    cols = "chr, variant_idx, variant_id, pos, altlr::DOUBLE[] AS altlr, reflr::DOUBLE[] AS reflr"
    if rows:
        selects = "\nUNION ALL\n".join(
            f"SELECT '{cohort.replace(chr(39), chr(39) * 2)}' AS cohort, {cols} "
            f"FROM {genotype_table(cohort_id)}"
            for cohort, cohort_id in rows
        )
    else:
        selects = (
            "SELECT NULL::VARCHAR AS cohort, NULL::VARCHAR AS chr, NULL::INTEGER AS variant_idx, "
            "NULL::VARCHAR AS variant_id, NULL::BIGINT AS pos, NULL::DOUBLE[] AS altlr, "
            "NULL::DOUBLE[] AS reflr WHERE false"
        )
    if template is None:
        template = load_sql("views/genotypes")
    con.execute(template.replace("{selects}", selects))
