"""``segqtl plot``: each kind draws exactly the warehouse's rows (tested on the data, not pixels).

One small simulated warehouse holds a run of every mode and a comparison; each test reads the
rows a plot should draw with its own SQL over the public views and compares them with what
the figure holds (scatter offsets, line data, bar heights).  The error paths are one line.
"""

from __future__ import annotations

import sys
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from segqtl import api
from segqtl.cli import main
from segqtl.plots import figures
from segqtl.simulate import simulate_cohort
from segqtl.spec import RunSpec
from segqtl.warehouse.db import connect

CHROMS = ["1", "2"]


@dataclass(frozen=True)
class PlotWarehouse:
    """A warehouse with a run of every mode (ids in ``runs``) and one stored comparison."""

    db: Path
    runs: dict[str, int]
    comparison_id: int
    truth: Path


_BUILT: dict[str, PlotWarehouse] = {}


def build_plot_warehouse(tmp_path_factory) -> PlotWarehouse:
    """Build (once per session, shared with tests/test_report.py) the plot warehouse."""
    if "wh" in _BUILT:
        return _BUILT["wh"]
    out = tmp_path_factory.mktemp("plot_warehouse")
    cohort = simulate_cohort(
        out / "cohort",
        seed=31,
        n_samples=90,
        chromosomes=tuple(CHROMS),
        n_phenotypes=12,
        n_variants=90,
        chromosome_length=6_000_000,
        missing_rate=0.02,
        n_validation_samples=70,
    )
    db = out / "wh.duckdb"

    def inputs(c):
        return {
            "genotypes": c.genotypes,
            "quantifications": c.quantifications,
            "covariates": c.covariates,
            "copynumber": c.copynumber,
            "segmentation": c.segmentation,
        }

    api.ingest(db, "disc", **inputs(cohort))
    api.ingest(db, "val", **inputs(cohort.validation))
    specs = {
        "all": RunSpec(
            mode="nominal", cohort="disc", chromosomes=CHROMS, all_variants=True, name="all"
        ),
        "best": RunSpec(mode="nominal", cohort="disc", chromosomes=CHROMS, name="best"),
        "perm": RunSpec(
            mode="perm", cohort="disc", chromosomes=CHROMS, num_permutations=200, name="perm"
        ),
        "finemap": RunSpec(
            mode="finemap", cohort="disc", chromosomes=["1"], n_bootstrap=40, name="finemap"
        ),
    }
    runs = {key: api.run(db, spec) for key, spec in specs.items()}
    runs["validate"] = api.run(
        db,
        RunSpec(
            mode="validate",
            cohort="disc",
            validation_cohort="val",
            finemap_run=runs["finemap"],
            chromosomes=["1"],
            name="validate",
        ),
    )
    runs["perm_val"] = api.run(
        db,
        RunSpec(mode="perm", cohort="val", chromosomes=CHROMS, num_permutations=200, name="rep"),
    )
    comparison = api.compare(db, runs["perm"], runs["perm_val"])
    _BUILT["wh"] = PlotWarehouse(db, runs, comparison.comparison_id, cohort.truth)
    return _BUILT["wh"]


@pytest.fixture(scope="module")
def wh(tmp_path_factory) -> PlotWarehouse:
    return build_plot_warehouse(tmp_path_factory)


def rows(wh: PlotWarehouse, sql: str, params=None) -> list[tuple]:
    with closing(connect(wh.db, read_only=True)) as con:
        return con.execute(sql, params or []).fetchall()


def offsets(ax, i: int = 0) -> np.ndarray:
    return np.asarray(ax.collections[i].get_offsets(), dtype=float)


def neglog10(p) -> np.ndarray:
    return -np.log10(np.asarray(p, dtype=float))


