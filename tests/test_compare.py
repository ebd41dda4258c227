"""segqtl compare: matching two runs, the stored comparison tables and the printed text.

Every expectation is derived independently of the comparison code, from the result views and
from what differs by construction between the two runs (a wider window, fewer chromosomes, a
lower stability threshold, a cohort missing one phenotype and one variant).
"""

from __future__ import annotations

import math
import shutil
from contextlib import closing
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from click.testing import CliRunner

from segqtl import api
from segqtl.cli import cli
from segqtl.errors import UsageError
from segqtl.simulate import simulate_cohort
from segqtl.spec import RunSpec
from segqtl.warehouse import runs as _runs
from segqtl.warehouse.compare import compare_runs, format_comparison
from segqtl.warehouse.db import connect

from .conftest import cohort_kwargs

CHROMS = ["1", "2"]
FINEMAP_FAST = {"n_bootstrap": 20, "n_lambda": 10}  # small, the comparison does not care


def _drop_first_data_row(path: Path, keep=lambda line: True) -> str:
    """Remove the first data line (after the header) for which ``keep`` is False; return it."""
    lines = path.read_text().splitlines(keepends=True)
    for i in range(1, len(lines)):
        if not keep(lines[i]):
            path.write_text("".join(lines[:i] + lines[i + 1 :]))
            return lines[i]
    raise AssertionError(f"{path}: no line to drop")


def _trimmed_copy(cohort, out: Path) -> tuple[dict, str, str]:
    """The cohort's files without its first chr1 phenotype and its first chr1 variant.

    Every later chr1 phenotype and variant moves up one row, so matching on phenotype_idx or
    variant_idx instead of names would pair the wrong results.  Returns the inputs, the dropped
    gene_id and the dropped variant ID.
    """
    shutil.copytree(cohort.out_dir, out)
    quant = out / Path(cohort.quantifications).name
    gene_line = _drop_first_data_row(quant, keep=lambda line: not line.startswith("chr1,"))
    gene = gene_line.split(",")[3]
    geno = out / Path(cohort.genotypes).name
    variant = _drop_first_data_row(geno / "chr1_ALTlr.csv", keep=lambda line: False).split(",")[0]
    assert _drop_first_data_row(geno / "chr1_REFlr.csv", keep=lambda line: False).startswith(
        variant + ","
    )
    inputs = {
        k: out / Path(v).relative_to(cohort.out_dir) for k, v in cohort_kwargs(cohort).items()
    }
    return inputs, gene, variant


@pytest.fixture(scope="module")
def wh(tmp_path_factory):
    """One warehouse with the runs every test compares (about 5 s on 2 cores).

    Returns the database path and a dict of run ids by role.
    """
    tmp = tmp_path_factory.mktemp("compare")
    cohort = simulate_cohort(
        tmp / "cohort",
        seed=11,
        n_samples=60,
        chromosomes=tuple(CHROMS),
        n_phenotypes=12,
        n_variants=80,
        chromosome_length=6_000_000,
        missing_rate=0.03,
        phenotype_covariate=True,
        n_validation_samples=50,
    )
    db = tmp / "wh.duckdb"
    api.ingest(db, "main", **cohort_kwargs(cohort))
    api.ingest(db, "val", **cohort_kwargs(cohort.validation))
    trimmed, gene, variant = _trimmed_copy(cohort, tmp / "trimmed")
    api.ingest(db, "trimmed", **trimmed)

    def run(**kw):
        kw.setdefault("cohort", "main")
        kw.setdefault("chromosomes", CHROMS)
        return api.run(db, RunSpec(**kw), progress=False)

    ids = {
        "all_500k": run(mode="nominal", all_variants=True, window=500_000),
        "all_1m": run(mode="nominal", all_variants=True, window=1_000_000),
        "trimmed_1m": run(mode="nominal", all_variants=True, window=1_000_000, cohort="trimmed"),
        "val_all_1m": run(mode="nominal", all_variants=True, cohort="val"),
        "best_1m": run(mode="nominal"),
        "best_500k": run(mode="nominal", window=500_000),
        "perm": run(mode="perm", num_permutations=100),
        "perm_chr1": run(mode="perm", num_permutations=100, seed=99, chromosomes=["1"]),
        "fm_06": run(mode="finemap", chromosomes=["1"], **FINEMAP_FAST),
        "fm_03": run(mode="finemap", chromosomes=["1"], r2_stability_threshold=0.3, **FINEMAP_FAST),
    }
    for name, vmode in (("val_recal", "recalibrated"), ("val_frozen", "frozen")):
        ids[name] = run(
            mode="validate",
            chromosomes=["1"],
            validation_cohort="val",
            finemap_run=ids["fm_06"],
            validation_mode=vmode,
            **FINEMAP_FAST,
        )
    with closing(connect(db)) as con:  # recorded, never executed: stays 'running'
        ids["running"] = _runs.create_run(
            con, RunSpec(mode="nominal", cohort="main", chromosomes=["1"])
        )
    return db, ids, {"gene": gene, "variant": variant}


