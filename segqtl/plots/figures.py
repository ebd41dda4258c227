"""The figures: pure functions from polars frames (or arrays) to matplotlib figures.

Nothing here reads the warehouse (:mod:`segqtl.plots.data` does) or writes files
(:func:`segqtl.plots.save` does).  Figures are :class:`matplotlib.figure.Figure` objects made
without pyplot, so no display or global state is involved; they render with Agg.  What each
draws is part of its contract and tested on the data (not on pixels): the order of the
collections and lines is documented per function.
"""

from __future__ import annotations

import numpy as np
import polars as pl
from matplotlib.figure import Figure

#: The smallest p-value drawn: p = 0 (a p-value below double precision) is drawn at 1e-300.
P_FLOOR = 1e-300

#: More points than this in one scatter are rasterised in SVG/PDF output (files stay small).
RASTER_ABOVE = 20_000

#: Colours of a comparison's hit changes (hits at the comparison's rule in run A and B).
HIT_CHANGE_COLOURS = {"kept": "C2", "gained": "C0", "lost": "C3", "none": "0.6"}


def _neglog10(p) -> np.ndarray:
    return -np.log10(np.maximum(np.asarray(p, dtype=float), P_FLOOR))


def _figure(width: float, height: float, ncols: int = 1, nrows: int = 1, **kw):
    fig = Figure(figsize=(width, height), layout="constrained")
    return fig, fig.subplots(nrows, ncols, squeeze=False, **kw)


# ---------------------------------------------------------------------------------------- qq
def lambda_gc(p: np.ndarray) -> float:
    """Genomic inflation: median of the χ²(1) statistics of ``p`` over the χ²(1) median.

    Parameters
    ----------
    p : ndarray, shape (n,)

    Returns
    -------
    float
        NaN for an empty ``p``.
    """
    from scipy.stats import chi2

    p = np.asarray(p, dtype=float)
    if p.size == 0:
        return float("nan")
    return float(np.median(chi2.isf(np.maximum(p, P_FLOOR), 1)) / chi2.ppf(0.5, 1))


def qq_points(p: np.ndarray, max_points: int = 20_000) -> tuple[np.ndarray, np.ndarray]:
    """The order statistics a QQ plot draws, and their expected −log10 p.

    Parameters
    ----------
    p : ndarray, shape (n,)
        p-values, sorted ascending.
    max_points : int
        At most this many points: all when n is not larger, else the ``max_points // 2``
        smallest p-values (the tail people look at) and evenly spaced order statistics of the
        rest.

    Returns
    -------
    index : ndarray of int, shape (k,)
        0-based ranks of the drawn p-values.
    expected : ndarray, shape (k,)
        ``−log10((rank + 0.5) / n)``: the uniform quantile of the (rank+1)-th smallest of n.
    """
    n = len(p)
    if n <= max_points:
        index = np.arange(n)
    else:
        head = max_points // 2
        rest = np.linspace(head, n - 1, max_points - head).round().astype(np.int64)
        index = np.unique(np.concatenate([np.arange(head), rest]))
    return index, -np.log10((index + 0.5) / n)


