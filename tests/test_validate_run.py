"""validate runs on simulated cohorts: a validation cohort lacking a chromosome, support filter."""

from __future__ import annotations

from segqtl import api
from segqtl.simulate import simulate_cohort
from segqtl.spec import RunSpec
from segqtl.warehouse.db import connect

from .conftest import cohort_kwargs

FAST = dict(n_bootstrap=20, n_lambda=8)


def _rows(db, sql, params):
    con = connect(db, read_only=True)
    try:
        return con.execute(sql, params).fetchall()
    finally:
        con.close()


def test_run_validate__validation_cohort_without_a_chromosome(small_db, tmp_path):
    # a validation cohort with chr1 only: chr2's phenotypes are simply not in it
    val = simulate_cohort(
        tmp_path / "val", seed=8, n_samples=50, chromosomes=("1",), n_phenotypes=12,
        n_variants=80, chromosome_length=6_000_000,
    )  # fmt: skip
    kw = cohort_kwargs(val)
    kw.pop("phenotype_covariate")
    api.ingest(small_db, "val1", **kw)
    base = dict(cohort="small", chromosomes=["1", "2"], **FAST)
    fm_run = api.run(small_db, RunSpec(mode="finemap", **base))
    run_id = api.run(
        small_db, RunSpec(mode="validate", validation_cohort="val1", finemap_run=fm_run, **base)
    )
    status = dict(
        _rows(
            small_db,
            "SELECT chr, list(DISTINCT status ORDER BY status) FROM validate_results "
            "WHERE run_id = ? GROUP BY chr",
            [run_id],
        )
    )
    assert status["chr2"] == ["not_in_validation_cohort"]
    assert "not_in_validation_cohort" not in status["chr1"]
    assert _rows(small_db, "SELECT status FROM runs WHERE run_id = ?", [run_id]) == [("completed",)]

    # restricted to supported phenotypes, an unsupported phenotype is 'unsupported' even when
    # an earlier check (here: not in the validation cohort) would have made it an empty row
    restricted = api.run(
        small_db,
        RunSpec(mode="validate", validation_cohort="val1", finemap_run=fm_run,
                restrict_to_supported_phenotypes=True, **base),
    )  # fmt: skip
    got = _rows(
        small_db,
        "SELECT v.phenotype_idx, v.status, max(f.stability_score) >= 0.6 AS supported "
        "FROM validate_results AS v JOIN finemap_stats AS f "
        "ON f.run_id = ? AND f.chr = v.chr AND f.phenotype_idx = v.phenotype_idx "
        "WHERE v.run_id = ? AND v.chr = 'chr2' GROUP BY ALL ORDER BY 1",
        [fm_run, restricted],
    )
    assert got, "no chr2 rows"
    for _, st, supported in got:
        assert st == ("not_in_validation_cohort" if supported else "unsupported")
    assert any(not s for *_, s in got)


def test_run_validate__finemap_csvs_are_stored_absolute_and_checksummed(
    small_db, tmp_path, monkeypatch
):
    import pytest

    from segqtl.engine import runner
    from segqtl.errors import UsageError
    from segqtl.warehouse import runs

    base = dict(cohort="small", chromosomes=["1"], **FAST)
    fm_run = api.run(small_db, RunSpec(mode="finemap", **base))
    api.export(small_db, fm_run, tmp_path / "fm")
    monkeypatch.chdir(tmp_path)
    spec = RunSpec(mode="validate", validation_cohort="small", finemap_results_dir="fm", **base)
    api.validate(spec)
    assert spec.finemap_results_dir == str((tmp_path / "fm").resolve())
    con = connect(small_db)
    try:
        run_id = runs.create_run(con, spec)
        stored = con.execute(
            "SELECT count(*) FROM run_parameters WHERE run_id = ? "
            "AND key = 'input:finemap_csv:chr1'",
            [run_id],
        ).fetchone()
        assert stored == (1,)
        csv = tmp_path / "fm" / "finemap_chr1.csv"
        csv.write_text(csv.read_text().replace("G1_000", "G1_00X", 1))
        with pytest.raises(UsageError, match="changed since the run started"):
            runner.execute(con, run_id)
    finally:
        con.close()


def test_run_validate__single_phenotype_finemap_run_only_validates_that_phenotype(small_db):
    import pytest

    from segqtl.errors import UsageError

    base = dict(cohort="small", chromosomes=["1"], **FAST)
    one = api.run(small_db, RunSpec(mode="finemap", phenotype_id="G1_003", **base))
    spec = dict(mode="validate", validation_cohort="small", finemap_run=one, **base)
    with pytest.raises(UsageError, match="fine-mapped phenotype 'G1_003' only"):
        api.run(small_db, RunSpec(**spec))
    run_id = api.run(small_db, RunSpec(phenotype_id="G1_003", **spec))
    rows = _rows(small_db, "SELECT phenotype, status FROM validate_results WHERE run_id = ?",
                 [run_id])  # fmt: skip
    assert rows == [("G1_003", "tested")]