# ---------------------------------------------------------------------------------------- qq
def test_qq__points_are_the_perm_runs_adjusted_pvalues(wh):
    p = [r[0] for r in rows(wh, "SELECT p_adj FROM perm_results WHERE run_id = ? "
                            "AND p_adj IS NOT NULL ORDER BY p_adj", [wh.runs["perm"]])]  # fmt: skip
    fig = api.plot_figure(wh.db, "qq", wh.runs["perm"])
    ax = fig.axes[0]
    xy = offsets(ax)
    n = len(p)
    assert n == 24  # 2 chromosomes x 12 phenotypes
    np.testing.assert_allclose(xy[:, 1], neglog10(p))
    # the i-th smallest of n uniform p-values is expected at (i - 0.5) / n
    np.testing.assert_allclose(xy[:, 0], neglog10((np.arange(1, n + 1) - 0.5) / n))
    # lambda_GC: median chi2(1) statistic over its null median, in the legend
    lam = np.median(stats.chi2.isf(p, 1)) / stats.chi2.ppf(0.5, 1)
    assert f"λ_GC = {lam:.3f}" in ax.collections[0].get_label()
    diagonal = ax.lines[0]
    assert list(diagonal.get_xdata()) == list(diagonal.get_ydata())


def test_qq__nominal_all_variants_draws_every_tested_pair(wh):
    n_tested = rows(
        wh,
        "SELECT count(*) FROM nominal_results WHERE run_id = ? AND status = 'tested'",
        [wh.runs["all"]],
    )[0][0]
    fig = api.plot_figure(wh.db, "qq", wh.runs["all"])
    assert n_tested > 24 * 5  # many pairs per phenotype
    assert len(offsets(fig.axes[0])) == n_tested


def test_qq_band__matches_the_simulated_uniform_order_statistics():
    rng = np.random.default_rng(3)
    n = 40
    sims = -np.log10(np.sort(rng.random((4000, n)), axis=1))
    index = np.arange(n)
    low, high = figures.qq_band(n, index)
    # empirical 2.5% / 97.5% quantiles of each order statistic, within Monte Carlo error
    np.testing.assert_allclose(low, np.quantile(sims, 0.025, axis=0), rtol=0.08, atol=0.02)
    np.testing.assert_allclose(high, np.quantile(sims, 0.975, axis=0), rtol=0.08, atol=0.02)


