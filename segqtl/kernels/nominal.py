"""Vectorised nominal association kernel (docs/methods.md#nominal-model).

For one phenotype and its cis variants, every variant ``v`` gets the OLS fit

    y ~ 1 + s_v + d_v + covariates        (s = REFlr + ALTlr, d = REFlr - ALTlr)

on its own sample set: samples whose phenotype, covariates, ALTlr and REFlr are observed
and that lie on the phenotype's segment (``lb_i <= pos_v <= ub_i``,
docs/methods.md#segment-mask).

How it is vectorised
--------------------
The covariate block ``[1, covariates]`` is orthonormalised once per phenotype (QR on the
samples usable for any variant) and y is residualised against it.  Segment masks and missing
genotypes make each variant's sample set different, so each fit is solved from its masked
cross-products

    G_v = sum_i m_vi z_vi z_viᵀ,   z_vi = (q_i, s_vi, d_vi),   b_v = sum_i m_vi z_vi ỹ_i

which are built for all variants at once: the q-only sums as matrix products of the segment
groups' masks with per-sample products (minus the few missing genotypes' terms), the sums with
s and d in one compiled pass over each variant's zero-filled s and d
(:func:`masked_products`); the ``(k+2) x (k+2)`` systems are solved by a compiled batched LU.
Replacing ``[1, covariates]`` by the orthonormal ``q`` and y by its residual ``ỹ`` changes
neither the coefficients and standard errors of ``s`` and ``d`` nor the residuals
(Frisch–Waugh–Lovell), and keeps the small systems well conditioned.  A variant whose s or d
is (almost) explained by the other columns is fitted again from its own samples by QR
(:func:`exact_fit`): the rare case where the normal equations are not accurate enough.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import sparse
from scipy.special import stdtr

from .segments import segment_mask

#: Skip reasons, stored as small integers in results.
OK = 0
TOO_FEW_SAMPLES = 1
CONSTANT_PHENOTYPE = 2
CONSTANT_D = 3
SINGULAR = 4

SKIP_REASONS = {
    OK: "tested",
    TOO_FEW_SAMPLES: "too_few_samples",
    CONSTANT_PHENOTYPE: "constant_phenotype",
    CONSTANT_D: "constant_d",
    SINGULAR: "singular_design",
}

#: A variant's design is singular when s, or d given s, has a residual norm below this on the
#: variant's samples (SegmentQTL's perm rule for d, docs/methods.md#nominal-model).
RESIDUAL_NORM_MIN = 1e-10
#: Variants whose s or d keeps less than this fraction of its centred sum of squares once the
#: other columns are removed (a variance inflation factor of 1e4 or more) are fitted again from
#: their own samples by QR: normal equations lose about eps·VIF of relative accuracy, and
#: exactly collinear columns leave finite noise instead of a zero pivot.
EXACT_REFIT_BELOW = 1e-4

#: The float statistics of :class:`NominalStats`, in SegmentQTL's column order.
STAT_FIELDS = (
    "beta_s",
    "se_s",
    "beta_d",
    "se_d",
    "t_stat_d",
    "nominal_p",
    "r2_alt",
    "aic_null",
    "aic_alt",
)


@dataclass
class NominalStats:
    """Per-variant statistics of one phenotype; every array has shape ``(V,)``.

    Skipped variants have ``number_of_samples == 0`` and NaN statistics, and ``status``
    holds the reason (see :data:`SKIP_REASONS`).  ``aic_null``/``aic_alt`` are NaN unless
    requested.
    """

    number_of_samples: np.ndarray
    beta_s: np.ndarray
    se_s: np.ndarray
    beta_d: np.ndarray
    se_d: np.ndarray
    t_stat_d: np.ndarray
    nominal_p: np.ndarray
    r2_alt: np.ndarray
    aic_null: np.ndarray
    aic_alt: np.ndarray
    status: np.ndarray

    @classmethod
    def empty(cls, n_variants: int) -> NominalStats:
        nan = np.full(n_variants, np.nan)
        return cls(
            number_of_samples=np.zeros(n_variants, dtype=np.int64),
            **{f: nan.copy() for f in STAT_FIELDS},
            status=np.full(n_variants, TOO_FEW_SAMPLES, dtype=np.int8),
        )

    def best(self) -> int:
        """Index of the variant with the largest ``|t_stat_d|`` (first on ties), or -1."""
        abs_t = np.abs(self.t_stat_d)
        if abs_t.size == 0 or not np.isfinite(abs_t).any():
            return -1
        return int(np.argmax(np.where(np.isfinite(abs_t), abs_t, -np.inf)))


@dataclass
class DosageBlock:
    """Genotypes of a block of variants prepared once and shared by many phenotypes.

    Attributes
    ----------
    s, d : (V, n) float
        ``REFlr + ALTlr`` and ``REFlr - ALTlr``, set to 0 where either dosage is missing.
    observed : (V, n) bool
        Both dosages present.
    """

    s: np.ndarray
    d: np.ndarray
    observed: np.ndarray
    missing_rows: np.ndarray | None = None
    missing_cols: np.ndarray | None = None

    def __post_init__(self):
        if self.missing_rows is None:
            # Coordinates of missing genotypes, row-major: few, and shared by all phenotypes.
            self.missing_rows, self.missing_cols = np.nonzero(~self.observed)

    @classmethod
    def from_dosages(cls, alt: np.ndarray, ref: np.ndarray) -> DosageBlock:
        """s, d and the observed mask from ALTlr and REFlr ((V, n) each; NaN = missing)."""
        from .nominal_compiled import missing_coordinates, split_dosages

        alt = np.asarray(alt, dtype=np.float64)
        ref = np.asarray(ref, dtype=np.float64)
        if alt.ndim != 2 or alt.shape != ref.shape:  # numpy's broadcasting (and its errors)
            s = alt + ref
            observed = np.isfinite(s)
            d = ref - alt
            s[~observed] = 0.0
            d[~observed] = 0.0
            return cls(s, d, observed)
        s = np.empty(alt.shape)
        d = np.empty(alt.shape)
        observed = np.empty(alt.shape, dtype=bool)
        n_missing = split_dosages(alt, ref, s, d, observed)
        if n_missing:
            rows, cols = missing_coordinates(observed, n_missing)
            return cls(
                s, d, observed, rows.astype(np.intp, copy=False), cols.astype(np.intp, copy=False)
            )
        none = np.empty(0, dtype=np.intp)
        return cls(s, d, observed, none, none)

    def missing_in(self, rows: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        """Missing-genotype coordinates restricted to ``rows``, renumbered 0..len(rows)-1."""
        if rows is None:
            return self.missing_rows, self.missing_cols
        if _is_range(rows):
            lo, hi = np.searchsorted(self.missing_rows, [rows[0], rows[-1] + 1])
            return self.missing_rows[lo:hi] - rows[0], self.missing_cols[lo:hi]
        position = np.full(self.observed.shape[0], -1)
        position[rows] = np.arange(rows.size)
        keep = position[self.missing_rows] >= 0
        if np.unique(rows).size != rows.size:
            r, c = np.nonzero(~self.observed[rows])
            return r, c
        return position[self.missing_rows[keep]], self.missing_cols[keep]


def _is_range(rows: np.ndarray) -> bool:
    return (
        rows.size > 0 and rows[-1] - rows[0] + 1 == rows.size and bool(np.all(np.diff(rows) == 1))
    )


@dataclass
class MaskedVariants:
    """Per-variant sample masks of one phenotype, in the form the batched fits use.

    A variant's samples are ``group_mask[gid] & observed``: its segment group's mask minus the
    samples whose genotype is missing (``excluded``, sparse).  ``s_src``/``d_src`` (V, n) are
    the variants' s and d (zero where missing, not masked); ``s``/``d`` are masked copies, zero
    outside each variant's samples, made at first use (in per-process scratch buffers: use
    them before the next variants' copies are made).  ``cols`` are the samples usable for
    some variant.
    """

    cols: np.ndarray
    gid: np.ndarray
    group_f: np.ndarray
    group_mask: np.ndarray
    excluded: sparse.csr_matrix
    observed: np.ndarray
    s_src: np.ndarray
    d_src: np.ndarray
    _masked: tuple[np.ndarray, np.ndarray] | None = None
    #: the block's row of the first variant when the variants are a run of the block's rows
    #: (``s_src`` is then a view of the block), else None
    row0: int | None = None

    def mask(self, v: int) -> np.ndarray:
        """Boolean sample mask of variant ``v``. Shape ``(n,)``."""
        return self.group_mask[self.gid[v]] & self.observed[v]

    @property
    def s(self) -> np.ndarray:
        """Masked s. Shape ``(V, n)``."""
        return self._masked_sd()[0]

    @property
    def d(self) -> np.ndarray:
        """Masked d. Shape ``(V, n)``."""
        return self._masked_sd()[1]

    def _masked_sd(self) -> tuple[np.ndarray, np.ndarray]:
        if self._masked is None:
            n_var, n = self.s_src.shape
            # Scratch buffers are reused: fresh multi-megabyte arrays cost more in page faults
            # than the arithmetic on them.
            mf = _scratch("mf", (n_var, n))
            gid = self.gid
            if np.all(gid[1:] >= gid[:-1]):  # variants in position order: groups are runs
                starts = np.searchsorted(gid, np.arange(self.group_f.shape[0] + 1))
                for g in range(self.group_f.shape[0]):
                    mf[starts[g] : starts[g + 1]] = self.group_f[g]
            else:
                np.take(self.group_f, gid, axis=0, out=mf)
            s = np.multiply(self.s_src, mf, out=_scratch("s", (n_var, n)))
            d = np.multiply(self.d_src, mf, out=_scratch("d", (n_var, n)))
            self._masked = (s, d)
        return self._masked


def mask_variants(
    block: DosageBlock,
    rows: np.ndarray | None,
    base: np.ndarray,
    pos: np.ndarray | None,
    lb: np.ndarray | None,
    ub: np.ndarray | None,
) -> MaskedVariants:
    """Group the variants ``rows`` of ``block`` by segment mask and mask their s and d.

    ``base`` (n,) are the samples usable at all (phenotype, covariates, segment present).
    s and d are not masked here: :class:`MaskedVariants` makes masked copies when asked.
    """
    row0 = None
    if rows is None or _is_range(rows):
        sl = slice(None) if rows is None else slice(rows[0], rows[-1] + 1)
        s_src, d_src, observed = block.s[sl], block.d[sl], block.observed[sl]
        row0 = int(sl.start or 0)
    else:
        s_src, d_src, observed = block.s[rows], block.d[rows], block.observed[rows]
    n_var, n = s_src.shape
    cols = np.flatnonzero(base)
    # Segment groups: variants between two consecutive breakpoints share a segment mask.
    if pos is None:
        gid = np.zeros(n_var, dtype=np.intp)
        group_mask = base[None, :]
    else:
        pos = np.asarray(pos)
        # A variant's mask (segments.segment_mask) is fixed by how many lower bounds are <= pos
        # and how many upper bounds are < pos: equal counts, equal masks (exact for any real
        # bounds), so one representative per group is masked.
        p = pos.astype(np.float64)
        n_lo = np.searchsorted(np.sort(lb[cols]), p, side="right")
        n_hi = np.searchsorted(np.sort(ub[cols]), p, side="left")
        raw = n_lo * (cols.size + 1) + n_hi
        _, first, gid = np.unique(raw, return_index=True, return_inverse=True)
        group_mask = base & segment_mask(pos[first], lb, ub)  # (G, n)
    group_f = group_mask.astype(np.float64)
    # Missing genotypes are handled as corrections (s and d are already zero there).
    r_idx, c_idx = block.missing_in(rows)
    inside = group_mask[gid[r_idx], c_idx]
    r_in, c_in = r_idx[inside], c_idx[inside]
    if r_in.size < 2 or np.all(r_in[1:] >= r_in[:-1]):
        # row-major already (np.nonzero's order): the pattern as it stands, without scipy's
        # conversion from coordinates
        indptr = np.searchsorted(r_in, np.arange(n_var + 1))
        excluded = sparse.csr_matrix(
            (np.ones(r_in.size), c_in.astype(np.int32), indptr.astype(np.int32)),
            shape=(n_var, n),
        )
    else:
        excluded = sparse.csr_matrix((np.ones(r_in.size), (r_in, c_in)), shape=(n_var, n))
    return MaskedVariants(
        cols, gid, group_f, group_mask, excluded, observed, s_src, d_src, row0=row0
    )


def masked_products(mv: MaskedVariants, x: np.ndarray) -> tuple[np.ndarray, ...]:
    """Each variant's sums over its samples of ``s x_j``, ``d x_j``, ``s²``, ``s d``, ``d²``.

    One compiled pass over each variant's s and d (:mod:`.nominal_compiled`).

    Parameters
    ----------
    mv : MaskedVariants
    x : (n, K) float
        Per-sample columns.

    Returns
    -------
    (prod_s, prod_d, ss, sd, dd)
        ``prod_s``/``prod_d`` (V, K), the others (V,).
    """
    from .nominal_compiled import masked_products as kernel

    n_var, n = mv.s_src.shape
    k = x.shape[1]
    # the kernel takes one column at least: without any, a column of zeros whose sums are dropped
    xt = np.ascontiguousarray(x.T) if k else np.zeros((1, n))
    ps = np.empty((n_var, xt.shape[0]))
    pd = np.empty((n_var, xt.shape[0]))
    sq = np.empty((n_var, 3))
    if n_var:
        kernel(mv.s_src, mv.d_src, mv.gid, mv.group_f, xt, ps, pd, sq)
    return ps[:, :k], pd[:, :k], sq[:, 0], sq[:, 1], sq[:, 2]


def masked_products_many(
    block: DosageBlock, requests: list[tuple[MaskedVariants, np.ndarray]]
) -> list[tuple[np.ndarray, ...]]:
    """:func:`masked_products` of several phenotypes' variants of ``block`` at once.

    Each request ``(mv, x)`` is answered as ``masked_products(mv, x)`` would answer it, with the
    same numbers; requests whose variants are runs of the block's rows and whose ``x`` have
    the same number of columns share one pass over the block
    (:func:`.nominal_compiled.masked_products_many`), the others are computed alone.
    """
    from .nominal_compiled import masked_products_many as kernel

    out: list = [None] * len(requests)
    by_width: dict[int, list[int]] = {}
    for i, (mv, x) in enumerate(requests):
        if mv.row0 is not None and mv.s_src.shape[0] and x.shape[1]:
            by_width.setdefault(x.shape[1], []).append(i)
    for shared in by_width.values():
        if len(shared) < 2:
            continue
        mvs = [requests[i][0] for i in shared]
        n_rows = np.array([mv.s_src.shape[0] for mv in mvs])
        start = np.array([mv.row0 for mv in mvs], dtype=np.int64)
        row_ptr = np.concatenate([[0], np.cumsum(n_rows)]).astype(np.int64)
        n_grp = np.array([mv.group_f.shape[0] for mv in mvs])
        grp_ptr = np.concatenate([[0], np.cumsum(n_grp)[:-1]]).astype(np.int64)
        k = requests[shared[0]][1].shape[1]
        xts = np.empty((len(shared), k, block.s.shape[1]))  # C order: the kernel's layout
        for j, i in enumerate(shared):
            xts[j] = requests[i][1].T
        ps = np.empty((row_ptr[-1], k))
        pd = np.empty((row_ptr[-1], k))
        sq = np.empty((row_ptr[-1], 3))
        kernel(
            block.s, block.d, start, start + n_rows, row_ptr,
            np.concatenate([mv.gid for mv in mvs]).astype(np.int64), grp_ptr,
            np.concatenate([mv.group_f for mv in mvs]), xts, ps, pd, sq,
        )  # fmt: skip
        for j, i in enumerate(shared):
            r = slice(row_ptr[j], row_ptr[j + 1])
            out[i] = ps[r], pd[r], sq[r, 0], sq[r, 1], sq[r, 2]
    for i, (mv, x) in enumerate(requests):
        if out[i] is None:
            out[i] = masked_products(mv, x)
    return out


def masked_sums(mv: MaskedVariants, per_sample: np.ndarray) -> np.ndarray:
    """Sum of per-sample values over each variant's samples.

    ``per_sample`` (n, K) -> (V, K): the segment group's sums minus the excluded samples'
    (compiled: :func:`.nominal_compiled.minus_excluded`, the same numbers as
    ``(group_f @ per_sample)[gid] - excluded @ per_sample``).
    """
    from .nominal_compiled import minus_excluded

    out = (mv.group_f @ per_sample)[mv.gid]
    exc = mv.excluded
    if exc.nnz:
        minus_excluded(out, exc.indptr, exc.indices, np.ascontiguousarray(per_sample))
    return out


def symmetric_from_upper(upper: np.ndarray, k: int) -> np.ndarray:
    """(V, k(k+1)/2) upper-triangle entries (``np.triu_indices`` order) -> (V, k, k)."""
    iu, ju = np.triu_indices(k)
    out = np.empty((upper.shape[0], k, k))
    out[:, iu, ju] = upper
    out[:, ju, iu] = upper
    return out


def gram_matrices(qq, qs, qd, ss, sd, dd) -> np.ndarray:
    """Assemble each variant's Gram matrix of (q, s, d) from its blocks.

    ``qq`` (V, k, k), ``qs``/``qd`` (V, k), ``ss``/``sd``/``dd`` (V,) -> (V, k+2, k+2).
    """
    k = qq.shape[1]
    gram = np.empty((qq.shape[0], k + 2, k + 2))
    gram[:, :k, :k] = qq
    gram[:, :k, k] = gram[:, k, :k] = qs
    gram[:, :k, k + 1] = gram[:, k + 1, :k] = qd
    gram[:, k, k] = ss
    gram[:, k, k + 1] = gram[:, k + 1, k] = sd
    gram[:, k + 1, k + 1] = dd
    return gram


def d_is_constant(mv: MaskedVariants, d_sum, dd, n_v, min_samples: int) -> np.ndarray:
    """Population sd of d below 1e-10 on each variant's samples. Shape ``(V,)``.

    One-pass formula from the sums, rechecked two-pass where it is too small to trust.
    """
    with np.errstate(invalid="ignore", divide="ignore"):
        d_mean = d_sum / n_v
        d_var = dd / n_v - d_mean * d_mean
        doubt = d_var <= 1e-8 * (dd / n_v) + 1e-18
        for v in np.flatnonzero(doubt & (n_v >= min_samples)):
            d_var[v] = mv.d_src[v, mv.mask(v)].var()
        return ~(np.sqrt(np.clip(d_var, 0, None)) >= 1e-10)


def nominal_scan(
    y: np.ndarray,
    alt: np.ndarray,
    ref: np.ndarray,
    covariates: np.ndarray,
    pos: np.ndarray | None = None,
    lb: np.ndarray | None = None,
    ub: np.ndarray | None = None,
    *,
    min_samples: int = 30,
    record_aic: bool = False,
) -> NominalStats:
    """Fit ``y ~ 1 + s + d + covariates`` for every variant of one phenotype.

    Parameters
    ----------
    y : (n,) float
        Phenotype; NaN = missing.
    alt, ref : (V, n) float
        ALTlr and REFlr dosages; NaN = missing.
    covariates : (n, c) float
        Extra predictors (phenotype covariate first, then sample covariates); NaN = missing.
        ``c`` may be 0.  The intercept is added here.
    pos : (V,) int, optional
        Variant positions; with ``lb``/``ub`` they define the segment masks.
    lb, ub : (n,) float, optional
        Segment bounds per sample (NaN = sample masked for all variants).  Omit all three for
        no segment filtering.
    min_samples : int
        Variants with fewer usable samples are skipped.
    record_aic : bool
        Also compute the AIC of the null (without d) and alternative models.

    Returns
    -------
    NominalStats
    """
    block = DosageBlock.from_dosages(alt, ref)
    return nominal_scan_block(
        y, block, None, covariates, pos, lb, ub, min_samples=min_samples, record_aic=record_aic
    )


def nominal_scan_block(
    y: np.ndarray,
    block: DosageBlock,
    rows: np.ndarray | None,
    covariates: np.ndarray,
    pos: np.ndarray | None = None,
    lb: np.ndarray | None = None,
    ub: np.ndarray | None = None,
    *,
    min_samples: int = 30,
    record_aic: bool = False,
    max_vif: float | None = None,
) -> NominalStats:
    """:func:`nominal_scan` for the variants ``rows`` (None = all) of a prepared block.

    ``pos`` has one entry per selected variant.  Preparing the block once per work unit
    avoids recomputing s and d for variants shared by overlapping cis windows.  With
    ``max_vif``, a variant whose s or d has a variance inflation factor of at least
    ``max_vif`` given the other columns (e.g. a copy of a conditioning variant among the
    covariates) is ``singular_design``; None keeps the batched solve's own rule only.
    """
    out, steps = _scan_steps(
        y, block, rows, covariates, pos, lb, ub, min_samples, record_aic, max_vif
    )
    if steps is not None:
        _drive(block, [steps])
    return out


def nominal_scan_many(
    block: DosageBlock, jobs: list[dict], *, min_samples: int = 30, record_aic: bool = False
) -> list[NominalStats]:
    """:func:`nominal_scan_block` for several phenotypes on one block, with the same results.

    ``jobs``: one dict per phenotype with the keys ``y``, ``rows``, ``covariates``, ``pos``,
    ``lb``, ``ub`` and ``max_vif`` of :func:`nominal_scan_block`.  The phenotypes' masked
    cross-products are taken in one pass over the block (:func:`masked_products_many`):
    overlapping cis windows read each variant's s and d once instead of once per phenotype.
    Memory grows with the number of jobs (each holds its sums until the products are in):
    callers pass a few phenotypes at a time.
    """
    outs, steps = [], []
    for job in jobs:
        out, st = _scan_steps(
            job["y"], block, job["rows"], job["covariates"], job["pos"], job["lb"], job["ub"],
            min_samples, record_aic, job["max_vif"],
        )  # fmt: skip
        outs.append(out)
        if st is not None:
            steps.append(st)
    _drive(block, steps)
    return outs


def _drive(block: DosageBlock, steps: list) -> None:
    """Run the fits' generators (:func:`_fit`) to their request for masked products, answer
    all requests together, and let the fits finish."""
    waiting, requests = [], []
    for st in steps:
        try:
            requests.append(next(st))
        except StopIteration:  # finished without products (too few samples, singular, ...)
            continue
        waiting.append(st)
    for st, products in zip(waiting, masked_products_many(block, requests), strict=True):
        try:
            st.send(products)
        except StopIteration:
            continue
        raise RuntimeError("a nominal fit asked for masked products twice")


def _scan_steps(y, block, rows, covariates, pos, lb, ub, min_samples, record_aic, max_vif):
    """:func:`nominal_scan_block`'s checks, then its fit as a generator (:func:`_fit`), not
    started; ``(out, None)`` when nothing is left to fit."""
    n_var = block.s.shape[0] if rows is None else len(rows)
    n = block.s.shape[1]
    y = np.asarray(y, dtype=np.float64)
    covariates = np.asarray(covariates, dtype=np.float64).reshape(n, -1)
    out = NominalStats.empty(n_var)
    if n_var == 0:
        return out, None

    base = np.isfinite(y) & np.isfinite(covariates).all(axis=1)
    if pos is not None:
        lb = np.asarray(lb, dtype=np.float64)
        ub = np.asarray(ub, dtype=np.float64)
        base &= ~np.isnan(lb) & ~np.isnan(ub)
    cols = np.flatnonzero(base)
    if cols.size < min_samples:
        return out, None  # status preset to too_few_samples

    mv = mask_variants(block, rows, base, pos, lb, ub)
    design0 = np.column_stack([np.ones(n), covariates])
    return out, _fit(y, design0, mv, min_samples, record_aic, out, max_vif)


def _fit(y, design0, mv: MaskedVariants, min_samples, record_aic, out, max_vif=None):
    """Batched fits for all variants of one phenotype (see module docstring), into ``out``.

    ``y`` (n,), ``design0`` (n, k) = [1, covariates]; ``mv`` the variants' masks.  Every
    masked sum is the segment group's sum minus the excluded samples' terms.

    A generator: it yields once, ``(mv, x)``, and must be sent
    ``masked_products(mv, x)`` (:func:`_drive` answers several phenotypes' requests in one
    pass); it returns without yielding when no variant can be fitted.
    """
    cols = mv.cols
    n, k = design0.shape
    p_alt = k + 2
    if cols.size <= p_alt:  # no variant has more samples than model terms: too_few_samples
        return
    qb, rr = np.linalg.qr(design0[cols])
    if rank_deficient(rr):
        out.status[:] = SINGULAR
        return
    # Samples outside ``cols`` get zero rows: masked for every variant, they must not carry NaN.
    q = np.zeros((n, k))
    q[cols] = qb
    yb = y[cols]
    y_c = np.zeros(n)
    y_c[cols] = yb - qb @ (qb.T @ yb)  # residualised once; exact for every mask (module doc)
    yc0 = np.zeros(n)
    yc0[cols] = yb - yb.mean()

    # Masked sums of per-sample products: per group (G x n) @ (n x K), minus sparse corrections.
    iu, ju = np.triu_indices(k)
    nq = iu.size
    per_sample = np.column_stack(
        [q[:, iu] * q[:, ju], q * y_c[:, None], y_c * y_c, yc0, yc0 * yc0, np.ones(n)]
    )
    prod_m = masked_sums(mv, per_sample)
    qy = prod_m[:, nq : nq + k]
    yy, sum1, sum2 = (prod_m[:, nq + k + i] for i in range(3))
    n_v = np.rint(prod_m[:, nq + k + 3]).astype(np.int64)
    prod_s, prod_d, ss, sd, dd = yield mv, np.column_stack([q, y_c, np.ones(n)])

    const_d = d_is_constant(mv, prod_d[:, k + 1], dd, n_v, min_samples)
    with np.errstate(invalid="ignore", divide="ignore"):
        tss = sum2 - sum1 * sum1 / n_v
        const_y = tss <= 1e-10 * sum2 + 1e-300
        for v in np.flatnonzero(const_y & (n_v >= min_samples)):
            vals = y[mv.mask(v)]
            const_y[v] = not (vals.max() > vals.min())
            if not const_y[v]:
                tss[v] = ((vals - vals.mean()) ** 2).sum()

    status = np.where(
        # a fit needs more samples than terms (a residual degree of freedom), whatever
        # --min-samples allows
        (n_v < min_samples) | (n_v <= p_alt),
        TOO_FEW_SAMPLES,
        np.where(const_y, CONSTANT_PHENOTYPE, np.where(const_d, CONSTANT_D, OK)),
    ).astype(np.int8)
    out.status[:] = status
    keep = np.flatnonzero(status == OK)
    if keep.size == 0:
        return

    from .nominal_compiled import gram_solve

    nk = keep.size
    # Each system is assembled from its parts and solved in one compiled pass: the (q, s, d)
    # Gram matrix against the right-hand sides (qᵀỹ, sᵀỹ, dᵀỹ), e_s and e_d.
    beta = np.empty((nk, p_alt))
    var_s = np.empty(nk)
    var_d = np.empty(nk)
    gram_solve(p_alt)(prod_m, prod_s, prod_d, ss, sd, dd, keep, beta, var_s, var_d)
    xty = np.column_stack([qy[keep], prod_s[keep, k], prod_d[keep, k]])
    nvk = n_v[keep]
    rss = yy[keep] - np.einsum("vp,vp->v", beta, xty)
    df = nvk - p_alt
    with np.errstate(invalid="ignore", divide="ignore"):
        sigma2 = rss / df
        se_s = np.sqrt(np.clip(var_s * sigma2, 0.0, None))
        se_d = np.sqrt(np.clip(var_d * sigma2, 0.0, None))
        b_d = beta[:, k + 1]
        t = np.where((se_d > 0) & np.isfinite(se_d), b_d / se_d, np.nan)
        pval = 2.0 * stdtr(df, -np.abs(t))
        tk = tss[keep]
        r2 = np.where(tk > 0, 1.0 - rss / tk, 0.0)

    out.number_of_samples[keep] = nvk
    out.beta_s[keep] = beta[:, k]
    out.se_s[keep] = se_s
    out.beta_d[keep] = b_d
    out.se_d[keep] = se_d
    out.t_stat_d[keep] = t
    out.nominal_p[keep] = pval
    out.r2_alt[keep] = r2
    if record_aic or max_vif is not None:
        qq = symmetric_from_upper(prod_m[keep, :nq], k)
        gram = gram_matrices(qq, prod_s[keep, :k], prod_d[keep, :k], ss[keep], sd[keep], dd[keep])
    if record_aic:
        b0 = _solve(gram[:, : k + 1, : k + 1], xty[:, : k + 1, None])[:, :, 0]
        rss0 = yy[keep] - np.einsum("vp,vp->v", b0, xty[:, : k + 1])
        out.aic_null[keep] = _aic(nvk, rss0, k + 1)
        out.aic_alt[keep] = _aic(nvk, rss, p_alt)
    bad_rows = ~np.isfinite(beta).all(axis=1)
    # s's and d's sums of squares around their means: with var_s and var_d, their VIFs
    ss_c = ss[keep] - prod_s[keep, k + 1] ** 2 / nvk
    dd_c = dd[keep] - prod_d[keep, k + 1] ** 2 / nvk
    if max_vif is not None:
        # Exact collinearity can make the batched solve return finite garbage, so the design's
        # conditioning is read from the smallest eigenvalue of its unit-diagonal Gram matrix
        # (below 1/max_vif: some column is (almost) a combination of the others), then the
        # VIFs of s and d.
        with np.errstate(invalid="ignore", divide="ignore"):
            scale = 1.0 / np.sqrt(np.einsum("vii->vi", gram))
            unit = gram * scale[:, :, None] * scale[:, None, :]
            ok_eig = np.linalg.eigvalsh(unit)[:, 0] >= 1.0 / max_vif
            ok_vif = (var_s * ss_c < max_vif) & (var_d * dd_c < max_vif)
        bad_rows |= ~(ok_eig & ok_vif)
    with np.errstate(invalid="ignore", divide="ignore"):
        kept_s = (1.0 / var_s) / ss_c
        kept_d = (1.0 / var_d) / dd_c
    near = ~bad_rows & ~((kept_s >= EXACT_REFIT_BELOW) & (kept_d >= EXACT_REFIT_BELOW))
    for j in np.flatnonzero(near):
        v = keep[j]
        m = mv.mask(v)
        fit = exact_fit(y[m], design0[m], mv.s_src[v, m], mv.d_src[v, m], record_aic)
        if fit is None:
            bad_rows[j] = True
            continue
        b_s, se_s_v, b_d_v, se_d_v, rss_v, rss0_v = fit
        df_v = nvk[j] - p_alt
        t_v = b_d_v / se_d_v if se_d_v > 0 and np.isfinite(se_d_v) else np.nan
        out.beta_s[v], out.se_s[v], out.beta_d[v], out.se_d[v] = b_s, se_s_v, b_d_v, se_d_v
        out.t_stat_d[v] = t_v
        out.nominal_p[v] = 2.0 * stdtr(df_v, -abs(t_v))
        out.r2_alt[v] = 1.0 - rss_v / tss[v] if tss[v] > 0 else 0.0
        if record_aic:
            out.aic_null[v] = _aic(nvk[j : j + 1], np.array([rss0_v]), k + 1)[0]
            out.aic_alt[v] = _aic(nvk[j : j + 1], np.array([rss_v]), p_alt)[0]
    bad = keep[bad_rows]
    if bad.size:
        out.status[bad] = SINGULAR
        out.number_of_samples[bad] = 0
        for f in STAT_FIELDS:
            getattr(out, f)[bad] = np.nan


def rank_deficient(r: np.ndarray) -> bool:
    """Whether the R of a design's QR marks it rank-deficient: a diagonal entry at or below
    1e-10 times the largest entry (at least 1), the covariates' rule of
    docs/methods.md#nominal-model.

    Parameters
    ----------
    r : ndarray, shape (k, k)
        The triangular factor of ``np.linalg.qr(design)``.

    Returns
    -------
    bool
    """
    return bool(np.abs(np.diag(r)).min() <= 1e-10 * max(1.0, np.abs(r).max()))


def exact_fit(y, design0, s, d, null_rss: bool = False):
    """One variant's OLS ``y ~ design0 + s + d`` from its samples, by QR (near-collinear case).

    Parameters
    ----------
    y : (m,) float
    design0 : (m, k) float
        ``[1, covariates]`` on the variant's samples.
    s, d : (m,) float
    null_rss : bool
        Also the residual sum of squares without d.

    Returns
    -------
    tuple or None
        ``(beta_s, se_s, beta_d, se_d, rss, rss0)`` (``rss0`` NaN unless ``null_rss``); None
        when the design is rank-deficient on these samples: s, or d given s, within
        :data:`RESIDUAL_NORM_MIN` of the other columns' span, or a column of ``[design0, s, d]``
        explained by the ones before it (the QR rule of the phenotype-level check).
    """
    x = np.column_stack([design0, s, d])
    qx, rx = np.linalg.qr(x)
    # the covariates may be rank-deficient on this variant's samples alone (a covariate constant
    # on its segment): the rule of the phenotype-level check (docs/methods.md#nominal-model)
    if rank_deficient(rx):
        return None
    # |R_jj| is the norm of column j's residual on the columns before it: s on design0, d on
    # [design0, s]
    diag = np.abs(np.diag(rx))
    if not (diag[-2] >= RESIDUAL_NORM_MIN and diag[-1] >= RESIDUAL_NORM_MIN):
        return None
    beta = np.linalg.solve(rx, qx.T @ y)
    resid = y - x @ beta
    rss = float(resid @ resid)
    # diagonal of (XᵀX)⁻¹ = R⁻¹R⁻ᵀ for the last two columns
    rinv = np.linalg.solve(rx, np.eye(x.shape[1]))
    var = (rinv[-2:] ** 2).sum(axis=1)
    sigma2 = rss / (x.shape[0] - x.shape[1])
    se = np.sqrt(np.clip(var * sigma2, 0.0, None))
    # without d the residual gains y's component along d's orthonormal direction
    rss0 = rss + float(qx[:, -1] @ y) ** 2 if null_rss else np.nan
    return float(beta[-2]), float(se[0]), float(beta[-1]), float(se[1]), rss, rss0


_SCRATCH: dict[str, np.ndarray] = {}


def _scratch(name: str, shape: tuple[int, int]) -> np.ndarray:
    """A reusable float64 work array of ``shape`` (contents undefined), per process."""
    size = shape[0] * shape[1]
    buf = _SCRATCH.get(name)
    if buf is None or buf.size < size:
        buf = _SCRATCH[name] = np.empty(max(size, 1 << 16))
    return buf[:size].reshape(shape)


def _aic(n: np.ndarray, rss: np.ndarray, k: int) -> np.ndarray:
    """Gaussian OLS AIC with the MLE variance; NaN where undefined (as the reference)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        aic = n * (np.log(2.0 * np.pi) + 1.0 + np.log(rss / n)) + 2.0 * k
    return np.where((rss > 0) & (n > k), aic, np.nan)


