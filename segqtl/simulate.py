"""Synthetic cohorts in SegmentQTL's CSV layout, for demos, tests and benchmarks.

:func:`simulate_cohort` writes a tumour cohort with somatic copy-number segments, allele-specific
genotype log-ratios, gene copy number, sample covariates and expression with planted cis effects:

``quantifications.csv``
    ``chr,start,end,gene_id,<samples>``; one row per gene, sorted by chromosome then start.
``genotypes/chr<C>_ALTlr.csv``, ``genotypes/chr<C>_REFlr.csv``
    ``ID,<samples>``; ``ID`` is ``chr<C>:<pos>:<ref>:<alt>``, rows sorted by position. An empty
    cell is a missing value (always at the same cells in both files).
``covariates.csv``
    First line: the sample IDs; further lines ``name,v1,...,vn`` (age, sex, purity, PC1, PC2).
``copynumbers.csv``
    ``gene_id,<samples>``: the copy-number log-ratio ``log2(total_cn / ploidy)`` of the segment
    containing the gene start.
``segments.csv``
    ``sample,chr,startpos,endpos``: per sample and chromosome a tiling of ``[1, length]`` by
    closed intervals.
``phenotype_covariate.csv`` (optional)
    ``gene_id,<samples>``: a gene-level covariate that also shifts expression.
``truth.csv``
    ``phenotype,causal_variant,beta_d``: the planted effects.
``val/`` (optional)
    A validation cohort with the same layout: same genes, variants and planted effects, other
    samples (``V000, V001, ...``) with their own segments, copy numbers and covariates.

The model
---------
Each sample has a base copy-number state (2, 3 or 4 copies) and, per segment, integer
major/minor copy numbers (major at most 5, total at least 1); the sample's ploidy is the
length-weighted mean total copy number. A germline genotype puts the alt allele on none, one or
both haplotypes, and a random phase per segment decides which haplotype carries the major copy
number. The allele copy numbers ``cn`` of a variant are turned into floored, shifted log-ratios
``log2(1 + 2 * cn / ploidy)`` (``ALTlr`` and ``REFlr``). Expression is::

    y = mu + gamma * CNlr + covariates @ coef [+ eta * phenotype_covariate] + beta_d * d + noise

with ``d = REFlr - ALTlr`` of the causal variant's alleles, counted with the copy numbers of the
segment containing the gene start (identical to the variant's own ``REFlr - ALTlr`` whenever the
variant and the gene lie in the same segment, the samples SegmentQTL tests). Missing genotype
cells are a measurement artefact: the expression uses the true values.

Random streams are independent per part (the shared structure, the discovery cohort, the
validation cohort, missingness, the phenotype covariate), so ``missing_rate``,
``n_validation_samples`` and ``phenotype_covariate`` do not change the rest of the cohort:
e.g. a cohort with ``missing_rate=0.02`` equals the one with ``missing_rate=0`` apart from blanks.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

__all__ = ["SimulatedCohort", "simulate_cohort"]

_DECIMALS = 5
_CIS_WINDOW = 200_000  # a causal variant lies within this distance of its gene start
_MIN_GENE_LENGTH = 5_000
_MAX_GENE_LENGTH = 100_000
_MIN_CHROMOSOME_LENGTH = 2 * _MAX_GENE_LENGTH
_MAX_BREAKPOINTS = 1_000.0
_MAX_MAJOR = 5  # largest major-allele copy number
_MAX_TOTAL = 6  # largest total copy number of a segment
_BASES = np.array(list("ACGT"))
_CHROMOSOME_NAME = re.compile(r"^[A-Za-z0-9]+$")

# Sample covariates, with the population centre/scale used to standardise them in the model
# (fixed, so a validation cohort follows exactly the same expression model).
_COVARIATES = ("age", "sex", "purity", "PC1", "PC2")
_COV_CENTER = np.array([60.0, 0.5, 0.625, 0.0, 0.0])
_COV_SCALE = np.array([14.7, 0.5, 0.19, 1.0, 1.0])


@dataclass(frozen=True)
class SimulatedCohort:
    """Paths of a cohort written by :func:`simulate_cohort`.

    Attributes
    ----------
    out_dir : Path
        Directory holding the cohort.
    genotypes : Path
        ``out_dir / "genotypes"``, with ``chr<C>_ALTlr.csv`` and ``chr<C>_REFlr.csv`` per
        chromosome.
    quantifications : Path
        ``quantifications.csv`` (expression).
    covariates : Path
        ``covariates.csv``.
    copynumber : Path
        ``copynumbers.csv`` (gene copy-number log-ratios).
    segmentation : Path
        ``segments.csv``.
    phenotype_covariate : Path or None
        ``phenotype_covariate.csv`` if it was requested, else ``None``.
    truth : Path
        ``truth.csv`` with the planted effects.
    validation : SimulatedCohort or None
        The validation cohort in ``out_dir / "val"``, if one was requested.
    """

    out_dir: Path
    genotypes: Path
    quantifications: Path
    covariates: Path
    copynumber: Path
    segmentation: Path
    phenotype_covariate: Path | None
    truth: Path
    validation: SimulatedCohort | None


@dataclass
class _Chromosome:
    """The sample-independent structure of one chromosome."""

    name: str  # "chr1"
    gene_ids: list[str]
    gene_start: np.ndarray  # int64, sorted
    gene_end: np.ndarray
    var_pos: np.ndarray  # int64, sorted, unique
    var_ids: list[str]
    allele_freq: np.ndarray  # float64, alt allele frequency
    causal_gene: np.ndarray  # local gene indices (ascending)
    causal_var: np.ndarray  # matching variant indices
    beta_d: np.ndarray  # matching effect sizes


@dataclass
class _Structure:
    """Everything shared by the discovery and the validation cohort."""

    chromosomes: list[_Chromosome]
    length: int
    mu: np.ndarray  # per gene (all chromosomes, file order)
    gamma: np.ndarray  # effect of CNlr
    cov_coef: np.ndarray  # genes x covariates (standardised covariates)
    eta: np.ndarray  # effect of the phenotype covariate
    sigma: np.ndarray  # noise SD


# --------------------------------------------------------------------------------------------
# argument checking


def _check_int(name: str, value: object, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


def _check_float(name: str, value: object, low: float, high: float, *, high_open: bool) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ValueError(f"{name} must be a number, got {value!r}")
    value = float(value)
    ok = math.isfinite(value) and low <= value and (value < high if high_open else value <= high)
    if not ok:
        interval = f"[{low:g}, {high:g}{')' if high_open else ']'}"
        raise ValueError(f"{name} must be in {interval}, got {value!r}")
    return value


def _chromosome_key(label: str) -> tuple[int, int, str]:
    return (0, int(label), "") if label.isdigit() else (1, 0, label)


def _normalize_chromosomes(chromosomes: object) -> list[str]:
    """``("2", "chr1", "X")`` -> ``["1", "2", "X"]`` (labels without ``chr``, natural order)."""
    if isinstance(chromosomes, (str, int, np.integer)):
        chromosomes = (chromosomes,)
    if not isinstance(chromosomes, Sequence) or len(chromosomes) == 0:
        raise ValueError(f"chromosomes must be a non-empty sequence of names, got {chromosomes!r}")
    labels: list[str] = []
    for chrom in chromosomes:
        if isinstance(chrom, bool) or not isinstance(chrom, (str, int, np.integer)):
            raise ValueError(f"chromosome names must be strings like '1', 'chr1' or 'X': {chrom!r}")
        label = str(chrom).strip()
        label = label[3:] if label.startswith("chr") else label
        if not _CHROMOSOME_NAME.match(label):
            raise ValueError(f"invalid chromosome name {chrom!r} (use e.g. '1', 'chr1' or 'X')")
        if label.isdigit():
            label = str(int(label))
        if label in labels:
            raise ValueError(f"chromosome {chrom!r} is given more than once")
        labels.append(label)
    return sorted(labels, key=_chromosome_key)


# --------------------------------------------------------------------------------------------
# simulation


def _rounded(x: np.ndarray) -> np.ndarray:
    """Round to the written precision; ``+ 0.0`` turns ``-0.0`` into ``0.0``."""
    return np.round(x, _DECIMALS) + 0.0


def _sample_ids(prefix: str, n: int) -> list[str]:
    width = max(3, len(str(n - 1)))
    return [f"{prefix}{i:0{width}d}" for i in range(n)]


def _variant_positions(
    rng: np.random.Generator, planted: np.ndarray, n_variants: int, length: int
) -> np.ndarray:
    """``n_variants`` distinct sorted positions in ``[1, length]`` including ``planted``."""
    planted = np.unique(planted)
    n_background = n_variants - planted.size
    # Draw from [1, length - m] and skip over the m planted positions (stays uniform).
    draw = np.sort(rng.choice(length - planted.size, size=n_background, replace=False) + 1)
    shift = np.searchsorted(planted - np.arange(planted.size), draw, side="right")
    return np.sort(np.concatenate([planted, draw + shift]))


def _structure(
    rng: np.random.Generator,
    labels: list[str],
    n_phenotypes: int,
    n_variants: int,
    length: int,
    causal_fraction: float,
) -> _Structure:
    gene_width = max(3, len(str(n_phenotypes - 1)))
    n_causal = min(round(causal_fraction * n_phenotypes), n_variants)
    chromosomes = []
    for label in labels:
        name = f"chr{label}"
        gene_length = rng.integers(_MIN_GENE_LENGTH, _MAX_GENE_LENGTH + 1, size=n_phenotypes)
        start = rng.integers(1, length - gene_length + 1)
        order = np.lexsort((gene_length, start))
        start, end = start[order], (start + gene_length)[order]

        causal_gene = np.sort(rng.choice(n_phenotypes, size=n_causal, replace=False))
        offset = rng.integers(-_CIS_WINDOW, _CIS_WINDOW + 1, size=n_causal)
        planted = np.clip(start[causal_gene] + offset, 1, length)
        pos = _variant_positions(rng, planted, n_variants, length)
        causal_var = np.searchsorted(pos, planted)
        magnitude = rng.uniform(0.5, 1.0, size=n_causal)
        sign = np.where(rng.random(n_causal) < 0.5, -1.0, 1.0)
        beta = _rounded(sign * magnitude)

        ref = rng.integers(0, 4, size=n_variants)
        alt = (ref + rng.integers(1, 4, size=n_variants)) % 4
        allele_freq = rng.uniform(0.05, 0.5, size=n_variants)
        ids = pl.DataFrame({"pos": pos, "ref": _BASES[ref], "alt": _BASES[alt]}).select(
            pl.format(f"{name}:{{}}:{{}}:{{}}", "pos", "ref", "alt")
        )
        chromosomes.append(
            _Chromosome(
                name=name,
                gene_ids=[f"G{label}_{i:0{gene_width}d}" for i in range(n_phenotypes)],
                gene_start=start.astype(np.int64),
                gene_end=end.astype(np.int64),
                var_pos=pos.astype(np.int64),
                var_ids=ids.to_series().to_list(),
                allele_freq=allele_freq,
                causal_gene=causal_gene,
                causal_var=causal_var,
                beta_d=beta,
            )
        )
    n_genes = n_phenotypes * len(labels)
    return _Structure(
        chromosomes=chromosomes,
        length=length,
        mu=rng.normal(5.0, 1.0, size=n_genes),
        gamma=rng.normal(0.7, 0.2, size=n_genes),
        cov_coef=rng.normal(0.0, 0.15, size=(n_genes, len(_COVARIATES))),
        eta=rng.normal(0.4, 0.1, size=n_genes),
        sigma=rng.uniform(0.7, 1.0, size=n_genes),
    )


@dataclass
class _Segments:
    group: np.ndarray  # sample * n_chromosomes + chromosome index, sorted
    start: np.ndarray
    end: np.ndarray
    cn_h1: np.ndarray  # copy number of haplotype 1 (int)
    cn_h2: np.ndarray
    key: np.ndarray  # group * (length + 1) + end, sorted: for locating positions


def _segments(
    rng: np.random.Generator, n: int, n_chrom: int, length: int, breakpoints: float
) -> tuple[_Segments, np.ndarray]:
    """Segments of every sample and chromosome, with allele copy numbers; also the ploidies."""
    n_groups = n * n_chrom
    counts = rng.poisson(breakpoints, size=n_groups)
    bp_group = np.repeat(np.arange(n_groups, dtype=np.int64), counts)
    bp = rng.integers(1, length, size=bp_group.size)  # a segment ends at bp, the next starts after
    bp_key = np.unique(bp_group * length + bp)  # sorted; drops (rare) coinciding breakpoints
    group = np.concatenate([bp_key // length, np.arange(n_groups, dtype=np.int64)])
    end = np.concatenate([bp_key % length, np.full(n_groups, length, dtype=np.int64)])
    order = np.lexsort((end, group))
    group, end = group[order], end[order]
    start = np.empty_like(end)
    start[0] = 1
    start[1:] = end[:-1] + 1
    first = np.ones(group.size, dtype=bool)
    first[1:] = group[1:] != group[:-1]
    start[first] = 1

    n_seg = group.size
    base = rng.choice(np.array([2, 3, 4]), p=[0.5, 0.2, 0.3], size=n)[group // n_chrom]
    altered = rng.random(n_seg) < 0.6
    delta = rng.choice(np.array([-2, -1, 0, 1, 2, 3]), size=n_seg)
    total = np.where(altered, np.clip(base + delta, 1, _MAX_TOTAL), base)
    minor = np.where(altered, rng.integers(0, total // 2 + 1), base // 2)
    minor = np.maximum(minor, total - _MAX_MAJOR)
    major = total - minor
    flip = rng.random(n_seg) < 0.5
    cn_h1 = np.where(flip, minor, major).astype(np.int64)
    cn_h2 = np.where(flip, major, minor).astype(np.int64)

    seg_len = (end - start + 1).astype(np.float64)
    sample = group // n_chrom
    ploidy = np.bincount(sample, seg_len * total, n) / np.bincount(sample, seg_len, n)
    key = group * (length + 1) + end
    return _Segments(group, start, end, cn_h1, cn_h2, key), ploidy


def _locate(seg: _Segments, length: int, groups: np.ndarray, pos: np.ndarray) -> np.ndarray:
    """Index of the segment containing each position (rows) in each sample's group (columns)."""
    query = pos[:, None] + (groups * (length + 1))[None, :]
    return np.searchsorted(seg.key, query, side="left")