def qq_band(n: int, index: np.ndarray, level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """The expected ``level`` band of −log10 p at ranks ``index`` of n uniform p-values.

    The (i+1)-th smallest of n uniform p-values follows Beta(i+1, n−i); the band is its
    central ``level`` interval, on the −log10 scale.

    Returns
    -------
    low, high : ndarray, shape (len(index),)
    """
    from scipy.stats import beta

    a = np.asarray(index) + 1.0
    tail = (1.0 - level) / 2.0
    return (
        -np.log10(beta.ppf(1.0 - tail, a, n - a + 1.0)),
        -np.log10(beta.ppf(tail, a, n - a + 1.0)),
    )


def qq_figure(p, *, title: str, what: str, max_points: int = 20_000) -> Figure:
    """QQ plot of p-values with λ_GC and the expected 95% band.

    Parameters
    ----------
    p : array-like, shape (n,)
        The p-values (any order).
    title, what : str
        The title, and what the p-values are (the x label names it).
    max_points : int
        See :func:`qq_points`.

    Returns
    -------
    Figure
        ``axes[0].collections[0]``: the points (expected, observed −log10 p);
        ``collections[1]``: the 95% band; ``lines[0]``: the diagonal.  λ_GC is in the legend.
    """
    p = np.sort(np.asarray(p, dtype=float))
    index, expected = qq_points(p, max_points)
    observed = _neglog10(p[index])
    lam = lambda_gc(p)
    fig, axes = _figure(5.5, 5.0)
    ax = axes[0, 0]
    ax.scatter(
        expected,
        observed,
        s=8,
        color="C0",
        label=f"{what} (n = {len(p):,}; λ_GC = {lam:.3f})",
        rasterized=len(index) > RASTER_ABOVE,
        zorder=3,
    )
    if len(p):
        low, high = qq_band(len(p), index)
        ax.fill_between(expected, low, high, color="0.85", label="expected 95% band", zorder=1)
        top = float(expected.max())
        ax.plot([0, top], [0, top], color="0.3", lw=1, ls="--", zorder=2)
    ax.set(xlabel="expected −log10 p", ylabel="observed −log10 p", title=title)
    ax.legend(fontsize=8, loc="upper left")
    return fig


# ----------------------------------------------------------------------------------- pvalues
def pvalue_histogram(p, pi0: float | None, *, title: str, what: str, bins: int = 20) -> Figure:
    """Histogram of p-values (as a density) with the estimated null proportion pi0.

    Under the null p-values are uniform, so the flat part of a density histogram sits at
    height pi0; the excess near 0 is the signal.

    Returns
    -------
    Figure
        ``axes[0].patches``: the ``bins`` bars over [0, 1] (heights: density);
        ``lines[0]``: the horizontal line at pi0 (absent when ``pi0`` is None).
    """
    p = np.asarray(p, dtype=float)
    fig, axes = _figure(5.5, 4.0)
    ax = axes[0, 0]
    ax.hist(p, bins=np.linspace(0.0, 1.0, bins + 1), density=True, color="C0", alpha=0.8)
    if pi0 is not None:
        ax.axhline(pi0, color="C3", lw=1.5, label=f"pi0 = {pi0:.3f}")
        ax.legend(fontsize=8)
    ax.set(xlim=(0, 1), xlabel=f"{what} (n = {len(p):,})", ylabel="density", title=title)
    return fig


# --------------------------------------------------------------------------------- manhattan
def genome_positions(genes: pl.DataFrame, gap: float = 0.02) -> tuple[pl.DataFrame, list]:
    """Genes along one axis: chromosomes in natural order, each shifted by the ones before.

    Parameters
    ----------
    genes : polars.DataFrame
        Columns ``chr``, ``phenotype_start`` (and ``phenotype_end``).
    gap : float
        Space between chromosomes, as a fraction of the longest.

    Returns
    -------
    genes : polars.DataFrame
        The input in (natural chromosome, start) order with a column ``x``.
    ticks : list of (str, float)
        Each chromosome's name and the middle of its stretch.
    """
    from ..chromosomes import natural_order

    order = natural_order(genes["chr"].unique().to_list())
    end = "phenotype_end" if "phenotype_end" in genes.columns else "phenotype_start"
    lengths = {
        r["chr"]: float(r["length"])
        for r in genes.group_by("chr").agg(pl.col(end).max().alias("length")).iter_rows(named=True)
    }
    space = gap * max(lengths.values(), default=0.0)
    offsets, ticks, at = {}, [], 0.0
    for chrom in order:
        offsets[chrom] = at
        ticks.append((chrom, at + lengths[chrom] / 2))
        at += lengths[chrom] + space
    rank = {c: i for i, c in enumerate(order)}
    out = (
        genes.with_columns(
            pl.col("chr").replace_strict(rank, return_dtype=pl.Int64).alias("_rank"),
            (
                pl.col("phenotype_start").cast(pl.Float64)
                + pl.col("chr").replace_strict(offsets, return_dtype=pl.Float64)
            ).alias("x"),
        )
        .sort("_rank", "phenotype_start", maintain_order=True)
        .drop("_rank")
    )
    return out, ticks


def manhattan_figure(
    genes: pl.DataFrame,
    *,
    title: str,
    what: str,
    fdr: float | None = None,
    p_threshold: float | None = None,
) -> Figure:
    """Gene-level −log10 p along the chromosomes, hits at the run's FDR marked.

    Parameters
    ----------
    genes : polars.DataFrame
        One row per phenotype: ``chr``, ``phenotype_start``, ``phenotype_end``, ``p`` and
        ``is_hit`` (bool or null: the run has no q-values).
    fdr, p_threshold : float, optional
        The run's FDR level and the gene-level p at that level (a dashed line).

    Returns
    -------
    Figure
        ``axes[0].collections[0]``: every gene (x = :func:`genome_positions`, y = −log10 p),
        coloured by chromosome; ``collections[1]``: the hits (when any).
    """
    placed, ticks = genome_positions(genes)
    fig, axes = _figure(9.0, 4.0)
    ax = axes[0, 0]
    if placed.height:
        chrom_rank = {c: i for i, (c, _) in enumerate(ticks)}
        colours = ["C0" if chrom_rank[c] % 2 == 0 else "C9" for c in placed["chr"]]
        y = _neglog10(placed["p"].to_numpy())
        ax.scatter(
            placed["x"].to_numpy(),
            y,
            s=10,
            c=colours,
            rasterized=placed.height > RASTER_ABOVE,
            zorder=2,
        )
        hits = placed.filter(pl.col("is_hit").fill_null(False))
        if hits.height:
            level = "" if fdr is None else f" at FDR {fdr:g}"
            ax.scatter(
                hits["x"].to_numpy(),
                _neglog10(hits["p"].to_numpy()),
                s=36,
                facecolors="none",
                edgecolors="C3",
                linewidths=1.2,
                label=f"eGenes{level} ({hits.height})",
                zorder=3,
            )
    if p_threshold is not None and 0 < p_threshold < 1:
        ax.axhline(-np.log10(p_threshold), color="C3", lw=1, ls="--", zorder=1)
    ax.set_xticks([x for _, x in ticks], [c for c, _ in ticks], fontsize=8)
    ax.set(ylabel=f"−log10 {what}", xlabel="phenotype start", title=title)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8, loc="upper right")
    return fig


