"""``segqtl merge``: join the N shard runs of ``segqtl run --shard K/N`` into one run.

Each shard warehouse is attached read-only.  Before anything is written the shards are checked
to be the N parts of one run: each holds a completed shard run (its latest), all have the same N
and each K in 1..N appears once, the same mode and parameters (those that only say where units
run, and the shard itself, may differ), the same inputs (cohort checksums, input files' sha256)
and the same versions (segqtl, DuckDB, numpy, ...; and segqtl is this one, which computes the
run-level steps), and the same plan of work units. Then, in one transaction of the target
warehouse: the run's cohorts, and the cohorts a derived one was made from, are copied from the
first shard if the target lacks them (a cohort of the same name must have the same inputs), one
run is recorded with the whole plan, every shard's unit records and result rows are copied, the
run is completed and its run-level steps run (:meth:`segqtl.modes.Mode.finish`: perm's
q-values). A failure anywhere leaves the target as it was. The SQL is in ``sql/merge_*.sql``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from .. import __version__, modes
from ..errors import UsageError
from ..modes import parameters as P
from ..spec import RunSpec
from . import runs
from .db import (
    COHORT_TABLES,
    SCHEMA_VERSION,
    bind_sql,
    check_warehouse_file,
    fetch_one,
    genotype_table,
    has_table,
    refresh_genotypes_view,
    transaction,
)


def placement_params() -> frozenset[str]:
    """Parameters that only say where the units were computed, and the shard: shards may differ
    in them (each shard's job may have its own cores or cluster), and the results do not.

    They are those a resumed run may change (:data:`segqtl.engine.executors.RESUMABLE`).
    """
    from ..engine.executors import RESUMABLE  # here: the engine is not needed to read shards

    return frozenset({*RESUMABLE, P.SHARD.name})


#: The run-level keys of run_parameters that finish_run writes (not compared, not copied).
DERIVED_KEYS = frozenset({"skipped_by_reason"})


@dataclass
class Shard:
    """One shard warehouse given to ``segqtl merge`` and its shard run."""

    path: Path
    alias: str  # the ATTACH name: shard_<position>, never user text
    run_id: int = 0
    record: dict = field(default_factory=dict)  # its runs row
    parameters: dict[str, str] = field(default_factory=dict)  # key -> JSON text
    plan: list[tuple] = field(default_factory=list)  # (unit_id, chr, first, last)
    done: list[int] = field(default_factory=list)  # unit_ids with status 'done'

    @property
    def k(self) -> int:
        return self.record["shard_index"]

    @property
    def n(self) -> int:
        return self.record["shard_count"]

    @property
    def name(self) -> str:
        return str(self.path)


def _sql(name: str, params: dict | None = None, **names: str) -> tuple[str, dict]:
    """``sql/<name>.sql`` with its ``{placeholder}`` identifiers filled and its parameters."""
    text, used = bind_sql(name, params or {})
    for key, value in names.items():
        text = text.replace("{" + key + "}", value)
    return text, used


def _one_line(exc: Exception) -> str:
    return " ".join(str(exc).split())


def _attach(con, shard: Shard) -> None:
    if not shard.path.is_file():
        raise UsageError(
            f"{shard.path}: no such shard warehouse. Fix: check the path (one warehouse per "
            "'segqtl run --shard K/N --db FILE')"
        )
    check_warehouse_file(shard.path)  # a CSV, an empty or truncated file: one line, untouched
    path = str(shard.path).replace("'", "''")
    try:
        con.execute(f"ATTACH '{path}' AS {shard.alias} (READ_ONLY)")
    except duckdb.Error as exc:
        text = _one_line(exc)
        if "lock" in text.lower():
            raise UsageError(
                f"{shard.path}: the shard warehouse is open in another process (is its shard "
                "run still running?). Fix: wait for it to finish, then merge"
            ) from None
        raise UsageError(f"{shard.path}: cannot open the shard warehouse ({text})") from None


def _read_shard(con, shard: Shard) -> None:
    """Fill ``shard`` from its warehouse: the latest shard run, its parameters and plan."""
    try:
        version = fetch_one(
            con, f"SELECT coalesce(max(version), 0) FROM {shard.alias}.schema_migrations"
        )[0]
    except duckdb.CatalogException:
        raise UsageError(
            f"{shard.path} is not a segqtl warehouse. Fix: give the shard warehouses made by "
            "'segqtl run --shard K/N --db FILE'"
        ) from None
    if version != SCHEMA_VERSION:
        raise UsageError(
            f"{shard.path}: warehouse schema version {version}, this segqtl needs "
            f"{SCHEMA_VERSION} (the shard was made by another segqtl). Fix: merge with the segqtl "
            "that computed the shards"
        )
    text, params = _sql("merge_shard_run", shard=shard.alias)
    rel = con.sql(text, params=params)
    rows = rel.fetchall()
    if not rows:
        raise UsageError(
            f"{shard.path} holds no shard run. Fix: make it with 'segqtl run --shard K/N --db "
            f"{shard.path} ...'"
        )
    shard.record = dict(zip(rel.columns, rows[0], strict=True))
    shard.run_id = shard.record["run_id"]
    shard.parameters = dict(
        con.execute(
            f"SELECT key, value FROM {shard.alias}.run_parameters WHERE run_id = ?",
            [shard.run_id],
        ).fetchall()
    )
    units = con.execute(
        "SELECT unit_id, chr, first_phenotype_idx, last_phenotype_idx, status "
        f"FROM {shard.alias}.run_units WHERE run_id = ? ORDER BY unit_id",
        [shard.run_id],
    ).fetchall()
    shard.plan = [u[:4] for u in units]
    shard.done = [u[0] for u in units if u[4] == "done"]


def _value(text: str | None) -> str:
    """A stored JSON value as people read it."""
    return "unset" if text is None else str(json.loads(text))


def _check(shards: list[Shard]) -> Shard:
    """Refuse shards that are not the N completed parts of one run; returns shard 1."""
    for s in shards:
        if s.record["status"] != runs.SHARD_COMPLETED:
            raise UsageError(
                f"{s.path}: shard {s.k}/{s.n} (run {s.run_id}) is {s.record['status']}, not "
                f"completed. Fix: finish it with 'segqtl run --db {s.path} --resume {s.run_id}'"
            )
    first = min(shards, key=lambda s: s.k)
    for s in shards:
        if s.n != first.n:
            raise UsageError(
                f"{s.path} is shard {s.k}/{s.n}, but {first.path} is shard {first.k}/{first.n}: "
                "they split the run into different numbers of shards. Fix: make every shard "
                f"with the same N (--shard K/{first.n})"
            )
    seen: dict[int, Shard] = {}
    for s in shards:
        if s.k in seen:
            raise UsageError(
                f"{s.path} and {seen[s.k].path} are both shard {s.k}/{s.n}. Fix: give each "
                "shard once (drop one of them)"
            )
        seen[s.k] = s
    for s in shards:
        if s is first:
            continue
        _same_parameters(first, s)
        _same_inputs(first, s)
        _same_versions(first, s)
        if s.plan != first.plan:
            raise UsageError(
                f"{s.path} planned other work units than {first.path} ({len(s.plan)} vs "
                f"{len(first.plan)}). Fix: compute every shard from the same cohort, "
                "chromosomes and --unit-size"
            )
    if first.record["segqtl_version"] != __version__:
        raise UsageError(
            f"the shards were computed with segqtl {first.record['segqtl_version']}, and this is "
            f"segqtl {__version__}, which would compute the run-level results. Fix: merge with "
            f"segqtl {first.record['segqtl_version']}"
        )
    missing = [k for k in range(1, first.n + 1) if k not in seen]
    if missing:
        which = ", ".join(str(k) for k in missing)
        raise UsageError(
            f"shard{'s' if len(missing) > 1 else ''} {which} of {first.n} "
            f"{'are' if len(missing) > 1 else 'is'} missing (given: "
            f"{', '.join(str(s.k) for s in sorted(shards, key=lambda s: s.k))}). Fix: add "
            f"{'their warehouses' if len(missing) > 1 else 'its warehouse'} (made by 'segqtl "
            f"run --shard {missing[0]}/{first.n} ...') to the merge"
        )
    # N distinct shards of one plan, each with exactly its share done, cover the plan once.
    for s in shards:
        share = [u[0] for u in s.plan if runs.shard_of(u[0], len(s.plan), s.n) == s.k]
        if s.done != share:
            raise UsageError(
                f"{s.path}: shard {s.k}/{s.n} (run {s.run_id}) computed other units than its "
                f"share of the plan. Fix: recompute it with 'segqtl run --shard {s.k}/{s.n}'"
            )
    return first


def _same_parameters(first: Shard, s: Shard) -> None:
    for column in ("mode", "cohort"):
        if s.record[column] != first.record[column]:
            raise UsageError(
                f"{s.path}: {column} is {s.record[column]} there but {first.record[column]} in "
                f"{first.path}. Fix: compute every shard with the same --{column}"
            )
    keys = {k for s_ in (first, s) for k in s_.parameters if ":" not in k}
    for key in sorted(keys - placement_params() - DERIVED_KEYS):
        a, b = first.parameters.get(key), s.parameters.get(key)
        if a != b:
            # the fields every run has are no registry parameters; --chromosome is repeated
            flag = modes.flag_name(key) if key in modes.params() else f"--{key}"
            flag = "--chromosome" if key == "chromosomes" else flag
            raise UsageError(
                f"{s.path}: parameter {key} ({flag}) is {_value(b)} there but {_value(a)} in "
                f"{first.path}. Fix: compute every shard with the same parameters (shard "
                f"{s.k} again with {flag} {_value(a)})"
            )


def _same_inputs(first: Shard, s: Shard) -> None:
    if s.record["cohort_checksum"] != first.record["cohort_checksum"]:
        raise UsageError(
            f"{s.path}: cohort {s.record['cohort']!r} has inputs of checksum "
            f"{s.record['cohort_checksum'][:12]}... there but "
            f"{first.record['cohort_checksum'][:12]}... in {first.path}. Fix: compute every "
            "shard from the same input files (or copies of one warehouse)"
        )
    keys = {k for s_ in (first, s) for k in s_.parameters if ":" in k}
    for key in sorted(k for k in keys if not k.startswith("version:")):
        a, b = first.parameters.get(key), s.parameters.get(key)
        if a != b:
            raise UsageError(
                f"{s.path}: input {key.partition(':')[2]} has checksum {_value(b)[:12]}... "
                f"there but {_value(a)[:12]}... in {first.path}. Fix: compute every shard from "
                "the same input files (or copies of one warehouse)"
            )


def _same_versions(first: Shard, s: Shard) -> None:
    """The runs columns (segqtl, DuckDB, numpy) and every ``version:*`` provenance key."""
    pairs = [
        (name, first.record[f"{name}_version"], s.record[f"{name}_version"])
        for name in ("segqtl", "duckdb", "numpy")
    ]
    keys = sorted(k for k in {*first.parameters, *s.parameters} if k.startswith("version:"))
    pairs += [
        (k.partition(":")[2], _value(first.parameters.get(k)), _value(s.parameters.get(k)))
        for k in keys
    ]
    for name, a, b in pairs:
        if a != b:
            raise UsageError(
                f"{s.path} was computed with {name} {b}, but {first.path} with {name} {a}. "
                "Fix: compute every shard with the same installation (shard "
                f"{s.k} again with {name} {a})"
            )


def _check_cohorts(con, first: Shard, spec) -> list[str]:
    """The run's cohorts the target lacks (to copy); refuses one of the same name but other
    inputs."""
    mode = modes.get(spec.mode)
    names = list(dict.fromkeys([spec.cohort, *mode.genotype_cohorts(spec)]))
    # a derived cohort comes with the cohorts it was derived from (cohorts.source_cohort), so
    # that its provenance names cohorts of the target and the same flags reuse it there; each
    # source before the cohorts derived from it
    source_of = dict(
        con.execute(f"SELECT cohort, source_cohort FROM {first.alias}.cohorts").fetchall()
    )
    ordered: list[str] = []
    for name in names:
        chain = [name]
        # up the lineage while the shard holds the source (else there is nothing to copy)
        while (source := source_of.get(chain[-1])) in source_of and source not in chain:
            chain.append(source)
        ordered += [c for c in reversed(chain) if c not in ordered]
    names = ordered
    to_copy = []
    for name in names:
        theirs = fetch_one(
            con, f"SELECT checksum FROM {first.alias}.cohorts WHERE cohort = ?", [name]
        )
        if theirs is None:
            raise UsageError(
                f"{first.path} lacks cohort {name!r} of its run {first.run_id}. Fix: merge "
                "shard warehouses made by 'segqtl run --shard'"
            )
        ours = fetch_one(con, "SELECT checksum FROM main.cohorts WHERE cohort = ?", [name])
        if ours is None:
            to_copy.append(name)
        elif ours[0] != theirs[0]:
            raise UsageError(
                f"the target warehouse has a cohort {name!r} of other inputs (checksum "
                f"{ours[0][:12]}...) than the shards' ({theirs[0][:12]}...). Fix: merge into "
                "another --db, or into the warehouse the shards were copied from"
            )
    return to_copy


def _copy_cohort(con, first: Shard, cohort: str) -> None:
    """Copy ``cohort`` from shard 1's warehouse (inside the merge's transaction)."""
    source_id = fetch_one(
        con, f"SELECT cohort_id FROM {first.alias}.cohorts WHERE cohort = ?", [cohort]
    )[0]
    cohort_id = fetch_one(con, "SELECT nextval('cohort_id_seq')")[0]
    con.execute(
        *_sql("merge_cohort_record", {"cohort": cohort, "cohort_id": cohort_id}, shard=first.alias)
    )
    for table in COHORT_TABLES:
        if not has_table(con, table):  # a warehouse of an older schema lacks later ones
            continue
        con.execute(*_sql("merge_cohort", {"cohort": cohort}, shard=first.alias, table=table))
    con.execute(
        *_sql(
            "merge_genotypes",
            shard=first.alias,
            source=genotype_table(source_id),
            target=genotype_table(cohort_id),
        )
    )


def merge_shards(
    con: duckdb.DuckDBPyConnection,
    paths: list[str | Path],
    *,
    target: str | Path | None = None,
    notify: Callable[[str], None] | None = None,
) -> int:
    """Merge the shard warehouses ``paths`` into the warehouse of ``con``; returns the run id.

    Parameters
    ----------
    con : duckdb.DuckDBPyConnection
        The target warehouse, open for writing (migrated).
    paths : list of str or Path
        The N shard warehouses, in any order (each one's latest shard run is taken).
    target : str or Path, optional
        The target's file, to refuse it among ``paths``.
    notify : callable, optional
        Told what is copied (cohorts), one line each.

    Returns
    -------
    int
        The merged run's id (status ``completed``, ``merged_shards`` = N).
    """
    if not paths:
        raise UsageError("give the shard warehouses to merge. Fix: segqtl merge --db DB SHARD...")
    shards: list[Shard] = []
    resolved: dict[Path, Path] = {}
    target_path = Path(target).resolve() if target is not None else None
    for i, p in enumerate(paths, start=1):
        path = Path(p)
        real = path.resolve()
        if real == target_path:
            raise UsageError(
                f"{path} is the target --db. Fix: merge the shards into another warehouse"
            )
        if real in resolved:
            raise UsageError(f"{path} is given twice. Fix: give each shard warehouse once")
        resolved[real] = path
        shards.append(Shard(path, f"shard_{i}"))
    try:
        for s in shards:
            _attach(con, s)
            _read_shard(con, s)
        first = _check(shards)
        spec = RunSpec.from_rows(first.parameters.items())
        to_copy = _check_cohorts(con, first, spec)
        run_id = _write(con, shards, first, spec, to_copy, notify)
    finally:
        attached = {
            r[0] for r in con.execute("SELECT database_name FROM duckdb_databases()").fetchall()
        }
        for s in shards:
            if s.alias in attached:
                con.execute(f"DETACH {s.alias}")
    con.execute("CHECKPOINT")
    return run_id


def _write(con, shards: list[Shard], first: Shard, spec, to_copy, notify) -> int:
    """The merge's one transaction: cohorts, run, units, rows, completion, run-level steps."""
    mode = modes.get(spec.mode)
    # phase times add up over the shards (worker-seconds etc.); the merge's own time is not kept
    phases = {p: sum(s.record[f"{p}_seconds"] or 0.0 for s in shards) for p in runs.PHASES[:4]}
    started = min(s.record["started_at"] for s in shards)
    provenance = [
        {"shard": f"{s.k}/{s.n}", "file": str(s.path.resolve()), "run_id": s.run_id}
        for s in sorted(shards, key=lambda s: s.k)
    ]
    with transaction(con):
        for cohort in to_copy:
            if notify is not None:
                notify(f"copying cohort {cohort} from {first.path}")
            _copy_cohort(con, first, cohort)
        if to_copy:
            refresh_genotypes_view(con)
        run_id = fetch_one(con, "SELECT nextval('run_id_seq')")[0]
        con.execute(
            *_sql(
                "merge_run",
                {
                    "run_id": run_id,
                    "shard_run": first.run_id,
                    "started_at": started,
                    "n_shards": first.n,
                    **{f"{k}_seconds": v for k, v in phases.items()},
                },
                shard=first.alias,
            )
        )
        rows = [
            (k, v)
            for k, v in first.parameters.items()
            if k not in DERIVED_KEYS and k != P.SHARD.name
        ]
        rows += [(P.SHARD.name, json.dumps(None)), ("merge:shards", json.dumps(provenance))]
        con.executemany(
            "INSERT INTO run_parameters VALUES (?, ?, ?)", [[run_id, k, v] for k, v in rows]
        )
        for s in shards:
            params = {"run_id": run_id, "shard_run": s.run_id}
            con.execute(*_sql("merge_units", params, shard=s.alias))
            # the results, and the pairs --min-samples-observed left out of them
            for table in (*mode.tables, "run_pair_exclusions"):
                con.execute(*_sql("merge_rows", params, shard=s.alias, table=table))
        runs.finish_run(con, run_id, transaction=False)
        mode.finish(con, run_id, transaction=False)  # inside this one transaction
    return run_id