@dataclass
class _CohortData:
    samples: list[str]
    covariates: np.ndarray  # covariates x samples
    segments: _Segments
    lr: list[tuple[np.ndarray, np.ndarray]]  # per chromosome (ALTlr, REFlr), variants x samples
    cnlr: np.ndarray  # genes x samples
    expression: np.ndarray  # genes x samples
    phenotype_covariate: np.ndarray | None


def _simulate(
    rng: np.random.Generator,
    st: _Structure,
    samples: list[str],
    breakpoints: float,
    missing_rate: float,
    with_phenotype_covariate: bool,
) -> _CohortData:
    main, missing_rng, pcov_rng = rng.spawn(3)
    n, n_chrom, length = len(samples), len(st.chromosomes), st.length

    age = main.integers(35, 86, size=n).astype(np.float64)
    sex = main.integers(0, 2, size=n).astype(np.float64)
    purity = np.round(main.uniform(0.3, 0.95, size=n), 2)
    pcs = _rounded(main.normal(0.0, 1.0, size=(2, n)))
    covariates = np.vstack([age, sex, purity, pcs])
    cov_std = (covariates - _COV_CENTER[:, None]) / _COV_SCALE[:, None]

    seg, ploidy = _segments(main, n, n_chrom, length, breakpoints)
    # lut[j, cn] = log2(1 + 2 cn / ploidy_j): the floored, shifted log-ratio of cn allele copies.
    lut = _rounded(np.log2(1.0 + 2.0 * np.arange(2 * _MAX_MAJOR + 1)[None, :] / ploidy[:, None]))
    cols = np.arange(n)[None, :]

    lr, cnlr, effect = [], [], []
    for c, chrom in enumerate(st.chromosomes):
        groups = np.arange(n, dtype=np.int64) * n_chrom + c
        af = chrom.allele_freq[:, None]
        h1 = main.random((chrom.var_pos.size, n)) < af
        h2 = main.random((chrom.var_pos.size, n)) < af
        idx = _locate(seg, length, groups, chrom.var_pos)
        cn1, cn2 = seg.cn_h1[idx], seg.cn_h2[idx]
        alt_lr = lut[cols, h1 * cn1 + h2 * cn2]
        ref_lr = lut[cols, ~h1 * cn1 + ~h2 * cn2]

        gidx = _locate(seg, length, groups, chrom.gene_start)
        g1, g2 = seg.cn_h1[gidx], seg.cn_h2[gidx]
        cnlr.append(_rounded(np.log2((g1 + g2) / ploidy[None, :])))
        # Cis effect: the causal variant's alleles, with the copy numbers at the gene.
        d = np.zeros((chrom.gene_start.size, n))
        v1, v2 = h1[chrom.causal_var], h2[chrom.causal_var]
        a1, a2 = g1[chrom.causal_gene], g2[chrom.causal_gene]
        d[chrom.causal_gene] = lut[cols, ~v1 * a1 + ~v2 * a2] - lut[cols, v1 * a1 + v2 * a2]
        beta = np.zeros(chrom.gene_start.size)
        beta[chrom.causal_gene] = chrom.beta_d
        effect.append(beta[:, None] * d)

        if missing_rate > 0:
            blank = missing_rng.random(alt_lr.shape) < missing_rate
            alt_lr[blank] = np.nan
            ref_lr[blank] = np.nan
        lr.append((alt_lr, ref_lr))

    cnlr_all = np.vstack(cnlr)
    n_genes = cnlr_all.shape[0]
    y = (
        st.mu[:, None]
        + st.gamma[:, None] * cnlr_all
        + st.cov_coef @ cov_std
        + np.vstack(effect)
        + st.sigma[:, None] * main.normal(size=(n_genes, n))
    )
    pcov = None
    if with_phenotype_covariate:
        pcov = _rounded(pcov_rng.normal(size=(n_genes, n)))
        y += st.eta[:, None] * pcov
    return _CohortData(samples, covariates, seg, lr, cnlr_all, _rounded(y), pcov)


