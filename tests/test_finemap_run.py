"""finemap runs end to end on a small simulated cohort: warehouse rows, cores, failures."""

from __future__ import annotations

from segqtl import api
from segqtl.kernels import finemap as fm
from segqtl.spec import RunSpec
from segqtl.warehouse.db import connect

FAST = dict(n_bootstrap=20, n_lambda=8, compute_r2=True)


def _spec(**kw) -> RunSpec:
    return RunSpec(
        **{"mode": "finemap", "cohort": "small", "chromosomes": ["1", "2"], **FAST, **kw}
    )


def _rows(db, sql, params):
    con = connect(db, read_only=True)
    try:
        return con.execute(sql, params).fetchall()
    finally:
        con.close()


def test_run_finemap__results_do_not_depend_on_cores(small_db):
    one = api.run(small_db, _spec(num_cores=1))
    two = api.run(small_db, _spec(num_cores=2, phenotypes_per_unit=5))
    cols = "chr, phenotype_idx, variant_idx, stability_score, lambda_selected, beta_full, status"
    sql = f"SELECT {cols} FROM finemap_stats WHERE run_id = ? ORDER BY ALL"
    a, b = _rows(small_db, sql, [one]), _rows(small_db, sql, [two])
    assert a == b and len(a) > 24
    boot = "SELECT * EXCLUDE (run_id, unit_id) FROM finemap_bootstrap WHERE run_id = ? ORDER BY ALL"
    assert _rows(small_db, boot, [one]) == _rows(small_db, boot, [two])
    # every phenotype is accounted for: fitted rows or one marked empty row
    n_ph = _rows(
        small_db,
        "SELECT count(DISTINCT (chr, phenotype_idx)) FROM finemap_results WHERE run_id = ?",
        [one],
    )[0][0]
    assert n_ph == 24
    done = _rows(small_db, "SELECT status, n_phenotypes FROM runs WHERE run_id = ?", [one])
    assert done == [("completed", 24)]


def test_run_finemap__a_failing_phenotype_is_marked_and_the_run_goes_on(small_db, monkeypatch):
    real = fm.finemap_phenotype

    def flaky(prep, k, params):
        if k == 2:
            raise FloatingPointError("boom in phenotype 2")
        return real(prep, k, params)

    monkeypatch.setattr(fm, "finemap_phenotype", flaky)
    run_id = api.run(small_db, _spec(chromosomes=["1"], num_cores=1))
    failed = _rows(
        small_db,
        "SELECT phenotype_idx, variant, n_samples, status, message FROM finemap_results "
        "WHERE run_id = ? AND status <> 'tested'",
        [run_id],
    )
    assert failed == [(2, None, 0, "failed", "FloatingPointError: boom in phenotype 2")]
    others = _rows(
        small_db,
        "SELECT count(DISTINCT phenotype_idx) FROM finemap_results "
        "WHERE run_id = ? AND status = 'tested'",
        [run_id],
    )
    assert others == [(11,)]
    status = _rows(small_db, "SELECT status FROM runs WHERE run_id = ?", [run_id])
    assert status == [("completed",)]