# ------------------------------------------------------------------------------------- locus
def locus_figure(
    variants: pl.DataFrame,
    *,
    title: str,
    finemap: pl.DataFrame | None = None,
    threshold: float | None = None,
    finemap_label: str = "finemap",
) -> Figure:
    """One phenotype's cis variants: −log10 p and the tested sample count against position.

    Parameters
    ----------
    variants : polars.DataFrame
        ``sql/plot_locus.sql``'s rows: ``pos``, ``variant``, ``nominal_p`` (null: untested),
        ``number_of_samples``, ``phenotype_start``, ``phenotype_end``.
    finemap : polars.DataFrame, optional
        A finemap run's variants of the phenotype (``variant``, ``stability_score``); those
        at or above ``threshold`` are marked on the top panel where the run tested them.

    Returns
    -------
    Figure
        Top panel ``axes[0]``: ``collections[0]`` the tested variants (pos, −log10 p),
        ``collections[1]`` the lead variant (smallest p), ``collections[2]`` finemap's selected
        variants (when any), ``patches[0]`` the phenotype's span.  Bottom panel ``axes[1]``:
        ``collections[0]`` every variant with a position (pos, number_of_samples; 0 when
        untested).
    """
    fig, axes = _figure(8.0, 5.5, nrows=2, sharex=True, height_ratios=[2, 1])
    top, bottom = axes[0, 0], axes[1, 0]
    placed = variants.filter(pl.col("pos").is_not_null())
    tested = placed.filter(pl.col("nominal_p").is_not_null())
    top.scatter(
        tested["pos"].to_numpy(),
        _neglog10(tested["nominal_p"].to_numpy()),
        s=12,
        color="C0",
        label=f"tested variants ({tested.height})",
        zorder=2,
    )
    if tested.height:
        lead = tested.sort("nominal_p", "pos").head(1)
        top.scatter(
            lead["pos"].to_numpy(),
            _neglog10(lead["nominal_p"].to_numpy()),
            s=140,
            marker="*",
            color="C1",
            edgecolors="k",
            linewidths=0.5,
            label=f"lead variant {lead['variant'][0]}",
            zorder=4,
        )
    if finemap is not None and threshold is not None:
        selected = finemap.filter(pl.col("stability_score") >= threshold).select("variant")
        marked = tested.join(selected, on="variant", how="semi")
        if marked.height:
            top.scatter(
                marked["pos"].to_numpy(),
                _neglog10(marked["nominal_p"].to_numpy()),
                s=70,
                facecolors="none",
                edgecolors="C3",
                linewidths=1.5,
                label=f"{finemap_label}: stability ≥ {threshold:g} ({marked.height})",
                zorder=3,
            )
    start, end = variants["phenotype_start"][0], variants["phenotype_end"][0]
    top.axvspan(start, end, color="C2", alpha=0.15, label="phenotype span", zorder=0)
    top.set(ylabel="−log10 nominal p", title=title)
    top.legend(fontsize=7, loc="upper right")
    bottom.scatter(
        placed["pos"].to_numpy(),
        placed["number_of_samples"].to_numpy(),
        s=8,
        c=["C0" if p is not None else "0.6" for p in placed["nominal_p"]],
        zorder=2,
    )
    bottom.axvspan(start, end, color="C2", alpha=0.15, zorder=0)
    bottom.set(xlabel="variant position (bp)", ylabel="samples tested")
    return fig


