"""The contract every registered mode keeps: plan -> work -> commit -> export -> compare.

One parametrised test per step runs each mode of the registry on a small simulated cohort
(with a validation cohort for validate), so a new mode is checked by adding it to the registry.
Mode-specific numbers are checked elsewhere (golden tests, kernel tests).
"""

from __future__ import annotations

import csv
from contextlib import closing

import pytest

from segqtl import api, modes
from segqtl.simulate import simulate_cohort
from segqtl.spec import RunSpec
from segqtl.warehouse.db import connect

from .conftest import cohort_kwargs

#: Small settings per mode so that the contract runs in seconds (numbers are not the point).
FAST = {
    "perm": {"num_permutations": 20},
    "finemap": {"n_bootstrap": 4, "n_lambda": 4},
    "validate": {"n_bootstrap": 4, "n_lambda": 4, "validation_cohort": "val"},
}


@pytest.fixture(scope="module")
def contract_db(tmp_path_factory):
    """A warehouse with a small cohort 'main' and its validation cohort 'val'."""
    out = tmp_path_factory.mktemp("contract")
    cohort = simulate_cohort(
        out / "cohort",
        seed=11,
        n_samples=70,
        chromosomes=("1", "2"),
        n_phenotypes=6,
        n_variants=40,
        chromosome_length=4_000_000,
        missing_rate=0.02,
        n_validation_samples=60,
    )
    db = out / "wh.duckdb"
    api.ingest(db, "main", **cohort_kwargs(cohort))
    val = out / "cohort" / "val"
    api.ingest(
        db,
        "val",
        genotypes=val / "genotypes",
        quantifications=val / "quantifications.csv",
        covariates=val / "covariates.csv",
        copynumber=val / "copynumbers.csv",
        segmentation=val / "segments.csv",
    )
    term = out / "purity.csv"  # interaction's term: a value for every sample of 'main'
    with open(cohort.quantifications) as fh:
        samples = next(csv.reader(fh))[4:]
    term.write_text("sample,purity\n" + "".join(f"{s},{0.2 + 0.01 * i}\n" for i, s in
                                                  enumerate(samples)))  # fmt: skip
    runs = {}
    for name in modes.modes():
        fast = dict(FAST.get(name, {}))
        if name == "interaction":
            fast["interaction"] = str(term)
        if name == "conditional":  # starts from the perm run (registered before it)
            fast["perm_run"] = runs["perm"][0]
        spec = RunSpec(mode=name, cohort="main", chromosomes=["1", "2"], **fast)
        first = api.run(db, spec)
        again = api.run(db, RunSpec(**{**spec.__dict__, "name": "again"}))
        runs[name] = (first, again)
    return db, runs


@pytest.mark.parametrize("name", list(modes.MODULES))
def test_contract__plan_records_the_units_and_parameters(contract_db, name):
    db, runs = contract_db
    mode = modes.get(name)
    run_id = runs[name][0]
    with closing(connect(db, read_only=True)) as con:
        n_units, status = con.execute(
            "SELECT n_units, status FROM runs WHERE run_id = ?", [run_id]
        ).fetchone()
        n_pheno = con.execute(
            "SELECT count(*) FROM phenotypes WHERE cohort = 'main' GROUP BY chr ORDER BY chr"
        ).fetchall()
        params = dict(
            con.execute(
                "SELECT key, value FROM run_parameters WHERE run_id = ?", [run_id]
            ).fetchall()
        )
    assert status == "completed"
    assert n_units == sum(-(-n // mode.unit_size) for (n,) in n_pheno)
    assert set(modes.params()) <= set(params)
    assert any(k.startswith("input:") for k in params)


@pytest.mark.parametrize("name", list(modes.MODULES))
def test_contract__work_commits_every_unit_into_the_modes_tables(contract_db, name):
    db, runs = contract_db
    mode = modes.get(name)
    run_id = runs[name][0]
    with closing(connect(db, read_only=True)) as con:
        units = con.execute(
            "SELECT count(*), count(*) FILTER (status = 'done'), sum(n_rows) FROM run_units "
            "WHERE run_id = ?",
            [run_id],
        ).fetchone()
        main_rows = con.execute(
            f"SELECT count(*) FROM {mode.result_table} WHERE run_id = ?", [run_id]
        ).fetchone()[0]
        view_rows = con.execute(
            f"SELECT count(*) FROM {mode.views[0]} WHERE run_id = ?", [run_id]
        ).fetchone()[0]
        for table in mode.tables:  # every table the worker may fill exists
            con.execute(f"SELECT * FROM {table} LIMIT 0")
        for view in mode.views:
            con.execute(f"SELECT run_id, run_name, cohort FROM {view} LIMIT 0")
    assert units[0] == units[1] > 0
    assert main_rows == units[2] == view_rows > 0


@pytest.mark.parametrize("name", list(modes.MODULES))
def test_contract__export_writes_the_declared_files(contract_db, name, tmp_path):
    db, runs = contract_db
    mode = modes.get(name)
    run_id = runs[name][0]
    written = api.export(db, run_id, tmp_path)
    with closing(connect(db, read_only=True)) as con:
        spec = api._runs.load_spec(con, run_id)
        declared = [f.csv_name for f in mode.export_files(con, run_id, spec)]
    assert [p.name for p in written] == declared
    for path in written:
        with path.open() as fh:
            header = next(csv.reader(fh))
        assert header and all(header)


@pytest.mark.parametrize("name", list(modes.MODULES))
def test_contract__compare_of_two_identical_runs_finds_no_change(contract_db, name):
    db, runs = contract_db
    mode = modes.get(name)
    first, again = runs[name]
    c = api.compare(db, first, again)
    assert (c.mode, c.effect_column, c.p_column) == (name, mode.effect_column, mode.p_column)
    assert c.n_only_a == c.n_only_b == 0 and c.n_both > 0
    assert c.hits_gained == c.hits_lost == 0
    # Largest changes list hits only (issue 16): none when neither run has a hit.
    delta = c.largest_changes["delta"]
    assert delta.is_empty() if c.hits_a == 0 else delta.abs().max() == 0
