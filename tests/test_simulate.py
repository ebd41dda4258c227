"""Tests of segqtl.simulate: the synthetic cohort writer."""

from __future__ import annotations

import csv
import re
import tempfile
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from segqtl.simulate import SimulatedCohort, simulate_cohort

SMALL = dict(n_samples=12, n_phenotypes=6, n_variants=25, chromosome_length=2_000_000)
VARIANT_ID = re.compile(r"^(chr[0-9A-Za-z]+):(\d+):([ACGT]):([ACGT])$")


def _rows(path: Path) -> list[list[str]]:
    with open(path, newline="") as fh:
        return list(csv.reader(fh))


def _files(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def _matrix(path: Path, samples: list[str]) -> np.ndarray:
    schema = {s: pl.Float64 for s in samples}
    return pl.read_csv(path, schema_overrides=schema).select(samples).to_numpy()


@pytest.fixture(scope="module")
def cohort(tmp_path_factory) -> SimulatedCohort:
    out = tmp_path_factory.mktemp("cohort")
    return simulate_cohort(
        out,
        seed=7,
        chromosomes=("2", "chr1", "X"),
        missing_rate=0.1,
        phenotype_covariate=True,
        n_validation_samples=5,
        breakpoints_per_sample=6.0,
        **SMALL,
    )


def test_simulate_cohort__writes_the_layout_with_exact_headers(cohort):
    samples = [f"S{i:03d}" for i in range(12)]
    assert cohort.genotypes == cohort.out_dir / "genotypes"
    assert sorted(p.name for p in cohort.genotypes.iterdir()) == [
        f"chr{c}_{k}lr.csv" for c in ("1", "2", "X") for k in ("ALT", "REF")
    ]
    assert _rows(cohort.quantifications)[0] == ["chr", "start", "end", "gene_id", *samples]
    assert _rows(cohort.copynumber)[0] == ["gene_id", *samples]
    assert _rows(cohort.phenotype_covariate)[0] == ["gene_id", *samples]
    assert _rows(cohort.segmentation)[0] == ["sample", "chr", "startpos", "endpos"]
    assert _rows(cohort.truth)[0] == ["phenotype", "causal_variant", "beta_d"]
    for name in ("chr1", "chr2", "chrX"):
        for kind in ("ALT", "REF"):
            assert _rows(cohort.genotypes / f"{name}_{kind}lr.csv")[0] == ["ID", *samples]


def test_simulate_cohort__quantifications_sorted_with_gene_ids_per_chromosome(cohort):
    q = pl.read_csv(cohort.quantifications)
    assert q["chr"].to_list() == ["chr1"] * 6 + ["chr2"] * 6 + ["chrX"] * 6
    assert q["gene_id"].to_list() == [f"G{c}_{i:03d}" for c in ("1", "2", "X") for i in range(6)]
    for _, part in q.group_by("chr"):
        assert part["start"].is_sorted()
    length = q["end"] - q["start"]
    assert length.min() >= 5_000 and length.max() <= 100_000
    assert q["start"].min() >= 1 and q["end"].max() <= 2_000_000
    assert q.select(pl.exclude("chr", "gene_id")).null_count().sum_horizontal().item() == 0
    # gene-level tables list the same genes in the same order
    for path in (cohort.copynumber, cohort.phenotype_covariate):
        assert pl.read_csv(path)["gene_id"].to_list() == q["gene_id"].to_list()


def test_simulate_cohort__covariates_first_line_is_sample_ids_only(cohort):
    rows = _rows(cohort.covariates)
    assert rows[0] == [f"S{i:03d}" for i in range(12)]
    assert [r[0] for r in rows[1:]] == ["age", "sex", "purity", "PC1", "PC2"]
    assert all(len(r) == 13 for r in rows[1:])
    sex = {float(v) for v in rows[2][1:]}
    assert sex <= {0.0, 1.0}
    purity = [float(v) for v in rows[3][1:]]
    assert all(0 < p <= 1 for p in purity)


def test_simulate_cohort__genotype_files_share_sorted_unique_ids(cohort):
    for name in ("chr1", "chr2", "chrX"):
        alt = _rows(cohort.genotypes / f"{name}_ALTlr.csv")
        ref = _rows(cohort.genotypes / f"{name}_REFlr.csv")
        ids = [r[0] for r in alt[1:]]
        assert ids == [r[0] for r in ref[1:]]
        assert len(ids) == 25
        parts = [VARIANT_ID.match(i) for i in ids]
        assert all(parts)
        assert {m.group(1) for m in parts} == {name}
        assert all(m.group(3) != m.group(4) for m in parts)
        pos = [int(m.group(2)) for m in parts]
        assert pos == sorted(pos) and len(set(pos)) == len(pos)
        assert all(len(r) == 13 for r in alt + ref)


def test_simulate_cohort__allele_log_ratios_are_nonnegative_and_shared_per_sample(cohort):
    samples = [f"S{i:03d}" for i in range(12)]
    alt = _matrix(cohort.genotypes / "chr1_ALTlr.csv", samples)
    ref = _matrix(cohort.genotypes / "chr1_REFlr.csv", samples)
    both = np.concatenate([alt, ref])
    assert np.nanmin(both) >= 0.0
    assert np.any(both == 0.0)  # an allele absent from a haplotype pair
    # one ploidy per sample: at most 11 distinct log-ratio values (allele copy numbers 0..10)
    for j in range(len(samples)):
        assert len(np.unique(both[:, j][~np.isnan(both[:, j])])) <= 11


def test_simulate_cohort__segments_tile_each_chromosome_per_sample(cohort):
    seg = pl.read_csv(cohort.segmentation)
    samples = [f"S{i:03d}" for i in range(12)]
    assert seg["sample"].unique().sort().to_list() == samples
    assert set(seg["chr"].unique().to_list()) == {"chr1", "chr2", "chrX"}
    assert (seg["startpos"] <= seg["endpos"]).all()
    n_pieces = []
    for (_sample, _chrom), part in seg.group_by("sample", "chr"):
        start, end = part["startpos"].to_numpy(), part["endpos"].to_numpy()
        assert start[0] == 1 and end[-1] == 2_000_000
        assert np.array_equal(start[1:], end[:-1] + 1)  # closed intervals, no gap, no overlap
        n_pieces.append(len(part))
    assert len(n_pieces) == 36
    assert max(n_pieces) > 1
    assert 3.0 < np.mean(n_pieces) - 1 < 10.0  # about breakpoints_per_sample=6 breakpoints


def test_simulate_cohort__copynumber_constant_within_a_segment(cohort):
    q = pl.read_csv(cohort.quantifications)
    seg = pl.read_csv(cohort.segmentation)
    cn = pl.read_csv(cohort.copynumber)
    for sample in ("S000", "S005", "S011"):
        s = seg.filter(pl.col("sample") == sample)
        genes = q.select("chr", "start", "gene_id").with_columns(cn[sample].alias("cnlr"))
        located = genes.join_where(
            s,
            pl.col("chr") == pl.col("chr_right"),
            pl.col("start") >= pl.col("startpos"),
            pl.col("start") <= pl.col("endpos"),
        )
        assert located.height == genes.height
        per_segment = located.group_by("chr", "startpos").agg(pl.col("cnlr").n_unique())
        assert (per_segment["cnlr"] == 1).all()


def test_simulate_cohort__deterministic_for_a_seed(tmp_path):
    a = simulate_cohort(tmp_path / "a", seed=11, missing_rate=0.05, n_validation_samples=3, **SMALL)
    b = simulate_cohort(tmp_path / "b", seed=11, missing_rate=0.05, n_validation_samples=3, **SMALL)
    files_a, files_b = _files(a.out_dir), _files(b.out_dir)
    assert len(files_a) == 2 * (4 + 5)  # 2 chromosomes x ALT/REF + 5 tables, twice
    assert files_a == files_b


def test_simulate_cohort__other_seed_gives_other_data(tmp_path):
    a = simulate_cohort(tmp_path / "a", seed=11, **SMALL)
    b = simulate_cohort(tmp_path / "b", seed=12, **SMALL)
    for name in ("quantifications.csv", "segments.csv", "genotypes/chr1_ALTlr.csv"):
        assert (a.out_dir / name).read_bytes() != (b.out_dir / name).read_bytes()


def test_simulate_cohort__missing_cells_blank_in_both_files_at_the_rate(tmp_path):
    kwargs = dict(seed=5, n_samples=40, chromosomes=("1",), n_phenotypes=4, n_variants=500)
    full = simulate_cohort(tmp_path / "full", **kwargs)
    gappy = simulate_cohort(tmp_path / "gappy", missing_rate=0.2, **kwargs)
    samples = [f"S{i:03d}" for i in range(40)]
    alt = _matrix(gappy.genotypes / "chr1_ALTlr.csv", samples)
    ref = _matrix(gappy.genotypes / "chr1_REFlr.csv", samples)
    assert np.array_equal(np.isnan(alt), np.isnan(ref))
    assert 0.17 < np.isnan(alt).mean() < 0.23  # 20,000 cells: SD of the rate is 0.003
    cells = [r[1:] for r in _rows(gappy.genotypes / "chr1_ALTlr.csv")[1:]]
    assert sum(c == "" for row in cells for c in row) == np.isnan(alt).sum()
    # missingness only blanks cells: the rest of the cohort is unchanged
    alt_full = _matrix(full.genotypes / "chr1_ALTlr.csv", samples)
    kept = ~np.isnan(alt)
    assert np.array_equal(alt[kept], alt_full[kept])
    assert not np.isnan(alt_full).any()
    assert full.quantifications.read_bytes() == gappy.quantifications.read_bytes()


def test_simulate_cohort__validation_shares_genes_variants_and_truth(cohort):
    val = cohort.validation
    assert val is not None and val.validation is None
    assert val.out_dir == cohort.out_dir / "val"
    samples = [f"V{i:03d}" for i in range(5)]
    assert _rows(val.quantifications)[0][4:] == samples
    assert _rows(val.covariates)[0] == samples
    assert set(pl.read_csv(val.segmentation)["sample"].to_list()) == set(samples)
    for a, b in (
        (cohort.quantifications, val.quantifications),
        (cohort.copynumber, val.copynumber),
    ):
        assert pl.read_csv(a)["gene_id"].to_list() == pl.read_csv(b)["gene_id"].to_list()
    q, vq = pl.read_csv(cohort.quantifications), pl.read_csv(val.quantifications)
    assert q.select("chr", "start", "end").equals(vq.select("chr", "start", "end"))
    for name in ("chr1", "chr2", "chrX"):
        for kind in ("ALT", "REF"):
            ids = [r[0] for r in _rows(cohort.genotypes / f"{name}_{kind}lr.csv")]
            assert ids == [r[0] for r in _rows(val.genotypes / f"{name}_{kind}lr.csv")]
    assert cohort.truth.read_bytes() == val.truth.read_bytes()
    assert val.phenotype_covariate is not None and val.phenotype_covariate.is_file()


def test_simulate_cohort__validation_does_not_change_discovery(tmp_path):
    a = simulate_cohort(tmp_path / "a", seed=4, **SMALL)
    b = simulate_cohort(tmp_path / "b", seed=4, n_validation_samples=4, **SMALL)
    assert a.validation is None and b.validation is not None
    files_b = {k: v for k, v in _files(b.out_dir).items() if not k.startswith("val/")}
    assert _files(a.out_dir) == files_b


def test_simulate_cohort__truth_plants_nearby_causal_variants(cohort):
    truth = pl.read_csv(cohort.truth)
    q = pl.read_csv(cohort.quantifications)
    assert truth.height == 3 * 3  # causal_fraction 0.5 of 6 genes, 3 chromosomes
    assert truth["phenotype"].is_unique().all()
    ids = set()
    for name in ("chr1", "chr2", "chrX"):
        ids |= {r[0] for r in _rows(cohort.genotypes / f"{name}_ALTlr.csv")[1:]}
    start = dict(zip(q["gene_id"], q["start"], strict=True))
    chrom = dict(zip(q["gene_id"], q["chr"], strict=True))
    for gene, variant, beta in truth.iter_rows():
        assert variant in ids
        c, pos, _, _ = variant.split(":")
        assert c == chrom[gene]
        assert abs(int(pos) - start[gene]) <= 200_000
        assert 0.5 <= abs(beta) <= 1.0


@pytest.mark.parametrize("fraction, expected", [(0.0, 0), (1.0, 6), (0.34, 2)])
def test_simulate_cohort__causal_fraction_sets_planted_gene_count(tmp_path, fraction, expected):
    c = simulate_cohort(tmp_path, causal_fraction=fraction, chromosomes=("1",), **SMALL)
    assert pl.read_csv(c.truth).height == expected
    assert _rows(c.truth)[0] == ["phenotype", "causal_variant", "beta_d"]


def test_simulate_cohort__planted_effects_are_recoverable(tmp_path):
    c = simulate_cohort(tmp_path, seed=3, n_samples=300, chromosome_length=5_000_000)
    samples = _rows(c.quantifications)[0][4:]
    q = pl.read_csv(c.quantifications)
    cn = pl.read_csv(c.copynumber)
    truth = pl.read_csv(c.truth)
    assert truth.height == 40
    geno = {}
    for name in ("chr1", "chr2"):
        ids = [r[0] for r in _rows(c.genotypes / f"{name}_ALTlr.csv")[1:]]
        d = _matrix(c.genotypes / f"{name}_REFlr.csv", samples) - _matrix(
            c.genotypes / f"{name}_ALTlr.csv", samples
        )
        geno.update(zip(ids, d, strict=True))
    covariates = np.array([[float(v) for v in r[1:]] for r in _rows(c.covariates)[1:]])
    row = {g: i for i, g in enumerate(q["gene_id"])}
    y_all = q.select(samples).to_numpy()
    cn_all = cn.select(samples).to_numpy()
    good_r, good_beta = 0, 0
    for gene, variant, beta in truth.iter_rows():
        d, y = geno[variant], y_all[row[gene]]
        r = np.corrcoef(d, y)[0, 1]
        good_r += np.sign(r) == np.sign(beta) and abs(r) > 0.2
        design = np.column_stack([np.ones(len(y)), cn_all[row[gene]], covariates.T, d])
        estimate = np.linalg.lstsq(design, y, rcond=None)[0][-1]
        good_beta += abs(estimate - beta) < 0.3
    assert good_r >= 0.9 * truth.height
    assert good_beta >= 0.9 * truth.height


def test_simulate_cohort__null_genes_are_uncorrelated_with_variants(tmp_path):
    c = simulate_cohort(
        tmp_path, seed=8, n_samples=200, causal_fraction=0.0, chromosomes=("1",), n_variants=60
    )
    samples = _rows(c.quantifications)[0][4:]
    y = pl.read_csv(c.quantifications).select(samples).to_numpy()
    d = _matrix(c.genotypes / "chr1_REFlr.csv", samples) - _matrix(
        c.genotypes / "chr1_ALTlr.csv", samples
    )
    r = np.corrcoef(np.vstack([y, d]))[: len(y), len(y) :]
    assert np.nanmax(np.abs(r)) < 0.4


def test_simulate_cohort__phenotype_covariate_is_optional(tmp_path):
    c = simulate_cohort(tmp_path, **SMALL)
    assert c.phenotype_covariate is None
    assert not (tmp_path / "phenotype_covariate.csv").exists()
    assert c.validation is None and not (tmp_path / "val").exists()


def test_simulate_cohort__chromosome_names_normalized_and_ordered(tmp_path):
    c = simulate_cohort(tmp_path, chromosomes=["X", "chr10", 2], **SMALL)
    q = pl.read_csv(c.quantifications)
    assert q["chr"].unique(maintain_order=True).to_list() == ["chr2", "chr10", "chrX"]
    assert q["gene_id"].to_list()[::6] == ["G2_000", "G10_000", "GX_000"]
    assert {p.name for p in c.genotypes.iterdir()} == {
        f"chr{n}_{k}lr.csv" for n in ("2", "10", "X") for k in ("ALT", "REF")
    }


def test_simulate_cohort__sample_id_width_fits_n(tmp_path):
    c = simulate_cohort(tmp_path, n_samples=1001, chromosomes=("1",), n_phenotypes=1, n_variants=2)
    samples = _rows(c.quantifications)[0][4:]
    assert samples[0] == "S0000" and samples[-1] == "S1000"
    assert len(samples) == len(set(samples)) == 1001


def test_simulate_cohort__removes_stale_genotype_files(tmp_path):
    simulate_cohort(tmp_path, chromosomes=("1", "2"), **SMALL)
    c = simulate_cohort(tmp_path, chromosomes=("3",), **SMALL)
    assert sorted(p.name for p in c.genotypes.iterdir()) == ["chr3_ALTlr.csv", "chr3_REFlr.csv"]


@settings(max_examples=15, deadline=None)
@given(
    n_samples=st.integers(1, 6),
    n_chromosomes=st.integers(1, 3),
    n_phenotypes=st.integers(1, 8),
    n_variants=st.integers(1, 60),
    length=st.integers(200_000, 3_000_000),
    breakpoints=st.floats(0.0, 30.0),
    causal_fraction=st.floats(0.0, 1.0),
    seed=st.integers(0, 2**32),
)
def test_simulate_cohort__structure_holds_for_any_small_arguments(
    n_samples, n_chromosomes, n_phenotypes, n_variants, length, breakpoints, causal_fraction, seed
):
    chromosomes = [str(i + 1) for i in range(n_chromosomes)]
    with tempfile.TemporaryDirectory() as tmp:
        c = simulate_cohort(
            tmp,
            seed=seed,
            n_samples=n_samples,
            chromosomes=chromosomes,
            n_phenotypes=n_phenotypes,
            n_variants=n_variants,
            chromosome_length=length,
            breakpoints_per_sample=breakpoints,
            causal_fraction=causal_fraction,
        )
        q = pl.read_csv(c.quantifications)
        assert q.height == n_phenotypes * n_chromosomes
        assert q["gene_id"].is_unique().all()
        assert ((q["start"] >= 1) & (q["end"] <= length) & (q["start"] < q["end"])).all()
        for name in chromosomes:
            ids = [r[0] for r in _rows(c.genotypes / f"chr{name}_ALTlr.csv")[1:]]
            pos = [int(i.split(":")[1]) for i in ids]
            assert len(pos) == n_variants and pos == sorted(set(pos))
            assert 1 <= pos[0] and pos[-1] <= length
        seg = pl.read_csv(c.segmentation).sort("sample", "chr", "startpos")
        ends = seg.group_by("sample", "chr").agg(
            pl.col("startpos").first().alias("first"),
            pl.col("endpos").last().alias("last"),
            (pl.col("startpos").slice(1) == pl.col("endpos").slice(0, pl.len() - 1) + 1)
            .all()
            .alias("contiguous"),
        )
        assert ends.height == n_samples * n_chromosomes
        assert (ends["first"] == 1).all() and (ends["last"] == length).all()
        assert ends["contiguous"].all()
        n_causal = min(round(causal_fraction * n_phenotypes), n_variants)
        assert pl.read_csv(c.truth).height == n_causal * n_chromosomes


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(n_samples=0), "n_samples"),
        (dict(n_samples=2.5), "n_samples"),
        (dict(n_phenotypes=0), "n_phenotypes"),
        (dict(n_variants=0), "n_variants"),
        (dict(n_variants=2_000_000), "n_variants"),
        (dict(chromosomes=()), "chromosomes"),
        (dict(chromosomes=("1", "chr1")), "more than once"),
        (dict(chromosomes=("1:2",)), "chromosome name"),
        (dict(chromosome_length=1_000), "chromosome_length"),
        (dict(breakpoints_per_sample=-1.0), "breakpoints_per_sample"),
        (dict(breakpoints_per_sample=float("nan")), "breakpoints_per_sample"),
        (dict(missing_rate=1.0), "missing_rate"),
        (dict(missing_rate=-0.1), "missing_rate"),
        (dict(causal_fraction=1.5), "causal_fraction"),
        (dict(n_validation_samples=-1), "n_validation_samples"),
        (dict(seed=-3), "seed"),
        (dict(seed="one"), "seed"),
        (dict(phenotype_covariate="yes"), "phenotype_covariate"),
    ],
)
def test_simulate_cohort__rejects_nonsense_arguments(tmp_path, kwargs, message):
    args = SMALL | kwargs
    with pytest.raises(ValueError, match=message):
        simulate_cohort(tmp_path / "out", **args)
    assert not (tmp_path / "out").exists()