# --------------------------------------------------------------------------------- stability
def stability_figure(
    rows: pl.DataFrame, *, threshold: float, title: str, phenotype: str | None = None
) -> Figure:
    """Stability selection: each variant's selection frequency against its coefficient.

    Parameters
    ----------
    rows : polars.DataFrame
        ``sql/plot_stability.sql``'s rows: ``phenotype``, ``pos``, ``stability_score``,
        ``beta_full``.
    threshold : float
        The run's stability threshold (``r2_stability_threshold``): a dashed line.
    phenotype : str, optional
        The rows are one phenotype's: the right panel shows stability along the locus;
        otherwise it counts the phenotypes by number of variants at or above the threshold.

    Returns
    -------
    Figure
        Left ``axes[0]``: ``collections[0]`` the variants (beta_full, stability_score),
        ``lines[0]`` the threshold.  Right ``axes[1]``: with ``phenotype``, ``collections[0]``
        (pos, stability_score) and ``lines[0]`` the threshold; else ``patches``: bars of the
        number of phenotypes with 0, 1, 2, … selected variants.
    """
    fig, axes = _figure(10.0, 4.2, ncols=2)
    left, right = axes[0, 0], axes[0, 1]
    score = rows["stability_score"].to_numpy()
    selected = score >= threshold
    left.scatter(
        rows["beta_full"].to_numpy(),
        score,
        s=12,
        c=np.where(selected, "C3", "C0"),
        rasterized=rows.height > RASTER_ABOVE,
        zorder=2,
    )
    left.axhline(threshold, color="0.3", lw=1, ls="--", zorder=1)
    left.set(
        xlabel="coefficient in the full fit (beta_full)",
        ylabel="stability score (selection frequency)",
        title=f"{title}: {int(selected.sum())} of {rows.height} variants ≥ {threshold:g}",
    )
    if phenotype is not None:
        right.scatter(rows["pos"].to_numpy(), score, s=12, c=np.where(selected, "C3", "C0"))
        right.axhline(threshold, color="0.3", lw=1, ls="--")
        right.set(xlabel="variant position (bp)", ylabel="stability score", title=phenotype)
    else:
        per = (
            rows.group_by("phenotype")
            .agg((pl.col("stability_score") >= threshold).sum().alias("n"))
            .group_by("n")
            .len()
            .sort("n")
        )
        right.bar(per["n"].to_numpy(), per["len"].to_numpy(), color="C0")
        right.set(
            xlabel=f"variants with stability ≥ {threshold:g}",
            ylabel="phenotypes",
            title="selected variants per phenotype",
        )
    return fig


