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
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import duckdb

from ..errors import UsageError


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
            "SELECT count(*) FROM information_schema.tables "
            "WHERE table_name = ? AND table_type = 'BASE TABLE'",
            [name],
        )[0]
    )


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
    con.execute("BEGIN TRANSACTION")
    try:
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
        con.execute("COMMIT")
    except Exception:
        con.execute("ROLLBACK")
        raise
    return True


def migrate(con: duckdb.DuckDBPyConnection) -> int:
    """Apply pending migrations, each in its own transaction, then the views if they are stale.

    Returns the schema version.
    """
    current = _current_version(con)
    if current > SCHEMA_VERSION:
        raise UsageError(
            f"this warehouse has schema version {current}, newer than this segqtl supports "
            f"({SCHEMA_VERSION}). Fix: upgrade segqtl"
        )
    if current == 0:
        con.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations "
            "(version INTEGER PRIMARY KEY, name VARCHAR NOT NULL, applied_at TIMESTAMP NOT NULL)"
        )
    ran = False
    for version, name, text in migrations():
        if version <= current:
            continue
        ran = True
        con.execute("BEGIN TRANSACTION")
        try:
            con.execute(text)
            con.execute(
                "INSERT INTO schema_migrations VALUES (?, ?, current_timestamp)", [version, name]
            )
            con.execute("COMMIT")
        except Exception:
            con.execute("ROLLBACK")
            raise
    apply_views(con, force=ran)
    return SCHEMA_VERSION


def connect(
    path: str | Path, *, read_only: bool = False, must_exist: bool = False
) -> duckdb.DuckDBPyConnection:
    """Open (creating and migrating if needed) a warehouse file.

    Read-only connections do not migrate; they fail clearly on an older schema, or on views made
    from other definitions than this segqtl's sql/views/ (:class:`SchemaTooOld`).  Commands that
    only make sense on existing results pass ``must_exist`` so that a mistyped ``--db`` is an
    error instead of a new, empty warehouse.
    """
    path = Path(path)
    if (read_only or must_exist) and not path.exists():
        raise UsageError(f"{path}: no such warehouse. Fix: check the --db path")
    if not read_only:
        path.parent.mkdir(parents=True, exist_ok=True)
    try:
        con = duckdb.connect(str(path), read_only=read_only)
    except duckdb.IOException as exc:
        if "lock" in str(exc).lower():
            raise UsageError(_lock_message(path, str(exc), read_only)) from None
        raise UsageError(f"{path}: cannot open the warehouse ({exc})") from None
    if read_only:
        version = _current_version(con)
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
    else:
        migrate(con)
    return con


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


def _lock_message(path: Path, error: str, read_only: bool) -> str:
    """Why the warehouse cannot be opened now, naming the process DuckDB says holds it."""
    pid = re.search(r"\(PID (\d+)\)", error)
    holder = f"process {pid.group(1)}" if pid else "another process"
    if read_only:
        # Readers share the file; only a writer excludes them.
        return (
            f"{path}: the warehouse is in use by another segqtl process (a run is writing): "
            f"{holder} holds it for writing. Fix: wait for it to finish, or stop it and resume "
            "later with 'segqtl run --resume RUN_ID'"
        )
    return (
        f"{path}: the warehouse is open in {holder} (a run or another write command, or a "
        "reader: 'segqtl query', a notebook, a DuckDB client); DuckDB lets one process write a "
        "file only while no other process has it open. Fix: wait for it, or close that "
        "connection, then retry"
    )


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
    text, used = bind_sql(name, params)
    return con.sql(text, params=used).pl()


def bind_sql(name: str, params: dict | None = None, **kw) -> tuple[str, dict]:
    """Text of ``sql/<name>.sql`` and the subset of parameters it uses (all must be given)."""
    params = {**(params or {}), **kw}
    text = load_sql(name)
    used = set(re.findall(r"\$([A-Za-z_]\w*)", text))
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