def _sql(db, text, params=None) -> pl.DataFrame:
    with closing(connect(db, read_only=True)) as con:
        return con.sql(text, params=params or {}).pl()


def _compare(db, a, b, **kw):
    with closing(connect(db)) as con:
        return compare_runs(con, a, b, **kw)


def _tested(db, view, run_id) -> pl.DataFrame:
    """A run's result rows as the comparison must see them (tested, with a variant)."""
    return _sql(
        db,
        f"SELECT * FROM {view} WHERE run_id = $r AND status = 'tested' AND variant IS NOT NULL",
        {"r": run_id},
    )


def _pairs(db, comparison_id) -> pl.DataFrame:
    return _sql(db, "SELECT * FROM comparison_pairs WHERE comparison_id = $c", {"c": comparison_id})


# ---------------------------------------------------------------------------------- nominal


def test_compare_runs__wider_window_adds_exactly_the_outer_pairs(wh):
    db, ids, _ = wh
    a, b = (
        _tested(db, "nominal_results", ids["all_500k"]),
        _tested(db, "nominal_results", ids["all_1m"]),
    )
    # The known difference: B's extra pairs are those outside A's window (start - W <= pos <=
    # end + W, W = 500 kb), and nothing else.
    outer = (pl.col("pos") < pl.col("phenotype_start") - 500_000) | (
        pl.col("pos") > pl.col("phenotype_end") + 500_000
    )
    b_only = b.filter(outer)
    assert b_only.height > 0 and a.height == b.height - b_only.height
    fdr = 0.05
    c = _compare(db, ids["all_500k"], ids["all_1m"], fdr=fdr, top=5)

    assert (c.mode, c.match_key, c.effect_column, c.p_column) == (
        "nominal",
        "phenotype, variant",
        "beta_d",
        "nominal_p",
    )
    assert c.hit_rule_a == c.hit_rule_b == "nominal_p <= fdr"
    assert (c.n_pairs_a, c.n_pairs_b, c.n_both) == (a.height, b.height, a.height)
    assert (c.n_only_a, c.n_only_b) == (0, b_only.height)
    # A pair's statistics do not depend on the window: shared pairs agree.
    assert c.corr_effect == pytest.approx(1, abs=1e-12)
    assert c.corr_log10p == pytest.approx(1, abs=1e-12)
    assert c.sign_agreement == 1
    assert c.n_sign_pairs == a.filter(pl.col("beta_d") != 0).height
    hits_a = a.filter(pl.col("nominal_p") <= fdr).height
    assert c.hits_a == c.hits_both == hits_a
    assert c.hits_b == b.filter(pl.col("nominal_p") <= fdr).height
    assert c.hits_gained == b_only.filter(pl.col("nominal_p") <= fdr).height > 0
    assert c.hits_lost == 0

    top = c.largest_changes
    assert top.columns == [
        "phenotype",
        "variant",
        "effect_a",
        "effect_b",
        "delta",
        "p_a",
        "p_b",
        "hit_a",
        "hit_b",
    ]
    assert top.height == 5
    assert top["delta"].abs().max() < 1e-12
    # equal (zero) changes: ordered by phenotype, then variant
    keys = list(zip(top["phenotype"], top["variant"], strict=True))
    assert keys == sorted(keys)

    # Stored: every key of both runs, flagged, with both sides' values from the views.
    pairs = _pairs(db, c.comparison_id)
    assert pairs.height == b.height
    only_b = pairs.filter(~pl.col("in_a"))
    assert set(zip(only_b["phenotype"], only_b["variant_b"], strict=True)) == set(
        zip(b_only["phenotype"], b_only["variant"], strict=True)
    )
    assert only_b["variant_a"].null_count() == only_b.height
    assert only_b["hit_a"].null_count() == only_b.height
    assert pairs["in_b"].all()
    joined = pairs.join(
        b.select("phenotype", pl.col("variant").alias("variant_b"), "beta_d", "nominal_p"),
        on=["phenotype", "variant_b"],
    )
    assert joined.height == b.height
    assert (joined["effect_b"] == joined["beta_d"]).all()
    assert (joined["p_b"] == joined["nominal_p"]).all()
    assert (joined["hit_b"] == (joined["nominal_p"] <= fdr)).all()
    both = pairs.filter(pl.col("in_a"))
    assert (both["variant_a"] == both["variant_b"]).all() and both["same_variant"].all()


