"""`segqtl export --layout tensorqtl`: tensorQTL's file names and columns, values from the run.

The files are read back as a tensorQTL user would (pandas / polars) and every column is checked
against the run's stored rows (perm_results, nominal_results, qvalues) or, for positions and
window counts, against the input files themselves.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pandas as pd
import polars as pl
import pytest
from click.testing import CliRunner
from scipy import stats

from segqtl import api
from segqtl.cli import cli
from segqtl.errors import UsageError
from segqtl.spec import RunSpec

from .conftest import cohort_kwargs

# tensorQTL's columns (docs/outputs.md of broadinstitute/tensorqtl: map_cis, then
# calculate_qvalues' qval and pval_nominal_threshold; map_nominal), less af, ma_samples and
# ma_count, which segqtl has no analogue of.
CIS_COLUMNS = [
    "phenotype_id",
    "num_var",
    "beta_shape1",
    "beta_shape2",
    "true_df",
    "pval_true_df",
    "variant_id",
    "start_distance",
    "end_distance",
    "pval_nominal",
    "slope",
    "slope_se",
    "pval_perm",
    "pval_beta",
    "qval",
    "pval_nominal_threshold",
]
PAIRS_COLUMNS = [
    "phenotype_id",
    "variant_id",
    "start_distance",
    "end_distance",
    "pval_nominal",
    "slope",
    "slope_se",
]
WINDOW = 1_000_000


@pytest.fixture(scope="module")
def tq(tmp_path_factory, small_cohort):
    """Runs of the small cohort: perm (beta, direct), all-variants, best-variant; q-values."""
    db = tmp_path_factory.mktemp("export_tensorqtl") / "wh.duckdb"
    api.ingest(db, "small", **cohort_kwargs(small_cohort))
    base = {"cohort": "small", "chromosomes": ["1", "2"], "window": WINDOW}
    runs = {
        "beta": api.run(db, RunSpec(mode="perm", num_permutations=50, **base)),
        "direct": api.run(
            db, RunSpec(mode="perm", num_permutations=50, perm_method="direct", **base)
        ),
        "all": api.run(db, RunSpec(mode="nominal", all_variants=True, **base)),
        "best": api.run(db, RunSpec(mode="nominal", **base)),
    }
    for method in ("beta", "direct"):
        api.fdr(db, runs[method], 0.05)
    return db, runs


def _inputs(cohort) -> tuple[pl.DataFrame, dict[str, list[int]]]:
    """The quantification rows (gene_id, chr, start, end, file order) and each chromosome's
    variant positions, read from the input files."""
    quant = pl.read_csv(cohort.quantifications, infer_schema=False).select(
        "gene_id",
        pl.col("chr").map_elements(lambda c: c if c.startswith("chr") else f"chr{c}", pl.String),
        pl.col("start").cast(pl.Int64),
        pl.col("end").cast(pl.Int64),
    )
    positions = {}
    for path in Path(cohort.genotypes).glob("chr*_ALTlr.csv"):
        ids = pl.read_csv(path, infer_schema=False)["ID"].to_list()
        positions[path.name.split("_")[0]] = [int(i.split(":")[1]) for i in ids]
    return quant, positions


def _stored(db, sql: str, params: dict) -> pl.DataFrame:
    return api.query(db, sql, params)


# ----------------------------------------------------------------------------- cis_qtl.txt.gz
@pytest.mark.parametrize("method", ["beta", "direct"])
def test_export_tensorqtl__cis_qtl_columns_equal_the_stored_perm_rows(
    tq, tmp_path, small_cohort, method
):
    db, runs = tq
    run_id = runs[method]
    paths = api.export(db, run_id, tmp_path, layout="tensorqtl", prefix="study")
    assert paths == [tmp_path / "study.cis_qtl.txt.gz"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["study.cis_qtl.txt.gz"]  # no temp
    with gzip.open(paths[0], "rt") as fh:
        assert fh.readline().rstrip("\n").split("\t") == CIS_COLUMNS
    # as tensorQTL users read it
    back = pd.read_csv(paths[0], sep="\t", index_col=0)
    assert back.index.name == "phenotype_id" and list(back.columns) == CIS_COLUMNS[1:]
    got = pl.from_pandas(back.reset_index())

    stored = _stored(
        db,
        "SELECT r.phenotype, r.variant, r.nominal_p, r.beta_d, r.se_d, r.t_stat_d, r.p_adj, "
        "r.beta_shape1, r.beta_shape2, q.qvalue, q.pval_nominal_threshold "
        "FROM perm_results AS r LEFT JOIN qvalues AS q USING (run_id, chr, phenotype_idx) "
        "WHERE r.run_id = $run AND r.variant IS NOT NULL",
        {"run": run_id},
    )
    quant, positions = _inputs(small_cohort)
    # one row per phenotype with a lead variant, in the quantification file's order
    order = [g for g in quant["gene_id"] if g in set(stored["phenotype"])]
    assert got["phenotype_id"].to_list() == order
    both = got.join(stored, left_on="phenotype_id", right_on="phenotype").join(
        quant, left_on="phenotype_id", right_on="gene_id"
    )
    assert both.height == got.height == stored.height > 0
    assert (both["variant_id"] == both["variant"]).all()
    exact = {
        "pval_nominal": "nominal_p",
        "pval_true_df": "nominal_p",
        "slope": "beta_d",
        "slope_se": "se_d",
        "qval": "qvalue",
        "pval_nominal_threshold": "pval_nominal_threshold",
    }
    assert both["qval"].null_count() == 0
    if method == "beta":
        exact.update(pval_beta="p_adj", beta_shape1="beta_shape1", beta_shape2="beta_shape2")
        empty = ["pval_perm"]
        assert both["pval_nominal_threshold"].null_count() == 0
    else:
        exact["pval_perm"] = "p_adj"
        empty = ["pval_beta", "beta_shape1", "beta_shape2"]
    for theirs, ours in exact.items():
        assert both[theirs].to_list() == both[ours].to_list(), theirs  # shortest repr: exact
    for col in empty:
        assert both[col].null_count() == both.height, col
    # distances and window counts from the input files (tensorQTL: variant pos - start / end)
    pos = both["variant_id"].map_elements(lambda v: int(v.split(":")[1]), pl.Int64)
    assert (both["start_distance"] == pos - both["start"]).all()
    assert (both["end_distance"] == pos - both["end"]).all()
    num_var = [
        sum(s - WINDOW <= p <= e + WINDOW for p in positions[c])
        for c, s, e in both.select("chr", "start", "end").iter_rows()
    ]
    assert both["num_var"].to_list() == num_var
    # true_df is the df of the lead's t test: it reproduces the stored p-value
    p = 2 * stats.t.sf(np.abs(both["t_stat_d"].to_numpy()), both["true_df"].to_numpy())
    np.testing.assert_allclose(p, both["nominal_p"].to_numpy(), rtol=1e-9)


def test_export_tensorqtl__default_prefix_names_the_run(tq, tmp_path):
    db, runs = tq
    (path,) = api.export(db, runs["beta"], tmp_path, layout="tensorqtl")
    assert path.name == f"run{runs['beta']}.cis_qtl.txt.gz"


# ------------------------------------------------------------------------ cis_qtl_pairs.parquet
def test_export_tensorqtl__pairs_files_hold_every_tested_pair(tq, tmp_path, small_cohort):
    db, runs = tq
    run_id = runs["all"]
    paths = api.export(db, run_id, tmp_path, layout="tensorqtl", prefix="p")
    assert [p.name for p in paths] == [
        "p.cis_qtl_pairs.chr1.parquet",
        "p.cis_qtl_pairs.chr2.parquet",
    ]
    assert sorted(p.name for p in tmp_path.iterdir()) == [p.name for p in paths]
    quant, _ = _inputs(small_cohort)
    n_untested = 0
    for chrom, path in zip(["chr1", "chr2"], paths, strict=True):
        got = pl.read_parquet(path)
        assert got.columns == PAIRS_COLUMNS
        assert got.schema["start_distance"] == pl.Int32 == got.schema["end_distance"]
        assert list(pd.read_parquet(path).columns) == PAIRS_COLUMNS  # pandas, as tensorQTL's
        stored = _stored(
            db,
            "SELECT phenotype, variant, nominal_p, beta_d, se_d, status FROM nominal_results "
            "WHERE run_id = $run AND chr = $chr ORDER BY phenotype_idx, variant_idx",
            {"run": run_id, "chr": chrom},
        )
        n_untested += stored.filter(pl.col("status") != "tested").height
        tested = stored.filter(pl.col("status") == "tested")
        assert got.height == tested.height > 0
        assert got["phenotype_id"].to_list() == tested["phenotype"].to_list()
        assert got["variant_id"].to_list() == tested["variant"].to_list()
        assert got["pval_nominal"].to_list() == tested["nominal_p"].to_list()
        assert got["slope"].to_list() == tested["beta_d"].to_list()
        assert got["slope_se"].to_list() == tested["se_d"].to_list()
        ends = got.join(quant, left_on="phenotype_id", right_on="gene_id", how="left")
        pos = ends["variant_id"].map_elements(lambda v: int(v.split(":")[1]), pl.Int64)
        assert (ends["start_distance"] == pos - ends["start"]).all()
        assert (ends["end_distance"] == pos - ends["end"]).all()
    assert n_untested > 0  # the cohort has skipped pairs, and they were left out


# --------------------------------------------------------------------------------- refusals
def test_export_tensorqtl__best_variant_nominal_run_is_refused_in_one_line(tq, tmp_path):
    db, runs = tq
    with pytest.raises(UsageError, match="best-variant") as info:
        api.export(db, runs["best"], tmp_path / "o", layout="tensorqtl")
    assert "Fix:" in str(info.value) and "\n" not in str(info.value)
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize(
    ("kw", "needle"),
    [
        ({"layout": "tensorqtl", "fmt": "parquet"}, "drop --format"),
        ({"layout": "tensorqtl", "gzip": True}, "drop --format, --gzip"),
        ({"layout": "tensorqtl", "metadata_header": True}, "--metadata-header"),
        ({"layout": "tensorqtl", "prefix": "a/b"}, "not a file name"),
        ({"layout": "tensorqtl", "prefix": ""}, "not a file name"),
        ({"prefix": "study"}, "add --layout tensorqtl"),
        ({"layout": "plink"}, "unknown layout"),
    ],
)
def test_export_tensorqtl__bad_flags_are_one_line_usage_errors(tq, tmp_path, kw, needle):
    db, runs = tq
    with pytest.raises(UsageError, match=needle) as info:
        api.export(db, runs["beta"], tmp_path / "o", **kw)
    assert "Fix:" in str(info.value) and "\n" not in str(info.value)
    assert not (tmp_path / "o").exists()


def test_export_tensorqtl__cli_prints_the_paths_and_refuses_in_one_line(tq, tmp_path):
    db, runs = tq
    out = tmp_path / "o"
    args = ["export", "--db", str(db), "--out-dir", str(out), "--layout", "tensorqtl"]
    res = CliRunner().invoke(cli, [*args, "--run", str(runs["beta"]), "--prefix", "s"])
    assert res.exit_code == 0, res.output
    assert res.stdout.splitlines() == [str(out / "s.cis_qtl.txt.gz")]
    res = CliRunner().invoke(cli, [*args, "--run", str(runs["best"])])
    assert res.exit_code != 0
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "best-variant" in lines[0] and "Fix:" in lines[0]


def test_export_tensorqtl__segmentqtl_layout_is_the_default_export(tq, tmp_path):
    db, runs = tq
    default = api.export(db, runs["all"], tmp_path / "a")
    named = api.export(db, runs["all"], tmp_path / "b", layout="segmentqtl")
    assert [p.name for p in default] == [p.name for p in named]
    for a, b in zip(default, named, strict=True):
        assert a.read_bytes() == b.read_bytes()