def _solve(gram: np.ndarray, rhs: np.ndarray) -> np.ndarray:
    """Batched solve, (V, p, p) and (V, p, r) -> (V, p, r); NaN for a singular system (an
    exactly zero pivot in the elimination: :func:`.nominal_compiled.batched_solve`).  Compiled:
    numpy's batched solve costs about a microsecond per small system."""
    from .nominal_compiled import batched_solve

    out = np.empty(rhs.shape)
    if gram.shape[0]:
        batched_solve(np.ascontiguousarray(gram), np.ascontiguousarray(rhs), out)
    return out


def warm_up() -> None:
    """Compile (or load from numba's cache) the compiled kernels with a tiny scan: variants
    with segment masks and a missing genotype, two phenotypes sharing their masked products
    (as runs do, :func:`nominal_scan_many`) and one alone."""
    rng = np.random.default_rng(0)
    n, n_var = 40, 4
    alt = rng.integers(0, 3, (n_var, n)).astype(float)
    ref = rng.integers(0, 3, (n_var, n)).astype(float)
    alt[0, 0] = np.nan
    lb = np.full(n, 900.0)
    lb[0] = 1015.0
    ub = np.full(n, 2000.0)
    pos = np.arange(1000, 1000 + 10 * n_var, 10)
    cov = rng.standard_normal((n, 1))
    nominal_scan(rng.standard_normal(n), alt, ref, cov, pos, lb, ub, min_samples=10)
    block = DosageBlock.from_dosages(alt, ref)
    rows = np.arange(n_var)
    job = dict(rows=rows, covariates=cov, pos=pos, lb=lb, ub=ub, max_vif=None)
    jobs = [dict(job, y=rng.standard_normal(n)) for _ in range(2)]
    nominal_scan_many(block, jobs, min_samples=10)