def test_compare_runs__stored_summary_and_history(wh):
    db, ids, _ = wh
    first = _compare(db, ids["all_500k"], ids["all_1m"], top=3)
    again = _compare(db, ids["all_500k"], ids["all_1m"], top=3)
    assert again.comparison_id > first.comparison_id  # a new comparison, the old one kept
    stored = _sql(
        db,
        "SELECT * FROM comparisons WHERE comparison_id IN ($a, $b) ORDER BY comparison_id",
        {"a": first.comparison_id, "b": again.comparison_id},
    )
    assert stored.height == 2
    row = stored.row(0, named=True)
    # derived from the stored pairs, not columns (test_compare_runs__replication_...)
    derived = {"n_corr_pairs", "pi1", "n_pi1", "pi1_method", "hit_sign_agreement"}
    derived.add("n_hit_sign_pairs")
    for key, value in first.summary().items():
        if key not in derived:
            assert row[key] == value, key
    assert derived <= set(first.summary())
    assert row["segqtl_version"] and row["created_at"] is not None
    assert row["cohort_a"] == row["cohort_b"] == "main"
    # both comparisons stored the same pairs
    for cid in (first.comparison_id, again.comparison_id):
        assert _pairs(db, cid).height == first.n_pairs_a + first.n_only_b
    # the view: presence, delta and hit changes agree with the summary
    view = _sql(
        db,
        "SELECT presence, hit_change, count(*) AS n, max(abs(delta)) AS d, count(variant) AS v "
        "FROM comparison_results WHERE comparison_id = $c GROUP BY ALL",
        {"c": first.comparison_id},
    )
    counts = {}
    for r in view.iter_rows(named=True):
        counts[r["presence"]] = counts.get(r["presence"], 0) + r["n"]
        assert r["v"] == r["n"]  # key 'phenotype, variant': the key variant is always set
    assert counts == {"both": first.n_both, "only_b": first.n_only_b}
    gained = view.filter(pl.col("hit_change") == "gained")["n"].sum()
    assert gained == first.hits_gained
    assert view.filter(pl.col("presence") == "both")["d"].max() < 1e-12