def test_qq_points__thins_large_inputs_keeping_the_smallest_pvalues():
    n, cap = 50_000, 2_000
    index, expected = figures.qq_points(np.sort(np.random.default_rng(1).random(n)), cap)
    assert len(index) <= cap
    assert list(index[: cap // 2]) == list(range(cap // 2))  # the tail, every point
    assert index[-1] == n - 1 and np.all(np.diff(index) > 0)
    np.testing.assert_allclose(expected, -np.log10((index + 0.5) / n))


# ----------------------------------------------------------------------------------- pvalues
def test_pvalues__bars_are_the_histogram_and_the_line_is_the_runs_pi0(wh):
    run = wh.runs["perm"]
    p = [r[0] for r in rows(wh, "SELECT p_adj FROM perm_results WHERE run_id = ? "
                            "AND p_adj IS NOT NULL", [run])]  # fmt: skip
    pi0 = rows(wh, "SELECT pi0 FROM run_fdr WHERE run_id = ?", [run])[0][0]
    ax = api.plot_figure(wh.db, "pvalues", run).axes[0]
    heights = [bar.get_height() for bar in ax.patches]
    expected, _ = np.histogram(p, bins=20, range=(0.0, 1.0), density=True)
    np.testing.assert_allclose(heights, expected)
    assert list(ax.lines[0].get_ydata()) == [pi0, pi0]


# --------------------------------------------------------------------------------- manhattan
def test_manhattan__points_are_gene_level_p_and_rings_the_qvalue_hits(wh):
    run = wh.runs["perm"]
    genes = rows(
        wh,
        "SELECT r.chr, r.phenotype_start, r.p_adj, q.is_hit FROM perm_results AS r "
        "JOIN qvalues AS q USING (run_id, chr, phenotype_idx) WHERE r.run_id = ? "
        "ORDER BY r.chr, r.phenotype_start",
        [run],
    )
    ax = api.plot_figure(wh.db, "manhattan", run).axes[0]
    xy = offsets(ax)
    assert len(xy) == len(genes) == 24
    # chromosomes in order along x, genes by start within each: the rows' order
    assert np.all(np.diff(xy[:, 0]) > 0)
    np.testing.assert_allclose(xy[:, 1], neglog10([g[2] for g in genes]))
    hits = [g for g in genes if g[3]]
    assert hits  # the planted effects give eGenes
    ringed = offsets(ax, 1)
    np.testing.assert_allclose(sorted(ringed[:, 1]), sorted(neglog10([g[2] for g in hits])))
    # chr2's genes are shifted past chr1's: its first gene lies right of chr1's last end
    n1 = sum(g[0] == "chr1" for g in genes)
    last_end = rows(wh, "SELECT max(phenotype_end) FROM perm_results WHERE run_id = ? "
                    "AND chr = 'chr1'", [run])[0][0]  # fmt: skip
    assert xy[n1, 0] > last_end


# ------------------------------------------------------------------------------------- locus
def test_locus__panels_show_pvalues_sample_counts_lead_span_and_finemap(wh):
    run, fm = wh.runs["all"], wh.runs["finemap"]
    gene = rows(
        wh,
        "SELECT phenotype FROM nominal_results WHERE run_id = ? AND chr = 'chr1' "
        "AND status = 'tested' ORDER BY nominal_p LIMIT 1",
        [run],
    )[0][0]
    variants = rows(
        wh,
        "SELECT variant, pos, nominal_p, number_of_samples, phenotype_start, phenotype_end "
        "FROM nominal_results WHERE run_id = ? AND phenotype = ? ORDER BY pos",
        [run, gene],
    )
    fig = api.plot_figure(wh.db, "locus", run, phenotype=gene)
    top, bottom = fig.axes[0], fig.axes[1]
    tested = [v for v in variants if v[2] is not None]
    np.testing.assert_allclose(offsets(top, 0)[:, 0], [v[1] for v in tested])
    np.testing.assert_allclose(offsets(top, 0)[:, 1], neglog10([v[2] for v in tested]))
    lead = min(tested, key=lambda v: v[2])
    np.testing.assert_allclose(offsets(top, 1), [[lead[1], neglog10(lead[2])]])
    # finemap run of the same cohort found by itself: its variants at or above the threshold
    threshold = float(rows(wh, "SELECT value FROM run_parameters WHERE run_id = ? "
                           "AND key = 'r2_stability_threshold'", [fm])[0][0])  # fmt: skip
    selected = {
        r[0]
        for r in rows(
            wh,
            "SELECT variant FROM finemap_results WHERE run_id = ? AND phenotype = ? "
            "AND stability_score >= ?",
            [fm, gene, threshold],
        )
    }
    assert selected, "the strongest chr1 association has a stable fine-mapped variant"
    marked = {tuple(xy) for xy in offsets(top, 2)}
    assert marked == {(v[1], float(neglog10(v[2]))) for v in tested if v[0] in selected}
    # the phenotype's span, shaded
    span = top.patches[0]
    assert (span.get_x(), span.get_x() + span.get_width()) == (variants[0][4], variants[0][5])
    # bottom panel: tested sample count of every variant
    np.testing.assert_allclose(offsets(bottom), [[v[1], v[3]] for v in variants])


def test_locus__explicit_finemap_run_marks_the_same_variants(wh):
    gene = rows(wh, "SELECT phenotype FROM finemap_results WHERE run_id = ? "
                "AND stability_score >= 0.6 LIMIT 1", [wh.runs["finemap"]])[0][0]  # fmt: skip
    auto = api.plot_figure(wh.db, "locus", wh.runs["all"], phenotype=gene)
    given = api.plot_figure(
        wh.db, "locus", wh.runs["all"], phenotype=gene, finemap_run=wh.runs["finemap"]
    )
    np.testing.assert_array_equal(offsets(auto.axes[0], 2), offsets(given.axes[0], 2))


# --------------------------------------------------------------------------------- stability
def test_stability__points_are_finemap_rows_and_the_line_is_the_threshold(wh):
    run = wh.runs["finemap"]
    data = rows(
        wh,
        "SELECT phenotype, beta_full, stability_score FROM finemap_results WHERE run_id = ? "
        "AND status = 'tested' AND variant IS NOT NULL ORDER BY chr, phenotype, pos",
        [run],
    )
    fig = api.plot_figure(wh.db, "stability", run)
    left, right = fig.axes[0], fig.axes[1]
    np.testing.assert_allclose(offsets(left), [[r[1], r[2]] for r in data])
    assert list(left.lines[0].get_ydata()) == [0.6, 0.6]
    # right: phenotypes counted by number of variants at or above the threshold
    per_gene: dict[str, int] = {}
    for gene, _, score in data:
        per_gene[gene] = per_gene.get(gene, 0) + (score >= 0.6)
    counts = {k: list(per_gene.values()).count(k) for k in set(per_gene.values())}
    assert {round(b.get_x() + b.get_width() / 2): b.get_height() for b in right.patches} == counts


def test_stability__one_phenotype_along_its_locus(wh):
    run = wh.runs["finemap"]
    gene = rows(
        wh,
        "SELECT phenotype FROM finemap_results WHERE run_id = ? AND status = 'tested' "
        "ORDER BY stability_score DESC, phenotype LIMIT 1",
        [run],
    )[0][0]
    data = rows(wh, "SELECT pos, stability_score FROM finemap_results WHERE run_id = ? "
                "AND phenotype = ? AND variant IS NOT NULL ORDER BY pos", [run, gene])  # fmt: skip
    fig = api.plot_figure(wh.db, "stability", run, phenotype=gene)
    np.testing.assert_allclose(offsets(fig.axes[1]), data)


# ------------------------------------------------------------------------------- calibration
def test_calibration__points_are_validate_rows_and_the_best_phenotypes_samples(wh):
    run = wh.runs["validate"]
    per = rows(
        wh,
        "SELECT phenotype, calibration_slope, r2_descriptive FROM validate_results "
        "WHERE run_id = ? AND status = 'tested' AND r2_descriptive IS NOT NULL "
        "AND calibration_slope IS NOT NULL ORDER BY r2_descriptive DESC, phenotype",
        [run],
    )
    assert per
    fig = api.plot_figure(wh.db, "calibration", run)
    left, right = fig.axes[0], fig.axes[1]
    np.testing.assert_allclose(offsets(left), [[r[1], r[2]] for r in per])
    best = per[0][0]
    samples = rows(
        wh,
        "SELECT y_hat, y FROM validate_residuals WHERE run_id = ? AND phenotype = ? "
        "AND y IS NOT NULL AND y_hat IS NOT NULL ORDER BY sample_idx",
        [run, best],
    )
    np.testing.assert_allclose(offsets(right), samples)
    # the calibration line has the stored slope
    x, y = right.lines[0].get_xdata(), right.lines[0].get_ydata()
    assert (y[1] - y[0]) / (x[1] - x[0]) == pytest.approx(per[0][1])
    assert best in right.get_title()


# ----------------------------------------------------------------------------------- compare
def test_compare__points_are_the_comparison_pairs_coloured_by_hit_change(wh):
    pairs = rows(
        wh,
        "SELECT hit_change, effect_a, effect_b, p_a, p_b FROM comparison_results "
        "WHERE comparison_id = ? AND presence = 'both' ORDER BY phenotype",
        [wh.comparison_id],
    )
    fig = api.plot_figure(wh.db, "compare", wh.runs["perm"], run_b=wh.runs["perm_val"])
    left, right = fig.axes[0], fig.axes[1]
    drawn = [c for c in ("kept", "gained", "lost", "none") if any(p[0] == c for p in pairs)]
    assert [c.get_label().split()[0] for c in left.collections] == drawn
    for i, change in enumerate(drawn):
        part = [p for p in pairs if p[0] == change]
        np.testing.assert_allclose(offsets(left, i), [[p[1], p[2]] for p in part])
        np.testing.assert_allclose(offsets(right, i), neglog10([[p[3], p[4]] for p in part]))


# ------------------------------------------------------------------------------ command line
def run_cli(capsys, *args) -> tuple[int, str, str]:
    try:
        main(["plot", *map(str, args)])
        code = 0
    except SystemExit as exc:
        code = exc.code or 0
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("suffix", [".png", ".svg", ".pdf"])
def test_plot_cli__writes_the_file_and_prints_its_path(wh, tmp_path, capsys, suffix):
    out = tmp_path / f"qq{suffix}"
    code, stdout, err = run_cli(capsys, "qq", "--db", wh.db, "--run", wh.runs["perm"], "--out", out)
    assert (code, stdout, err) == (0, f"{out}\n", "")
    magic = {".png": b"\x89PNG", ".svg": b"<?xml", ".pdf": b"%PDF"}[suffix]
    assert out.read_bytes().startswith(magic)
    assert sorted(p.name for p in tmp_path.iterdir()) == [out.name]  # no temporary left


def test_plot_cli__a_failed_write_leaves_no_file(wh, tmp_path, capsys, monkeypatch):
    from matplotlib.figure import Figure

    def broken(self, fname, **kwargs):
        Path(fname).write_bytes(b"half")
        raise OSError("disk full")

    monkeypatch.setattr(Figure, "savefig", broken)
    code, _, err = run_cli(
        capsys, "qq", "--db", wh.db, "--run", wh.runs["perm"], "--out", tmp_path / "qq.png"
    )
    assert code != 0 and "disk full" in err and len(err.splitlines()) == 1
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["stability", "--run", "perm"], "plot stability needs a finemap run; run "),
        (["calibration", "--run", "all"], "plot calibration needs a validate run"),
        (["qq", "--run", "finemap"], "plot qq needs a nominal or perm run"),
        (["locus", "--run", "all"], "plot locus needs a phenotype. Fix: add --phenotype"),
        (["locus", "--run", "best", "--phenotype", "G1_000"], "Fix: plot a nominal run made "),
        (["locus", "--run", "all", "--phenotype", "NOPE"], "--phenotype NOPE: run "),
        (["stability", "--run", "finemap", "--phenotype", "NOPE"], "--phenotype NOPE: run "),
        (["calibration", "--run", "validate", "--phenotype", "NOPE"], "--phenotype NOPE: run "),
        (["compare", "--run", "perm"], "plot compare needs two runs. Fix: add --run-b"),
        (["compare", "--run", "perm", "--run-b", "best"], "have not been compared. Fix: run "),
        (["qq", "--run", "perm", "--run-b", "all"], "--run-b is for plot compare only"),
        (["qq", "--run", "perm", "--phenotype", "G1_000"], "--phenotype does not apply"),
        (["locus", "--run", "all", "--phenotype", "G1_000", "--finemap-run", "perm"],
         "is not a finemap run. Fix:"),
        (["qq", "--run", "999"], "run 999 does not exist. Fix: list the runs"),
        (["qq", "--run", "perm", "--out", "x.jpg"], "--out x.jpg: unknown file type '.jpg'"),
        (["qq", "--run", "perm", "--out", "nowhere/x.png"], "folder nowhere does not exist"),
        (["qq", "--run", "perm", "--out", "."], "--out: File '.' is a directory. Fix:"),
        (["histogram", "--run", "perm"], "invalid value for"),
    ],
)  # fmt: skip
def test_plot_cli__mistakes_are_one_line_with_the_fix(
    wh, tmp_path, capsys, monkeypatch, args, message
):
    args = [str(wh.runs.get(a, a)) if i and args[i - 1].startswith("--run") else a
            for i, a in enumerate(args)]  # fmt: skip
    args = [str(wh.runs.get(a, a)) if i and args[i - 1] == "--finemap-run" else a
            for i, a in enumerate(args)]  # fmt: skip
    if "--out" not in args:
        args += ["--out", str(tmp_path / "plot.png")]
    monkeypatch.chdir(tmp_path)
    code, out, err = run_cli(capsys, *args[:1], "--db", wh.db, *args[1:])
    assert code == 2, err
    assert out == ""
    assert len(err.splitlines()) == 1 and err.startswith("segqtl: error: "), err
    assert message in err
    assert "Fix:" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # nothing written


def test_plot_cli__without_matplotlib_is_one_line_naming_the_package(
    wh, tmp_path, capsys, monkeypatch
):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import fails
    out = tmp_path / "qq.png"
    code, stdout, err = run_cli(capsys, "qq", "--db", wh.db, "--run", wh.runs["perm"], "--out", out)
    assert (code, stdout) == (2, "")
    assert err == (
        "segqtl: error: plots need matplotlib, which is not installed. Fix: pip install "
        "matplotlib (or reinstall segqtl, which depends on it)\n"
    )
    assert not out.exists()
