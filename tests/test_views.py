"""Views in one home (issue "one place per mode"): sql/views/<name>.sql and the surface snapshot.

tests/data/surface_snapshot.json holds every table and view of a fresh warehouse with its
columns in order, [name, DuckDB type].  The surface may grow but never rename or remove: the
snapshot test fails when a table, view or column of the snapshot is missing, changes type or
moves before a column it followed.  After an intended addition, add it to the snapshot with

    SEGQTL_UPDATE_SNAPSHOT=1 .venv/bin/python -m pytest tests/test_views.py

which only ever adds entries (it refuses, like the test, when something was removed).  A
deliberate removal or rename comes with a numbered migration and a hand edit of the snapshot.
"""

from __future__ import annotations

import json
import os
import re
from contextlib import closing
from dataclasses import replace
from pathlib import Path

import pytest

from segqtl import api
from segqtl.spec import RunSpec
from segqtl.warehouse import db as wdb
from segqtl.warehouse.db import SchemaTooOld, connect, connect_reader

from .conftest import as_segqtl_of_schema, cohort_kwargs

SNAPSHOT = Path(__file__).parent / "data" / "surface_snapshot.json"
CUTOVER = 7  # the first migration after which views live in sql/views/ only
CREATE_VIEW = re.compile(r"\bCREATE\s+(?:OR\s+REPLACE\s+)?(?:TEMP\w*\s+)?VIEW\s+(\w+)", re.I)


def _surface(con) -> dict[str, dict[str, list[list[str]]]]:
    """{"tables" | "views": {name: [[column, type], ...]}}; cohorts' genotypes_<id> left out."""
    rows = con.execute(
        "SELECT t.table_type, c.table_name, c.column_name, c.data_type "
        "FROM information_schema.columns AS c JOIN information_schema.tables AS t "
        "USING (table_catalog, table_schema, table_name) "
        "WHERE c.table_schema = 'main' ORDER BY c.table_name, c.ordinal_position"
    ).fetchall()
    out: dict[str, dict[str, list[list[str]]]] = {"tables": {}, "views": {}}
    for kind, name, column, dtype in rows:
        if not re.fullmatch(r"genotypes_\d+", name):
            kind = "views" if kind == "VIEW" else "tables"
            out[kind].setdefault(name, []).append([column, dtype])
    return out


def _dump(snapshot: dict) -> str:
    """The snapshot as JSON with one [column, type] per line (readable diffs)."""
    kinds = []
    for kind in ("tables", "views"):
        objects = []
        for name in sorted(snapshot[kind]):
            cols = ",\n".join(f"   {json.dumps(c)}" for c in snapshot[kind][name])
            objects.append(f"  {json.dumps(name)}: [\n{cols}\n  ]")
        kinds.append(f' "{kind}": {{\n' + ",\n".join(objects) + "\n }")
    return "{\n" + ",\n".join(kinds) + "\n}\n"


def _view_names(con) -> set[str]:
    sql = "SELECT view_name FROM duckdb_views() WHERE NOT internal"
    return {r[0] for r in con.execute(sql).fetchall()}


def _columns(con, name: str) -> list[str]:
    return [r[0] for r in con.execute(f'DESCRIBE "{name}"').fetchall()]


def _view_rows(con) -> dict[str, tuple[list, list]]:
    """Every view's columns (DESCRIBE) and rows (sorted)."""
    return {
        name: (
            con.execute(f'DESCRIBE "{name}"').fetchall(),
            con.execute(f'SELECT * FROM "{name}" ORDER BY ALL').fetchall(),
        )
        for name in sorted(_view_names(con))
    }


def _body(sql: str) -> str:
    """A SQL file without its comments."""
    return re.sub(r"--[^\n]*", "", sql)