def test_compare_runs__best_variant_runs_match_on_phenotype_with_each_hit_rule(wh):
    db, ids, _ = wh
    fdr = 1e-4  # the best variant's nominal p is small for most phenotypes (uncorrected)
    c = _compare(db, ids["best_1m"], ids["best_500k"], fdr=fdr, top=30)
    assert c.match_key == "phenotype"
    # best-variant runs get no q-values (segqtl fdr refuses them): the nominal_p rule
    assert (c.hit_rule_a, c.hit_rule_b) == ("nominal_p <= fdr", "nominal_p <= fdr")
    a = _tested(db, "nominal_results", ids["best_1m"])
    b = _tested(db, "nominal_results", ids["best_500k"])
    assert c.hits_a == a.filter(pl.col("nominal_p") <= fdr).height
    assert c.hits_b == b.filter(pl.col("nominal_p") <= fdr).height
    assert c.n_both == a.join(b, on="phenotype").height == a.height
    # The lead variant changes exactly for phenotypes whose 1 Mb best variant is outside 500 kb.
    outside = a.filter(
        (pl.col("pos") < pl.col("phenotype_start") - 500_000)
        | (pl.col("pos") > pl.col("phenotype_end") + 500_000)
    )["phenotype"]
    pairs = _pairs(db, c.comparison_id)
    changed = pairs.filter(~pl.col("same_variant"))
    assert 0 < len(outside) < a.height
    assert sorted(changed["phenotype"]) == sorted(outside)
    assert (changed["variant_a"] != changed["variant_b"]).all()
    assert pairs["q_a"].null_count() == pairs["q_b"].null_count() == pairs.height
    # the effects are correlated over the phenotypes whose lead variant is the same only
    same = pairs.filter(pl.col("same_variant"))
    assert c.n_corr_pairs == same.height == a.height - len(outside)
    assert c.corr_effect == pytest.approx(1, abs=1e-12)  # same pair, same statistics
    top = c.largest_changes
    assert top.columns[:4] == ["phenotype", "variant_a", "variant_b", "same_variant"]
    # only phenotypes that are a hit in at least one run
    hit_either = pairs.filter(pl.col("hit_a") | pl.col("hit_b"))
    assert 0 < hit_either.height < pairs.height
    assert top.height == min(30, hit_either.height)
    assert (top["hit_a"] | top["hit_b"]).all()
    # unchanged lead variants have unchanged effects; changes are sorted by |delta|
    assert top.filter(pl.col("same_variant"))["delta"].abs().max() < 1e-12
    assert top["delta"].abs().to_list() == sorted(top["delta"].abs().to_list(), reverse=True)


def test_compare_runs__across_cohorts_matches_names_not_row_numbers(wh):
    db, ids, dropped = wh
    # Row numbers moved in the trimmed cohort: the same gene has another phenotype_idx.
    idx = _sql(
        db,
        "SELECT cohort, phenotype_idx FROM phenotypes WHERE gene_id = "
        "(SELECT gene_id FROM phenotypes WHERE cohort = 'trimmed' AND chr = 'chr1' "
        "AND phenotype_idx = 0) AND cohort IN ('main', 'trimmed') ORDER BY cohort",
    )
    assert idx["phenotype_idx"].to_list() == [1, 0]  # main, trimmed
    a = _tested(db, "nominal_results", ids["all_1m"])
    b = _tested(db, "nominal_results", ids["trimmed_1m"])
    lost = a.filter(
        (pl.col("phenotype") == dropped["gene"]) | (pl.col("variant") == dropped["variant"])
    )
    assert lost.height > 0 and b.height == a.height - lost.height

    c = _compare(db, ids["all_1m"], ids["trimmed_1m"])
    assert (c.cohort_a, c.cohort_b) == ("main", "trimmed")
    assert (c.n_both, c.n_only_a, c.n_only_b) == (b.height, lost.height, 0)
    assert c.corr_effect == pytest.approx(1, abs=1e-12)
    assert c.sign_agreement == 1
    assert c.largest_changes["delta"].abs().max() < 1e-12
    assert c.hits_gained == 0
    assert c.hits_lost == lost.filter(pl.col("nominal_p") <= 0.05).height
    only_a = _pairs(db, c.comparison_id).filter(~pl.col("in_b"))
    assert set(zip(only_a["phenotype"], only_a["variant_a"], strict=True)) == set(
        zip(lost["phenotype"], lost["variant"], strict=True)
    )


# ---------------------------------------------------------------------------------- perm


