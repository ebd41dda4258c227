"""The README's SQL examples run against a real warehouse."""

from __future__ import annotations

import re
from pathlib import Path

from segqtl import api
from segqtl.spec import RunSpec
from segqtl.warehouse.db import connect

README = Path(__file__).parents[1] / "README.md"


def sql_blocks() -> list[str]:
    text = README.read_text()
    blocks = re.findall(r"```sql\n(.*?)```", text, flags=re.S)
    return [s.strip() for b in blocks for s in b.split(";") if s.strip()]


def test_readme__sql_examples_run(small_db, monkeypatch):
    # the examples refer to run 2 (nominal, all variants), run 3 (perm) and run 4 (finemap)
    for all_variants in (False, True):
        api.run(
            small_db,
            RunSpec(mode="nominal", cohort="small", chromosomes=["1"], all_variants=all_variants),
        )
    api.run(small_db, RunSpec(mode="perm", cohort="small", chromosomes=["1"], num_permutations=50))
    # run 4: finemap, with one phenotype made to fail so that the "why" query has rows
    from segqtl.kernels import finemap as fm

    real = fm.finemap_phenotype

    def flaky(prep, k, params):
        if k == 0:
            raise FloatingPointError("example failure")
        return real(prep, k, params)

    monkeypatch.setattr(fm, "finemap_phenotype", flaky)
    api.run(
        small_db,
        RunSpec(mode="finemap", cohort="small", chromosomes=["1"], n_bootstrap=20, n_lambda=8),
    )
    statements = sql_blocks()
    assert len(statements) >= 4
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