# ------------------------------------------------------------------------------- calibration
def calibration_figure(
    per_phenotype: pl.DataFrame,
    samples: pl.DataFrame | None = None,
    *,
    title: str,
    phenotype: str | None = None,
) -> Figure:
    """A validate run's transfer: R² against calibration slope, and one phenotype's fit.

    Parameters
    ----------
    per_phenotype : polars.DataFrame
        ``sql/plot_calibration.sql``'s rows: ``phenotype``, ``r2_descriptive``,
        ``calibration_slope``.
    samples : polars.DataFrame, optional
        ``phenotype``'s ``y`` (observed) and ``y_hat`` (predicted) per validation sample.

    Returns
    -------
    Figure
        Left ``axes[0]``: ``collections[0]`` every phenotype (calibration_slope,
        r2_descriptive), ``lines[0]`` slope 1.  Right ``axes[1]`` (when ``samples``):
        ``collections[0]`` the samples (y_hat, y), ``lines[0]`` the calibration line (the
        stored slope through the means), ``lines[1]`` observed = predicted.
    """
    fig, axes = _figure(10.0, 4.5, ncols=2)
    left, right = axes[0, 0], axes[0, 1]
    left.scatter(
        per_phenotype["calibration_slope"].to_numpy(),
        per_phenotype["r2_descriptive"].to_numpy(),
        s=14,
        color="C0",
    )
    left.axvline(1.0, color="0.3", lw=1, ls="--")
    left.set(
        xlabel="calibration slope (observed on predicted; 1 = calibrated)",
        ylabel="out-of-cohort R²",
        title=f"{title}: {per_phenotype.height} phenotypes scored",
    )
    if phenotype is not None and samples is not None and samples.height:
        row = per_phenotype.filter(pl.col("phenotype") == phenotype).row(0, named=True)
        x, y = samples["y_hat"].to_numpy(), samples["y"].to_numpy()
        right.scatter(x, y, s=10, color="C0", alpha=0.8)
        lo, hi = float(min(x.min(), y.min())), float(max(x.max(), y.max()))
        slope = row["calibration_slope"]
        grid = np.array([lo, hi])
        right.plot(grid, y.mean() + slope * (grid - x.mean()), color="C3", lw=1.5)
        right.plot(grid, grid, color="0.3", lw=1, ls="--")
        right.set(
            xlabel="predicted",
            ylabel="observed",
            title=f"{phenotype}: slope {slope:.2f}, R² {row['r2_descriptive']:.2f}",
        )
    else:
        right.axis("off")
        right.text(0.5, 0.5, "no per-sample predictions stored", ha="center", va="center")
    return fig


# ----------------------------------------------------------------------------------- compare
def compare_figure(
    pairs: pl.DataFrame,
    *,
    title: str,
    run_a: str,
    run_b: str,
    effect_label: str,
    p_label: str,
    p_is_pvalue: bool,
) -> Figure:
    """Two runs side by side: effects, and −log10 p (or the score), hits gained/lost coloured.

    Parameters
    ----------
    pairs : polars.DataFrame
        ``sql/plot_comparison.sql``'s rows: ``effect_a``, ``effect_b``, ``p_a``, ``p_b``,
        ``hit_change``.
    p_is_pvalue : bool
        ``p_a``/``p_b`` are p-values (drawn as −log10) or a score (finemap's stability: drawn
        as it is).

    Returns
    -------
    Figure
        Left ``axes[0]`` (effects) and right ``axes[1]`` (significance): one scatter per
        hit change, in the order kept, gained, lost, none (only those with rows; left: rows
        with both effects, right: rows with both p), then ``lines[0]``: the diagonal.
    """
    fig, axes = _figure(10.0, 4.6, ncols=2)
    left, right = axes[0, 0], axes[0, 1]
    transform = _neglog10 if p_is_pvalue else (lambda v: np.asarray(v, dtype=float))
    sig = f"−log10 {p_label}" if p_is_pvalue else p_label
    for ax, a, b, label, f in (
        (left, "effect_a", "effect_b", effect_label, lambda v: np.asarray(v, dtype=float)),
        (right, "p_a", "p_b", sig, transform),
    ):
        both = pairs.filter(pl.col(a).is_not_null() & pl.col(b).is_not_null())
        for change, colour in HIT_CHANGE_COLOURS.items():
            part = both.filter(pl.col("hit_change") == change)
            if part.height:
                ax.scatter(
                    f(part[a].to_numpy()),
                    f(part[b].to_numpy()),
                    s=12,
                    color=colour,
                    label=f"{change} ({part.height})",
                    rasterized=part.height > RASTER_ABOVE,
                    zorder=3 if change != "none" else 2,
                )
        if both.height:
            values = np.concatenate([f(both[a].to_numpy()), f(both[b].to_numpy())])
            lo, hi = float(values.min()), float(values.max())
            ax.plot([lo, hi], [lo, hi], color="0.3", lw=1, ls="--", zorder=1)
        ax.set(xlabel=f"{label}, {run_a}", ylabel=f"{label}, {run_b}")
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8, title="hit", title_fontsize=8)
    left.set_title(f"{title}: effects")
    right.set_title(sig)
    return fig