def test_compare_runs__statistics_equal_numpy_on_two_cohorts_with_different_effects(wh):
    # discovery vs validation cohort: the same pairs, other samples, so every statistic is
    # non-trivial; recompute each one from the result views with numpy
    db, ids, _ = wh
    a, b = ids["all_1m"], ids["val_all_1m"]
    c = _compare(db, a, b, fdr=0.01)
    ta, tb = _tested(db, "nominal_results", a), _tested(db, "nominal_results", b)
    both = ta.join(tb, on=["phenotype", "variant"], suffix="_b")
    ea, eb = both["beta_d"].to_numpy(), both["beta_d_b"].to_numpy()
    la, lb = -np.log10(both["nominal_p"].to_numpy()), -np.log10(both["nominal_p_b"].to_numpy())
    assert 0.2 < c.corr_effect < 0.999
    assert c.corr_effect == pytest.approx(np.corrcoef(ea, eb)[0, 1], rel=1e-12)
    assert c.corr_log10p == pytest.approx(np.corrcoef(la, lb)[0, 1], rel=1e-12)
    nonzero = (ea != 0) & (eb != 0)
    agree = np.mean(np.sign(ea[nonzero]) == np.sign(eb[nonzero]))
    assert 0.5 < agree < 1 and c.sign_agreement == pytest.approx(agree, rel=1e-12)
    hit_a = set(ta.filter(pl.col("nominal_p") <= 0.01).select("phenotype", "variant").rows())
    hit_b = set(tb.filter(pl.col("nominal_p") <= 0.01).select("phenotype", "variant").rows())
    assert (c.n_both, c.hits_a, c.hits_b) == (both.height, len(hit_a), len(hit_b))
    assert (c.hits_gained, c.hits_lost) == (len(hit_b - hit_a), len(hit_a - hit_b))
    assert c.hits_gained > 0 and c.hits_lost > 0
    top = c.largest_changes
    hit = np.array(
        [(k in hit_a) or (k in hit_b) for k in both.select("phenotype", "variant").rows()]
    )
    delta = np.abs(eb - ea)[hit]
    assert top.height == min(10, hit.sum())
    assert top["delta"].abs().to_list() == pytest.approx(sorted(delta, reverse=True)[: top.height])


def test_compare_runs__perm_runs_on_fewer_chromosomes(wh):
    db, ids, _ = wh
    a = _tested(db, "perm_results", ids["perm"])
    b = _tested(db, "perm_results", ids["perm_chr1"])
    c = _compare(db, ids["perm"], ids["perm_chr1"], top=100)
    assert c.match_key == "phenotype" and c.p_column == "p_adj"
    assert c.hit_rule_a == c.hit_rule_b == "qvalue <= fdr"  # perm runs compute q-values
    # chr2 is only in A; the lead variant does not depend on the permutation seed
    assert (c.n_pairs_a, c.n_pairs_b) == (a.height, b.height)
    assert c.n_only_a == a.filter(pl.col("chr") == "chr2").height > 0
    assert (c.n_both, c.n_only_b) == (b.height, 0)
    assert c.corr_effect == pytest.approx(1, abs=1e-12)
    pairs = _pairs(db, c.comparison_id)
    assert pairs.filter(pl.col("in_b"))["same_variant"].all()
    assert pairs.filter(~pl.col("in_b"))["same_variant"].null_count() == c.n_only_a
    # p = p_adj of each run (different seeds: different values); hits from each run's q-values
    q = _sql(
        db,
        "SELECT run_id, phenotype, qvalue FROM qvalues WHERE run_id IN ($a, $b)",
        {"a": ids["perm"], "b": ids["perm_chr1"]},
    )
    hit = {(r["run_id"], r["phenotype"]): r["qvalue"] <= 0.05 for r in q.iter_rows(named=True)}
    for side, run_id, frame in (("a", ids["perm"], a), ("b", ids["perm_chr1"], b)):
        got = pairs.filter(pl.col(f"in_{side}")).join(
            frame.select("phenotype", "p_adj"), on="phenotype"
        )
        assert got.height == frame.height
        assert (got[f"p_{side}"] == got["p_adj"]).all()
        for r in got.iter_rows(named=True):
            assert r[f"hit_{side}"] == hit[(run_id, r["phenotype"])]
    hits_a = {p for (r, p), h in hit.items() if h and r == ids["perm"]}
    hits_b = {p for (r, p), h in hit.items() if h and r == ids["perm_chr1"]}
    assert (c.hits_a, c.hits_b) == (len(hits_a), len(hits_b))
    assert (c.hits_gained, c.hits_lost) == (len(hits_b - hits_a), len(hits_a - hits_b))
    hits_either = {p for p in hits_a | hits_b if p in set(b["phenotype"])}
    assert c.largest_changes.height == len(hits_either)