# ------------------------------------------------------------------------------------- snapshot
def test_surface__snapshot_columns_are_kept_in_order_with_their_types(tmp_path):
    with closing(connect(tmp_path / "fresh.duckdb")) as con:
        actual = _surface(con)
    snapshot = json.loads(SNAPSHOT.read_text())
    problems = []
    for kind in ("tables", "views"):
        for name, columns in snapshot[kind].items():
            if name not in actual[kind]:
                problems.append(f"{kind[:-1]} {name} is missing (renamed or removed?)")
                continue
            have = actual[kind][name]
            types = dict(map(tuple, have))
            order = [c for c, _ in have]
            for column, dtype in columns:
                if column not in types:
                    problems.append(f"{name}.{column} is missing (renamed or removed?)")
                elif types[column] != dtype:
                    problems.append(f"{name}.{column} is {types[column]}, was {dtype}")
            kept = [c for c, _ in columns if c in types]
            if kept != [c for c in order if c in set(kept)]:
                problems.append(f"{name}: columns reordered, {kept} became {order}")
    assert not problems, "the stable SQL surface changed:\n" + "\n".join(problems)
    if os.environ.get("SEGQTL_UPDATE_SNAPSHOT") == "1":  # additions only (checked above)
        SNAPSHOT.write_text(_dump(actual))


def test_surface__snapshot_has_the_readme_surface():
    snapshot = json.loads(SNAPSHOT.read_text())
    views = {
        "genotypes", "nominal_results", "perm_results", "qvalues", "finemap_results",
        "finemap_bootstrap", "finemap_r2", "validate_results", "validate_residuals",
        "validate_model", "validate_runs", "comparison_results",
    }  # fmt: skip
    assert views <= snapshot["views"].keys()
    assert {"cohorts", "runs", "run_parameters", "comparisons", "schema_migrations"} <= (
        snapshot["tables"].keys()
    )
    assert SNAPSHOT.read_text() == _dump(snapshot)  # written by _dump (SEGQTL_UPDATE_SNAPSHOT)


# ---------------------------------------------------------------------------------- one home
def test_view_files__every_view_has_exactly_one_file_and_no_other_sql_makes_views(tmp_path):
    with closing(connect(tmp_path / "fresh.duckdb")) as con:
        in_warehouse = _view_names(con)
        applied = {r[0] for r in con.execute("SELECT name FROM schema_views").fetchall()}
    files = {p.stem: p.read_text() for p in (wdb.sql_dir() / "views").glob("*.sql")}
    assert in_warehouse == files.keys() == applied
    for name, text in files.items():
        assert CREATE_VIEW.findall(_body(text)) == [name], name
        assert f"CREATE OR REPLACE VIEW {name} AS" in text
        assert text.startswith(f"-- {name} (view): "), name  # the header convention
        for field in ("Reads", "Output"):
            assert wdb._header_field(text, field).strip(), (name, field)
    for path in wdb.sql_dir().rglob("*.sql"):
        if path.parent.name == "views":
            continue
        if path.parent.name == "migrations" and int(path.stem.partition("_")[0]) < CUTOVER:
            continue  # applied migrations are never edited; their views are replaced
        assert not CREATE_VIEW.findall(_body(path.read_text())), path


def test_migrations__none_from_the_cutover_creates_or_alters_a_view():
    versions = [v for v, _, _ in wdb.migrations()]
    assert CUTOVER in versions
    for version, name, text in wdb.migrations():
        if version >= CUTOVER:
            body = _body(text)
            assert not CREATE_VIEW.findall(body), f"migration {version}_{name} creates a view"
            assert not re.search(r"\bALTER\s+VIEW\b", body, re.I), f"{version}_{name}"


def test_view_files__reads_header_names_the_views_read_and_orders_them():
    files = wdb.view_files()
    names = {v.name for v in files}
    seen: set[str] = set()
    for view in files:
        if view.name != "genotypes":  # a template over the cohorts' tables
            read = set(re.findall(r"\b(?:FROM|JOIN)\s+(\w+)", _body(view.sql), re.I))
            declared = set(re.findall(r"\w+", wdb._header_field(view.sql, "Reads")))
            assert read <= declared, (view.name, read - declared)
            assert set(view.reads) == read & names, view.name
        assert set(view.reads) <= seen, f"{view.name} is applied before {view.reads}"
        seen.add(view.name)
    assert {"perm_results", "qvalues"} <= {v.name for v in files if "nominal_results" in v.reads}


# ------------------------------------------------------------------------------- applying them
def _with_extra_column(view: wdb.ViewFile) -> wdb.ViewFile:
    sql = view.sql.replace("SELECT r.run_id,", "SELECT r.run_id, 42 AS extra_column,", 1)
    assert sql != view.sql
    return replace(view, sql=sql)


