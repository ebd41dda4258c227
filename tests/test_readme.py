"""The README's SQL examples run against a real warehouse."""

from __future__ import annotations

import re
from pathlib import Path

from segqtl import api
from segqtl.simulate import simulate_cohort
from segqtl.spec import RunSpec
from segqtl.warehouse.db import connect

from .conftest import cohort_kwargs

README = Path(__file__).parents[1] / "README.md"


def sql_blocks() -> list[str]:
    text = README.read_text()
    blocks = re.findall(r"```sql\n(.*?)```", text, flags=re.S)
    return [s.strip() for b in blocks for s in b.split(";") if s.strip()]


def test_readme__sql_examples_run(small_db, tmp_path, monkeypatch):
    # The warehouse the README's examples describe: cohorts 'small' and 'val' (the simulator's
    # validation cohort of the same genes and variants), runs 1-6 and comparison 1.
    val = simulate_cohort(
        tmp_path / "sim", seed=7, n_samples=60, chromosomes=("1", "2"), n_phenotypes=12,
        n_variants=80, chromosome_length=6_000_000, missing_rate=0.03, phenotype_covariate=True,
        n_validation_samples=45,
    ).validation  # fmt: skip
    kw = cohort_kwargs(val)
    kw.pop("phenotype_covariate")
    api.ingest(small_db, "val", **kw)
    chr1 = dict(cohort="small", chromosomes=["1"])
    ids = [api.run(small_db, RunSpec(mode="nominal", **chr1))]
    api.fdr(small_db, ids[0], 0.05)
    ids.append(api.run(small_db, RunSpec(mode="nominal", all_variants=True, name="1 Mb", **chr1)))
    ids.append(api.run(small_db, RunSpec(mode="perm", num_permutations=50, **chr1)))
    # run 4: finemap, with one phenotype made to fail so that the "why" query has rows
    from segqtl.kernels import finemap as fm

    real = fm.finemap_phenotype

    def flaky(prep, k, params):
        if k == 0:
            raise FloatingPointError("example failure")
        return real(prep, k, params)

    monkeypatch.setattr(fm, "finemap_phenotype", flaky)
    fast = dict(n_bootstrap=20, n_lambda=8)
    ids.append(api.run(small_db, RunSpec(mode="finemap", compute_r2=True, **fast, **chr1)))
    monkeypatch.undo()
    ids.append(
        api.run(
            small_db,
            RunSpec(mode="nominal", all_variants=True, window=500_000, name="500 kb", **chr1),
        )
    )
    ids.append(
        api.run(
            small_db,
            RunSpec(
                mode="validate",
                validation_cohort="val",
                finemap_run=4,
                save_model_audit=True,
                **fast,
                **chr1,
            ),
        )  # fmt: skip
    )
    assert ids == [1, 2, 3, 4, 5, 6]
    assert api.compare(small_db, 2, 5).comparison_id == 1
    statements = sql_blocks()
    assert len(statements) >= 15
    con = connect(small_db, read_only=True)
    try:
        for sql in statements:
            rows = con.sql(sql).fetchall()
            assert rows, sql
    finally:
        con.close()


def test_readme__documents_every_command():
    from segqtl.cli import cli

    text = README.read_text()
    for name in cli.commands:
        assert f"segqtl {name}" in text, name