def _pi1_direct(p: np.ndarray) -> tuple[float, str]:
    """1 - pi0 from the definitions: the bootstrap with >= 100 p-values, else lambda 0.5."""
    from segqtl.kernels.fdr import pi0_bootstrap

    if p.size >= 100:
        return 1 - pi0_bootstrap(p), "bootstrap"
    return 1 - min(1.0, np.mean(p >= 0.5) / 0.5), "fixed lambda 0.5"


def test_compare_runs__replication_pi1_and_hit_signs_from_the_definitions(wh):
    db, ids, _ = wh
    a, b = ids["all_1m"], ids["val_all_1m"]
    c = _compare(db, a, b, fdr=0.01)
    ta, tb = _tested(db, "nominal_results", a), _tested(db, "nominal_results", b)
    hits = ta.filter(pl.col("nominal_p") <= 0.01).join(tb, on=["phenotype", "variant"], suffix="_b")
    assert hits.height > 0
    pi1, method = _pi1_direct(hits["nominal_p_b"].to_numpy())
    assert c.n_pi1 == hits.height and c.pi1_method == method
    assert c.pi1 == pytest.approx(pi1, abs=1e-12) and 0 < c.pi1 <= 1
    signs = hits.filter((pl.col("beta_d") != 0) & (pl.col("beta_d_b") != 0))
    agree = (signs["beta_d"].sign() == signs["beta_d_b"].sign()).mean()
    assert c.n_hit_sign_pairs == signs.height
    assert c.hit_sign_agreement == pytest.approx(agree, rel=1e-12)
    assert c.n_corr_pairs == ta.join(tb, on=["phenotype", "variant"]).height  # same variants
    text = format_comparison(c)
    for key in ("pi1", "n_pi1", "pi1_method", "hit_sign_agreement", "n_corr_pairs"):
        assert f"\n{key}\t" in text

    # per phenotype (perm): B's p_adj at A's eGenes; few of them, so the fixed lambda
    c = _compare(db, ids["perm"], ids["perm_chr1"])
    pairs = _pairs(db, c.comparison_id).filter(pl.col("hit_a") & pl.col("in_b"))
    pi1, method = _pi1_direct(pairs["p_b"].to_numpy())
    assert (c.n_pi1, c.pi1_method) == (pairs.height, "fixed lambda 0.5") and pairs.height > 0
    assert c.pi1 == pytest.approx(pi1, abs=1e-12)
    # finemap's significance is a stability score, not a p-value: no pi1
    c = _compare(db, ids["fm_06"], ids["fm_03"])
    assert (c.pi1, c.pi1_method, c.n_pi1) == (None, None, 0)
    assert "\npi1\tNA\n" in format_comparison(c)


def test_compare_runs__all_variants_run_with_pair_qvalues_uses_them(wh, tmp_path):
    # in a copy of the warehouse, so the other tests keep their nominal_p rules
    db, ids, _ = wh
    copy = tmp_path / "copy.duckdb"
    shutil.copy(db, copy)
    api.fdr(copy, ids["all_1m"], 0.05)
    c = _compare(copy, ids["all_500k"], ids["all_1m"], fdr=0.1)
    assert (c.hit_rule_a, c.hit_rule_b) == ("nominal_p <= fdr", "qvalue <= fdr")
    q = _sql(
        copy,
        "SELECT phenotype, variant, qvalue FROM pair_qvalues WHERE run_id = $r",
        {"r": ids["all_1m"]},
    )
    pairs = _pairs(copy, c.comparison_id).join(
        q, left_on=["phenotype", "variant_b"], right_on=["phenotype", "variant"], how="left"
    )
    assert pairs["qvalue"].null_count() == 0  # every pair of B has its q-value
    assert (pairs["q_b"] == pairs["qvalue"]).all()
    assert (pairs["hit_b"] == (pairs["qvalue"] <= 0.1)).all()
    assert c.hits_b == q.filter(pl.col("qvalue") <= 0.1).height
    assert pairs["q_a"].null_count() == pairs.height