def test_connect__changed_view_file_is_applied_by_a_writer_and_refused_read_only(
    tmp_path, monkeypatch
):
    db = tmp_path / "wh.duckdb"
    connect(db).close()
    edited = tuple(
        _with_extra_column(v) if v.name == "nominal_results" else v for v in wdb.view_files()
    )
    monkeypatch.setattr(wdb, "view_files", lambda: edited)
    with pytest.raises(SchemaTooOld, match="views .* were made from other definitions") as exc:
        connect(db, read_only=True)
    assert f"Fix: re-create them with 'segqtl upgrade --db {db}'" in str(exc.value)
    with closing(connect_reader(db)) as con:  # upgrades (writer), then reads
        columns = _columns(con, "perm_results")
    assert columns[:3] == ["run_id", "extra_column", "run_name"]  # dependants re-created too
    connect(db, read_only=True).close()  # up to date now
    monkeypatch.undo()
    with pytest.raises(SchemaTooOld):
        connect(db, read_only=True)
    with closing(connect(db)) as con:
        assert "extra_column" not in _columns(con, "nominal_results")


def test_apply_views__a_failing_view_leaves_views_and_their_record_as_they_were(
    tmp_path, monkeypatch
):
    db = tmp_path / "wh.duckdb"
    with closing(connect(db)) as con:
        before = con.execute("SELECT * FROM schema_views ORDER BY name").fetchall()
    broken = tuple(
        replace(v, sql=v.sql.replace("FROM runs AS u", "FROM no_such_table AS u"))
        if v.name == "validate_runs"
        else _with_extra_column(v)
        if v.name == "nominal_results"
        else v
        for v in wdb.view_files()
    )
    monkeypatch.setattr(wdb, "view_files", lambda: broken)
    with pytest.raises(Exception, match="no_such_table"):
        connect(db)
    monkeypatch.undo()
    with closing(connect(db, read_only=True)) as con:  # still current: nothing was applied
        assert con.execute("SELECT * FROM schema_views ORDER BY name").fetchall() == before
        assert "extra_column" not in _columns(con, "nominal_results")


def test_migrate__schema_6_warehouse_gets_the_same_views_and_rows(
    tmp_path, small_cohort, monkeypatch
):
    # A warehouse of a segqtl that knew migrations 001-006 (its views came from them).
    all_migrations = wdb.migrations()
    assert all_migrations[5][0] == 6
    as_segqtl_of_schema(monkeypatch, 6)
    db = tmp_path / "old.duckdb"
    api.ingest(db, "small", **cohort_kwargs(small_cohort))
    base = dict(cohort="small", chromosomes=["2"])
    api.run(db, RunSpec(mode="nominal", all_variants=True, name="all", **base))
    perm = [api.run(db, RunSpec(mode="perm", num_permutations=b, **base)) for b in (20, 30)]
    api.compare(db, *perm)
    with closing(connect(db, read_only=True)) as con:
        assert not wdb._has_table(con, "schema_views")
        before = _view_rows(con)
    monkeypatch.undo()
    assert {n: len(rows) for n, (_, rows) in before.items() if rows} == {
        "comparison_results": 12, "genotypes": 160, "nominal_results": 313, "perm_results": 24,
        "qvalues": 24,
    }  # fmt: skip

    with pytest.raises(SchemaTooOld, match="schema version 6"):
        connect(db, read_only=True)
    with closing(connect(db)) as con:
        applied = dict(con.execute("SELECT name, sha256 FROM schema_views").fetchall())
    assert applied == {v.name: v.sha256 for v in wdb.view_files()}
    with closing(connect(db, read_only=True)) as con:
        after = _view_rows(con)
    assert {name: after[name] for name in before} == before
    # views of later migrations: nominal_top holds the top hits of the runs made before them
    new = set(after) - set(before)
    assert "nominal_top" in new
    assert len(after["nominal_top"][1]) == len(before["perm_results"][1]) + len(
        {(r[0], r[3], r[4]) for r in before["nominal_results"][1] if r[1] == "all"}
    )