# --------------------------------------------------------------------------------------------
# writing


def _write_table(path: Path, lead: dict[str, object], values: np.ndarray, samples: list[str]):
    """Write ``lead`` columns then one column per sample (``values``: rows x samples)."""
    frame = pl.DataFrame(lead)
    matrix = pl.DataFrame(values, schema=samples, orient="row", nan_to_null=True)
    pl.concat([frame, matrix], how="horizontal").write_csv(path, float_scientific=False)


def _format_number(v: float) -> str:
    return str(int(v)) if float(v).is_integer() else repr(float(v))


def _write_cohort(
    out_dir: Path, st: _Structure, data: _CohortData, truth: pl.DataFrame
) -> SimulatedCohort:
    out_dir.mkdir(parents=True, exist_ok=True)
    geno_dir = out_dir / "genotypes"
    geno_dir.mkdir(exist_ok=True)
    samples = data.samples
    written = set()
    for chrom, (alt_lr, ref_lr) in zip(st.chromosomes, data.lr, strict=True):
        for kind, matrix in (("ALT", alt_lr), ("REF", ref_lr)):
            path = geno_dir / f"{chrom.name}_{kind}lr.csv"
            _write_table(path, {"ID": chrom.var_ids}, matrix, samples)
            written.add(path.name)
    # Genotype files of an earlier simulation with other chromosomes would join this cohort.
    for stale in geno_dir.glob("*_*lr.csv"):
        if stale.name not in written and re.fullmatch(r".+_(ALT|REF)lr\.csv", stale.name):
            stale.unlink()

    gene_ids = [g for chrom in st.chromosomes for g in chrom.gene_ids]
    lead = {
        "chr": [chrom.name for chrom in st.chromosomes for _ in chrom.gene_ids],
        "start": np.concatenate([chrom.gene_start for chrom in st.chromosomes]),
        "end": np.concatenate([chrom.gene_end for chrom in st.chromosomes]),
        "gene_id": gene_ids,
    }
    quantifications = out_dir / "quantifications.csv"
    _write_table(quantifications, lead, data.expression, samples)

    copynumber = out_dir / "copynumbers.csv"
    _write_table(copynumber, {"gene_id": gene_ids}, data.cnlr, samples)

    phenotype_covariate = None
    if data.phenotype_covariate is not None:
        phenotype_covariate = out_dir / "phenotype_covariate.csv"
        _write_table(phenotype_covariate, {"gene_id": gene_ids}, data.phenotype_covariate, samples)

    covariates = out_dir / "covariates.csv"
    lines = [",".join(samples)]
    for name, row in zip(_COVARIATES, data.covariates, strict=True):
        lines.append(",".join([name, *(_format_number(v) for v in row)]))
    covariates.write_text("\n".join(lines) + "\n")

    seg = data.segments
    n_chrom = len(st.chromosomes)
    segmentation = out_dir / "segments.csv"
    pl.DataFrame(
        {
            "sample": np.array(samples)[seg.group // n_chrom],
            "chr": np.array([chrom.name for chrom in st.chromosomes])[seg.group % n_chrom],
            "startpos": seg.start,
            "endpos": seg.end,
        }
    ).write_csv(segmentation)

    truth_path = out_dir / "truth.csv"
    truth.write_csv(truth_path, float_scientific=False)
    return SimulatedCohort(
        out_dir=out_dir,
        genotypes=geno_dir,
        quantifications=quantifications,
        covariates=covariates,
        copynumber=copynumber,
        segmentation=segmentation,
        phenotype_covariate=phenotype_covariate,
        truth=truth_path,
        validation=None,
    )


def _truth_table(st: _Structure) -> pl.DataFrame:
    phenotype, variant, beta = [], [], []
    for chrom in st.chromosomes:
        phenotype += [chrom.gene_ids[i] for i in chrom.causal_gene]
        variant += [chrom.var_ids[v] for v in chrom.causal_var]
        beta += chrom.beta_d.tolist()
    return pl.DataFrame(
        {"phenotype": phenotype, "causal_variant": variant, "beta_d": beta},
        schema={"phenotype": pl.String, "causal_variant": pl.String, "beta_d": pl.Float64},
    )


# --------------------------------------------------------------------------------------------


def simulate_cohort(
    out_dir: str | Path,
    *,
    seed: int = 1,
    n_samples: int = 120,
    chromosomes: Sequence[str] = ("1", "2"),
    n_phenotypes: int = 40,
    n_variants: int = 150,
    chromosome_length: int = 20_000_000,
    breakpoints_per_sample: float = 4.0,
    missing_rate: float = 0.0,
    causal_fraction: float = 0.5,
    phenotype_covariate: bool = False,
    n_validation_samples: int = 0,
) -> SimulatedCohort:
    """Write a synthetic cohort in SegmentQTL's CSV layout.

    Parameters
    ----------
    out_dir : str or Path
        Output directory (created if needed). Files of the layout already there are
        overwritten; genotype files of chromosomes not in this cohort are removed.
    seed : int
        Seed of ``numpy.random.default_rng``; the same arguments give byte-identical files.
    n_samples : int
        Number of samples (``S000, S001, ...``), at least 1.
    chromosomes : sequence of str
        Chromosome names such as ``"1"``, ``"chr1"`` or ``"X"``; written as ``chr1``, ``chrX``
        in natural order (1, 2, ..., 10, ..., X).
    n_phenotypes : int
        Genes per chromosome (ids ``G<chrom>_<index>``, e.g. ``G1_000``, ``GX_004``).
    n_variants : int
        Variants per chromosome (distinct positions).
    chromosome_length : int
        Length of every chromosome in bp, at least 200,000; segments tile
        ``[1, chromosome_length]``.
    breakpoints_per_sample : float
        Mean (Poisson) number of copy-number breakpoints per sample and chromosome.
    missing_rate : float
        Probability in ``[0, 1)`` that a genotype cell is blank (in both ALTlr and REFlr).
    causal_fraction : float
        Fraction in ``[0, 1]`` of the genes of a chromosome given one causal variant within
        200 kb of the gene start (at most ``n_variants`` per chromosome).
    phenotype_covariate : bool
        Also write ``phenotype_covariate.csv``, a gene-level covariate that shifts expression.
    n_validation_samples : int
        If positive, also write a validation cohort of that many samples (``V000, ...``) in
        ``out_dir / "val"``: same genes, variants and planted effects, new samples.

    Returns
    -------
    SimulatedCohort
        Paths of the written files.

    Raises
    ------
    ValueError
        If an argument is out of range or of the wrong type.
    """
    if not isinstance(out_dir, (str, Path)) or str(out_dir) == "":
        raise ValueError(f"out_dir must be a directory path, got {out_dir!r}")
    seed = _check_int("seed", seed, 0)
    n_samples = _check_int("n_samples", n_samples, 1)
    labels = _normalize_chromosomes(chromosomes)
    n_phenotypes = _check_int("n_phenotypes", n_phenotypes, 1)
    n_variants = _check_int("n_variants", n_variants, 1)
    chromosome_length = _check_int("chromosome_length", chromosome_length, _MIN_CHROMOSOME_LENGTH)
    if n_variants > chromosome_length // 2:
        raise ValueError(
            f"n_variants ({n_variants}) must be at most half the chromosome length "
            f"({chromosome_length} bp)"
        )
    breakpoints_per_sample = _check_float(
        "breakpoints_per_sample", breakpoints_per_sample, 0.0, _MAX_BREAKPOINTS, high_open=False
    )
    missing_rate = _check_float("missing_rate", missing_rate, 0.0, 1.0, high_open=True)
    causal_fraction = _check_float("causal_fraction", causal_fraction, 0.0, 1.0, high_open=False)
    if not isinstance(phenotype_covariate, (bool, np.bool_)):
        raise ValueError(f"phenotype_covariate must be True or False, got {phenotype_covariate!r}")
    n_validation_samples = _check_int("n_validation_samples", n_validation_samples, 0)

    out_dir = Path(out_dir)
    structure_rng, discovery_rng, validation_rng = np.random.default_rng(seed).spawn(3)
    st = _structure(
        structure_rng, labels, n_phenotypes, n_variants, chromosome_length, causal_fraction
    )
    truth = _truth_table(st)

    def cohort(rng: np.random.Generator, samples: list[str], directory: Path) -> SimulatedCohort:
        data = _simulate(
            rng, st, samples, breakpoints_per_sample, missing_rate, bool(phenotype_covariate)
        )
        return _write_cohort(directory, st, data, truth)

    discovery = cohort(discovery_rng, _sample_ids("S", n_samples), out_dir)
    if n_validation_samples == 0:
        return discovery
    validation = cohort(validation_rng, _sample_ids("V", n_validation_samples), out_dir / "val")
    return SimulatedCohort(
        out_dir=discovery.out_dir,
        genotypes=discovery.genotypes,
        quantifications=discovery.quantifications,
        covariates=discovery.covariates,
        copynumber=discovery.copynumber,
        segmentation=discovery.segmentation,
        phenotype_covariate=discovery.phenotype_covariate,
        truth=discovery.truth,
        validation=validation,
    )