# ---------------------------------------------------------------------------------- finemap


def test_compare_runs__finemap_hits_follow_each_runs_stability_threshold(wh):
    db, ids, _ = wh
    a = _tested(db, "finemap_results", ids["fm_06"])
    c = _compare(db, ids["fm_06"], ids["fm_03"])
    assert (c.effect_column, c.p_column, c.match_key) == (
        "beta_full",
        "stability_score",
        "phenotype, variant",
    )
    assert c.hit_rule_a.startswith("stability_score >= 0.6")
    assert c.hit_rule_b.startswith("stability_score >= 0.3")
    # identical fits: only the thresholds differ
    assert (c.n_both, c.n_only_a, c.n_only_b) == (a.height, 0, 0)
    s = a["stability_score"]
    assert c.hits_a == (s >= 0.6).sum() and c.hits_b == (s >= 0.3).sum()
    assert c.hits_gained == ((s >= 0.3) & (s < 0.6)).sum()
    assert c.hits_lost == 0
    assert c.corr_log10p == pytest.approx(1, abs=1e-12)  # of the stability scores
    assert c.n_sign_pairs == (a["beta_full"] != 0).sum() and c.sign_agreement == 1
    assert c.largest_changes.columns[5:7] == ["stability_a", "stability_b"]
    text = format_comparison(c)
    assert "\ncorr_stability\t1\n" in text and "corr_log10p" not in text


# ---------------------------------------------------------------------------------- validate


def test_compare_runs__validate_runs_match_on_phenotype_without_variants(wh):
    db, ids, _ = wh
    c = _compare(db, ids["val_recal"], ids["val_frozen"], fdr=0.01)
    v = _sql(
        db,
        "SELECT run_id, phenotype, pearson_r, pearson_pval FROM validate_results "
        "WHERE run_id IN ($a, $b) AND status = 'tested'",
        {"a": ids["val_recal"], "b": ids["val_frozen"]},
    )
    a = v.filter(pl.col("run_id") == ids["val_recal"])
    b = v.filter(pl.col("run_id") == ids["val_frozen"])
    assert (c.effect_column, c.p_column, c.match_key) == ("pearson_r", "pearson_pval", "phenotype")
    assert c.hit_rule_a == c.hit_rule_b == "pearson_pval <= fdr"
    assert c.n_both == a.join(b, on="phenotype").height > 0
    assert c.hits_a == a.filter(pl.col("pearson_pval") <= 0.01).height
    assert c.hits_b == b.filter(pl.col("pearson_pval") <= 0.01).height
    pairs = (
        _pairs(db, c.comparison_id)
        .join(a.select("phenotype", r_a="pearson_r"), on="phenotype")
        .join(b.select("phenotype", r_b="pearson_r"), on="phenotype")
    )
    assert (pairs["effect_a"] == pairs["r_a"]).all() and (pairs["effect_b"] == pairs["r_b"]).all()
    for col in ("variant_a", "variant_b", "same_variant"):
        assert pairs[col].null_count() == pairs.height
    assert c.largest_changes.columns[:2] == ["phenotype", "effect_a"]
    delta = (pairs["r_b"] - pairs["r_a"]).abs().max()
    assert c.largest_changes["delta"].abs()[0] == pytest.approx(delta)


