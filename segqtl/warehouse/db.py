"""Connections, the SQL file loader and schema migrations."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

import duckdb

from ..errors import UsageError


class SchemaTooOld(UsageError):
    """A read-only open of a warehouse whose schema predates this segqtl's migrations."""


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


def _current_version(con) -> int:
    exists = fetch_one(
        con, "SELECT count(*) FROM information_schema.tables WHERE table_name = 'schema_migrations'"
    )[0]
    if not exists:
        return 0
    return fetch_one(con, "SELECT coalesce(max(version), 0) FROM schema_migrations")[0]


def migrate(con: duckdb.DuckDBPyConnection) -> int:
    """Apply pending migrations, each in its own transaction. Returns the schema version."""
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
    for version, name, text in migrations():
        if version <= current:
            continue
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
    return SCHEMA_VERSION


def connect(
    path: str | Path, *, read_only: bool = False, must_exist: bool = False
) -> duckdb.DuckDBPyConnection:
    """Open (creating and migrating if needed) a warehouse file.

    Read-only connections do not migrate; they fail clearly on an older schema.  Commands that
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


def refresh_genotypes_view(con: duckdb.DuckDBPyConnection) -> None:
    """(Re)create the ``genotypes`` view over all cohorts' genotype tables (sql/genotypes_view)."""
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
    con.execute(load_sql("genotypes_view").replace("{selects}", selects))
