"""The SQL examples of docs/sql.md run against a real warehouse; the README and docs/ name
every command.  (The shell examples run in tests/test_docs.py.)"""

from __future__ import annotations

import re
from pathlib import Path

from segqtl import api
from segqtl.simulate import simulate_cohort
from segqtl.spec import RunSpec
from segqtl.warehouse.db import connect

from .conftest import cohort_kwargs

ROOT = Path(__file__).parents[1]
README = ROOT / "README.md"
SQL_DOC = ROOT / "docs" / "sql.md"


def sql_blocks() -> list[str]:
    text = SQL_DOC.read_text()
    blocks = re.findall(r"```sql\n(.*?)```", text, flags=re.S)
    return [s.strip() for b in blocks for s in b.split(";") if s.strip()]


def test_readme__sql_examples_run(small_db, tmp_path, monkeypatch):
    # The warehouse docs/sql.md describes: cohorts 'small' and 'val' (the simulator's
    # validation cohort of the same genes and variants), runs named best, 1 Mb, perm, finemap,
    # 500 kb and validate, and one comparison; the examples name runs, never their ids.
    val = simulate_cohort(
        tmp_path / "sim", seed=7, n_samples=60, chromosomes=("1", "2"), n_phenotypes=12,
        n_variants=80, chromosome_length=6_000_000, missing_rate=0.03, phenotype_covariate=True,
        n_validation_samples=45,
    ).validation  # fmt: skip
    kw = cohort_kwargs(val)
    kw.pop("phenotype_covariate")
    api.ingest(small_db, "val", **kw)
    chr1 = dict(cohort="small", chromosomes=["1"])
    ids = [api.run(small_db, RunSpec(mode="nominal", name="best", **chr1))]
    ids.append(api.run(small_db, RunSpec(mode="nominal", all_variants=True, name="1 Mb", **chr1)))
    ids.append(api.run(small_db, RunSpec(mode="perm", num_permutations=50, name="perm", **chr1)))
    # run 4: finemap, with one phenotype made to fail so that the "why" query has rows
    from segqtl.kernels import finemap as fm

    real = fm.finemap_phenotype

    def flaky(prep, k, params):
        if k == 0:
            raise FloatingPointError("example failure")
        return real(prep, k, params)

    monkeypatch.setattr(fm, "finemap_phenotype", flaky)
    fast = dict(n_bootstrap=20, n_lambda=8)
    ids.append(
        api.run(small_db, RunSpec(mode="finemap", compute_r2=True, name="finemap", **fast, **chr1))
    )
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
                name="validate",
                **fast,
                **chr1,
            ),
        )  # fmt: skip
    )
    assert ids == [1, 2, 3, 4, 5, 6]
    assert api.compare(small_db, 2, 5).comparison_id == 1
    statements = sql_blocks()
    assert len(statements) >= 14
    con = connect(small_db, read_only=True)
    try:
        for sql in statements:
            rows = con.sql(sql).fetchall()
            assert rows, sql
    finally:
        con.close()


def test_readme__documents_every_command():
    from segqtl.cli import cli

    text = README.read_text() + "".join(p.read_text() for p in (ROOT / "docs").glob("*.md"))
    for name in cli.commands:
        assert f"segqtl {name}" in text, name


def test_readme__keeps_the_two_commands_and_links_the_docs():
    text = README.read_text()
    assert "make demo" in text and "make test" in text
    for page in ("your-own-data", "cli", "sql", "faithfulness", "benchmarks", "methods"):
        assert f"(docs/{page}.md)" in text, page
    assert len(text.splitlines()) < 200  # the tour and links; the reference lives in docs/