# ---------------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("runs", "kwargs", "message"),
    [
        (("all_1m", "perm"), {}, "only runs of the same mode are compared"),
        (("all_1m", "best_1m"), {}, "reports the best variant per phenotype"),
        (("all_1m", 999), {}, "run 999 does not exist"),
        (("running", "all_1m"), {}, "is running, not completed"),
        (("all_1m", "all_1m"), {}, "with itself"),
        (("all_1m", "all_500k"), {"fdr": 0.0}, "--fdr must be between 0 and 1"),
        (("all_1m", "all_500k"), {"fdr": 1.0}, "--fdr must be between 0 and 1"),
        (("all_1m", "all_500k"), {"fdr": math.nan}, "--fdr must be between 0 and 1"),
        (("all_1m", "all_500k"), {"top": -1}, "--top must be >= 0"),
    ],
)
def test_compare_runs__refuses_with_a_fix(wh, runs, kwargs, message):
    db, ids, _ = wh
    a, b = (ids.get(r, r) for r in runs)
    before = _sql(db, "SELECT count(*) AS n FROM comparisons")["n"][0]
    with pytest.raises(UsageError) as err:
        _compare(db, a, b, **kwargs)
    text = str(err.value)
    assert message in text and "Fix: " in text and "\n" not in text
    assert _sql(db, "SELECT count(*) AS n FROM comparisons")["n"][0] == before


# ---------------------------------------------------------------------------------- CLI


def _parse(stdout: str) -> tuple[dict, list[str], list[list[str]]]:
    head, _, table = stdout.rstrip("\n").partition("\n\n")
    summary = dict(line.split("\t") for line in head.splitlines())
    header, *rows = table.splitlines()
    return summary, header.split("\t"), [r.split("\t") for r in rows]


def test_compare_command__prints_summary_then_largest_changes(wh):
    db, ids, _ = wh
    args = ["compare", "--db", str(db), str(ids["best_1m"]), str(ids["best_500k"])]
    res = CliRunner().invoke(cli, [*args, "--top", "3", "--fdr", "0.2"])
    assert res.exit_code == 0, res.output
    summary, header, rows = _parse(res.stdout)
    stored = _sql(
        db,
        "SELECT * FROM comparisons WHERE comparison_id = $c",
        {"c": int(summary["comparison_id"])},
    ).row(0, named=True)
    assert (int(summary["run_a"]), int(summary["run_b"])) == (ids["best_1m"], ids["best_500k"])
    assert float(summary["fdr"]) == stored["fdr"] == 0.2
    for key in ("n_pairs_a", "n_both", "n_only_b", "hits_a", "hits_b", "hits_gained", "hits_lost"):
        assert int(summary[key]) == stored[key], key
    assert float(summary["corr_effect"]) == pytest.approx(stored["corr_effect"], rel=1e-5)
    assert summary["hit_rule_a"] == "nominal_p <= fdr" and summary["mode"] == "nominal"
    assert int(summary["n_corr_pairs"]) > 0 and summary["pi1_method"] == "fixed lambda 0.5"
    assert header == [
        "phenotype",
        "variant_a",
        "variant_b",
        "same_variant",
        "effect_a",
        "effect_b",
        "delta",
        "p_a",
        "p_b",
        "hit_a",
        "hit_b",
    ]
    top = _sql(
        db,
        "SELECT phenotype, variant_a, variant_b, delta FROM comparison_results "
        "WHERE comparison_id = $c AND presence = 'both' AND (hit_a OR hit_b) "
        "ORDER BY abs(delta) DESC, phenotype LIMIT 3",
        {"c": stored["comparison_id"]},
    )
    assert [r[:3] for r in rows] == [list(r) for r in top.select(pl.all().exclude("delta")).rows()]
    for row, delta in zip(rows, top["delta"], strict=True):
        assert float(row[6]) == pytest.approx(delta, rel=1e-5, abs=1e-300)
        assert row[3] in ("true", "false") and row[9] in ("true", "false")
    # the text is a function of the stored comparison alone
    again = CliRunner().invoke(cli, [*args, "--top", "3", "--fdr", "0.2"])
    first_lines = res.stdout.splitlines()
    assert again.stdout.splitlines()[1:] == first_lines[1:]  # all but comparison_id


def test_compare_command__error_is_one_line(wh):
    db, ids, _ = wh
    res = CliRunner().invoke(
        cli, ["compare", "--db", str(db), str(ids["all_1m"]), str(ids["perm"])]
    )
    assert res.exit_code == 2
    assert res.stdout == ""
    assert len(res.stderr.strip().splitlines()) == 1
    assert "same mode" in res.stderr and "Fix:" in res.stderr
