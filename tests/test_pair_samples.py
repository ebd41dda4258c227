"""The pair_samples view: per tested pair, the samples dropped by each reason.

The cohort is a simulated one with holes punched into every input (phenotype values, sample
covariates, the phenotype covariate, copy number, segments); the expected counts are computed
here with numpy straight from the input CSVs, not from the warehouse.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from segqtl import api
from segqtl.simulate import simulate_cohort
from segqtl.spec import RunSpec
from segqtl.warehouse.db import connect

from .conftest import cohort_kwargs

N_SAMPLES = 80
NO_PCOV_GENE = "G1_003"  # every cell of its phenotype covariate row is emptied


def _blank(path: Path, rng: np.random.Generator, rate: float, *, first_value_col: int) -> None:
    """Empty a random share ``rate`` of the value cells of a CSV file (header kept)."""
    with open(path, newline="") as fh:
        rows = list(csv.reader(fh))
    for row in rows[1:]:
        for j in range(first_value_col, len(row)):
            if rng.random() < rate:
                row[j] = ""
    with open(path, "w", newline="") as fh:
        csv.writer(fh, lineterminator="\n").writerows(rows)


@pytest.fixture(scope="module")
def holes(tmp_path_factory):
    """A cohort with missing values in every input, and runs of each kind over it."""
    out = tmp_path_factory.mktemp("pair_samples")
    cohort = simulate_cohort(
        out / "in",
        seed=11,
        n_samples=N_SAMPLES,
        chromosomes=("1", "2"),
        n_phenotypes=10,
        n_variants=60,
        chromosome_length=5_000_000,
        missing_rate=0.04,
        phenotype_covariate=True,
    )
    rng = np.random.default_rng(3)
    _blank(cohort.quantifications, rng, 0.05, first_value_col=4)
    _blank(cohort.phenotype_covariate, rng, 0.03, first_value_col=1)
    _blank(cohort.copynumber, rng, 0.03, first_value_col=1)
    # covariates: line 1 is the sample IDs; blank two cells of the later lines
    lines = Path(cohort.covariates).read_text().splitlines()
    for k, j in ((1, 5), (2, 17)):
        cells = lines[k].split(",")
        cells[j] = ""
        lines[k] = ",".join(cells)
    Path(cohort.covariates).write_text("\n".join(lines) + "\n")
    # phenotype covariate: empty one gene's whole row
    pc_lines = Path(cohort.phenotype_covariate).read_text().splitlines()
    pc_lines = [
        f"{NO_PCOV_GENE}," + "," * (N_SAMPLES - 1) if x.startswith(f"{NO_PCOV_GENE},") else x
        for x in pc_lines
    ]
    Path(cohort.phenotype_covariate).write_text("\n".join(pc_lines) + "\n")
    # segments: drop every 7th segment (gaps: samples without a segment at some genes)
    seg_lines = Path(cohort.segmentation).read_text().splitlines()
    kept = [seg_lines[0]] + [x for i, x in enumerate(seg_lines[1:]) if i % 7 != 3]
    Path(cohort.segmentation).write_text("\n".join(kept) + "\n")

    db = out / "wh.duckdb"
    api.ingest(db, "holes", **cohort_kwargs(cohort))
    base = {"cohort": "holes", "chromosomes": ["1", "2"]}
    runs = {
        "all": api.run(db, RunSpec(mode="nominal", all_variants=True, **base)),
        "best": api.run(db, RunSpec(mode="nominal", **base)),
        "perm": api.run(db, RunSpec(mode="perm", num_permutations=20, **base)),
        "gene": api.run(
            db, RunSpec(mode="nominal", cohort="holes", chromosomes=["2"], all_variants="G2_004")
        ),
        "neg": api.run(  # chr1's phenotypes against chr2's variants
            db,
            RunSpec(
                mode="nominal",
                cohort="holes",
                chromosomes=["1"],
                all_variants=True,
                neg_control=True,
            ),
        ),
    }
    con = connect(db, read_only=True)
    yield cohort, con, runs
    con.close()


# ------------------------------------------------------------------------- direct computation
def _read_table(path: Path, key: str) -> tuple[list[str], dict[str, np.ndarray], list[str]]:
    """A CSV with a key column and one column per sample: (samples, key -> values, other keys)."""
    frame = pl.read_csv(path, infer_schema=False)
    samples = [c for c in frame.columns if c.startswith("S")]
    values = frame.select(samples).with_columns(pl.all().cast(pl.Float64)).to_numpy()
    return samples, dict(zip(frame[key].to_list(), values, strict=True)), frame


def _inputs(cohort) -> dict:
    samples, y, quant = _read_table(cohort.quantifications, "gene_id")
    genes = {
        g: (c if c.startswith("chr") else f"chr{c}", int(s), int(e))
        for g, c, s, e in zip(
            quant["gene_id"], quant["chr"], quant["start"], quant["end"], strict=True
        )
    }
    _, pcov, _ = _read_table(cohort.phenotype_covariate, "gene_id")
    _, cn, _ = _read_table(cohort.copynumber, "gene_id")
    cov_lines = Path(cohort.covariates).read_text().splitlines()
    cov_samples = cov_lines[0].split(",")
    cov = np.array(
        [[float(v) if v else np.nan for v in line.split(",")[1:]] for line in cov_lines[1:]]
    )
    cov = cov[:, [cov_samples.index(s) for s in samples]]
    segs = pl.read_csv(cohort.segmentation)
    geno = {}
    for path in sorted(Path(cohort.genotypes).glob("chr*_ALTlr.csv")):
        _, alt, _ = _read_table(path, "ID")
        _, ref, _ = _read_table(path.with_name(path.name.replace("ALTlr", "REFlr")), "ID")
        geno.update({v: (alt[v], ref[v]) for v in alt})
    return {
        "samples": samples,
        "y": y,
        "genes": genes,
        "pcov": pcov,
        "cn": cn,
        "cov_missing": np.isnan(cov).any(axis=0),
        "n_covariates": cov.shape[0],
        "segs": segs,
        "geno": geno,
    }


def _expected(inp: dict, gene: str, variant: str, *, perm: bool, neg: bool) -> dict:
    """The drop counts of one pair, from the inputs, by the documented order of reasons."""
    n = len(inp["samples"])
    chrom, start, end = inp["genes"][gene]
    pos = int(variant.split(":")[1])
    y = inp["y"][gene]
    pcov = inp["pcov"][gene]  # the cohort has a phenotype covariate: every fit uses it
    cn = inp["cn"][gene]
    alt, ref = inp["geno"][variant]
    reason = np.zeros(n, dtype=int)
    for i, sample in enumerate(inp["samples"]):
        if np.isnan(y[i]):
            reason[i] = 1
        elif inp["cov_missing"][i] or np.isnan(pcov[i]) or (perm and np.isnan(cn[i])):
            reason[i] = 2
        elif not neg and not _segment_ok(inp["segs"], sample, chrom, start, end, pos):
            reason[i] = 3
        elif np.isnan(alt[i]) or np.isnan(ref[i]):
            reason[i] = 4
    return {
        "n_samples_total": n,
        "n_missing_phenotype": int((reason == 1).sum()),
        "n_missing_covariate": int((reason == 2).sum()),
        "n_segment_rule": int((reason == 3).sum()),
        "n_missing_genotype": int((reason == 4).sum()),
        "n_usable": int((reason == 0).sum()),
        # intercept, s, d, the sample covariates and the phenotype covariate
        "n_model_columns": 3 + inp["n_covariates"] + 1,
    }


def _segment_ok(segs: pl.DataFrame, sample: str, chrom: str, start: int, end: int, pos: int):
    mine = segs.filter(
        (pl.col("sample") == sample)
        & (pl.col("chr") == chrom)
        & (pl.col("startpos") <= start)
        & (pl.col("endpos") >= start)
    )
    if mine.height != 1:
        return False
    lb, ub = mine["startpos"][0], mine["endpos"][0]
    return lb <= end <= ub and lb <= pos <= ub


def _frame(con, sql: str, params: list) -> pl.DataFrame:
    return con.sql(sql, params=params).pl()


def _view(con, run_id: int) -> pl.DataFrame:
    return _frame(
        con,
        "SELECT * FROM pair_samples WHERE run_id = ? ORDER BY chr, phenotype_idx, variant_idx",
        [run_id],
    )


COUNTS = [
    "n_samples_total",
    "n_missing_phenotype",
    "n_missing_covariate",
    "n_segment_rule",
    "n_missing_genotype",
    "n_usable",
    "n_model_columns",
]


# ------------------------------------------------------------------------------------- tests
@pytest.mark.parametrize("kind", ["all", "best", "perm", "gene", "neg"])
def test_pair_samples__counts_equal_a_direct_computation_from_the_input_files(holes, kind):
    cohort, con, runs = holes
    inp = _inputs(cohort)
    view = _view(con, runs[kind])
    stored = con.execute(
        "SELECT count(*) FROM nominal_stats WHERE run_id = ? AND variant_idx IS NOT NULL",
        [runs[kind]],
    ).fetchall()[0][0]
    assert view.height == stored > 0
    for row in view.iter_rows(named=True):
        want = _expected(
            inp, row["phenotype"], row["variant"], perm=kind == "perm", neg=kind == "neg"
        )
        got = {k: row[k] for k in COUNTS}
        assert got == want, (row["phenotype"], row["variant"])


@pytest.mark.parametrize("kind", ["all", "best", "perm", "gene", "neg"])
def test_pair_samples__drops_add_up_to_the_stored_number_of_samples(holes, kind):
    _, con, runs = holes
    view = _view(con, runs[kind])
    drops = (
        view["n_missing_phenotype"]
        + view["n_missing_covariate"]
        + view["n_segment_rule"]
        + view["n_missing_genotype"]
    )
    assert (view["n_samples_total"] - drops == view["n_usable"]).all()
    tested = view.filter(pl.col("status") == "tested")
    assert tested.height > 0
    assert (tested["n_usable"] == tested["number_of_samples"]).all()
    skipped = view.filter(pl.col("status") == "too_few_samples")
    assert (skipped["number_of_samples"] == 0).all()
    assert (skipped["n_usable"] < 30).all()


def test_pair_samples__every_reason_occurs_in_the_holed_cohort(holes):
    _, con, runs = holes
    totals = _view(con, runs["all"]).select(COUNTS[1:5]).sum().row(0, named=True)
    assert all(v > 0 for v in totals.values()), totals
    perm_cov = _view(con, runs["perm"])["n_missing_covariate"].sum()
    all_cov = _view(con, runs["all"])["n_missing_covariate"].sum()
    assert perm_cov > 0 and all_cov > 0


def test_pair_samples__empty_phenotype_covariate_drops_every_sample(holes):
    """A gene whose phenotype covariate is empty everywhere keeps its pairs in an all-variants
    run, each with every phenotype-observed sample dropped under the covariate reason."""
    _, con, runs = holes
    gene = _view(con, runs["all"]).filter(pl.col("phenotype") == NO_PCOV_GENE)
    assert gene.height > 0
    assert (gene["n_usable"] == 0).all() and (gene["status"] == "too_few_samples").all()
    assert (gene["n_missing_phenotype"] + gene["n_missing_covariate"] == N_SAMPLES).all()


def test_pair_samples__degrees_of_freedom_reproduce_the_stored_p_values(holes):
    """number_of_samples - n_model_columns is the df of the stored t test."""
    from scipy import stats

    _, con, runs = holes
    rows = _frame(
        con,
        "SELECT s.number_of_samples - s.n_model_columns AS df, r.t_stat_d, r.nominal_p "
        "FROM pair_samples AS s JOIN nominal_results AS r USING (run_id, chr, phenotype_idx, "
        "variant_idx) WHERE s.run_id IN (?, ?) AND s.status = 'tested'",
        [runs["all"], runs["perm"]],
    )
    assert rows.height > 0
    p = 2 * stats.t.sf(np.abs(rows["t_stat_d"].to_numpy()), rows["df"].to_numpy())
    np.testing.assert_allclose(p, rows["nominal_p"].to_numpy(), rtol=1e-9)
