"""Principal components of the samples, as covariates (docs/methods.md#principal-components).

Features (phenotypes or variants) are rows and samples columns, as the warehouse stores them.
Each feature is standardised over the samples where it is observed: missing values are set to
the feature's mean (0 after centring, so they pull no component), and the feature is scaled to
unit variance; features observed in fewer than two samples or constant there are left out.

Phenotype PCs use scikit-learn's :class:`~sklearn.decomposition.PCA` on the standardised
(samples x phenotypes) matrix.  Genotype PCs would need the (samples x variants) matrix, which
for a genome does not fit in memory; the same components come from the samples' Gram matrix
``Z'Z`` (n x n), accumulated over blocks of variants (:class:`GramAccumulator`), through
scikit-learn's :class:`~sklearn.decomposition.KernelPCA` with that matrix as a precomputed
linear kernel.  Either way a component's sign is fixed so that its largest score (by absolute
value; the first such sample on ties) is positive.
"""

from __future__ import annotations

import numpy as np


def standardize(x: np.ndarray) -> np.ndarray:
    """Standardised features, missing values at the mean.

    Parameters
    ----------
    x : ndarray, shape (f, n)
        Features by samples, NaN = missing.

    Returns
    -------
    ndarray, shape (f', n)
        The usable features (observed in at least two samples, not constant there), each
        centred and scaled to unit variance over its observed samples, 0 where missing.
    """
    x = np.asarray(x, dtype=np.float64)
    observed = ~np.isnan(x)
    count = observed.sum(axis=1)
    filled = np.where(observed, x, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = filled.sum(axis=1) / count
        centred = np.where(observed, x - mean[:, None], 0.0)
        sd = np.sqrt((centred**2).sum(axis=1) / (count - 1))
    usable = (count >= 2) & np.isfinite(sd) & (sd > 1e-12 * np.maximum(1.0, np.abs(mean)))
    return centred[usable] / sd[usable, None]


def _fix_signs(scores: np.ndarray) -> np.ndarray:
    """``scores`` (k, n) with each row's largest-magnitude entry positive."""
    if scores.size == 0:
        return scores
    lead = scores[np.arange(scores.shape[0]), np.argmax(np.abs(scores), axis=1)]
    return scores * np.where(lead < 0, -1.0, 1.0)[:, None]


def check_components(k: int, n_samples: int, n_features: int, what: str) -> None:
    """Raise ``ValueError`` (worded for the user) unless ``k`` components can be computed.

    At most ``n_features - 1``: ``n_features`` components span every feature, so each phenotype
    would be fitted exactly by its own PCs (residuals of rounding noise only).
    """
    limit = min(n_samples - 1, n_features - 1)
    if k > limit:
        raise ValueError(
            f"{k} {what} principal components asked for, but {n_samples} samples and "
            f"{n_features} usable {what}s give at most {max(limit, 0)}"
        )


def phenotype_pcs(y: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The first ``k`` principal components of the phenotypes.

    Parameters
    ----------
    y : ndarray, shape (m, n)
        Phenotypes by samples (as analysed: after any normalisation), NaN = missing.
    k : int
        Components.

    Returns
    -------
    scores : ndarray, shape (k, n)
        Each component's value per sample.
    ratio : ndarray, shape (k,)
        The share of the standardised phenotypes' variance each component explains.
    """
    from sklearn.decomposition import PCA

    z = standardize(y)
    check_components(k, z.shape[1], z.shape[0], "phenotype")
    pca = PCA(n_components=k, svd_solver="full")
    scores = pca.fit_transform(z.T).T
    return _fix_signs(scores), np.asarray(pca.explained_variance_ratio_)


class GramAccumulator:
    """``Z'Z`` over blocks of standardised features, for :func:`gram_pcs`.

    Parameters
    ----------
    n : int
        Samples.
    """

    def __init__(self, n: int):
        self.gram = np.zeros((n, n))
        self.n_features = 0

    def add(self, block: np.ndarray) -> None:
        """Add a block of raw features, shape (f, n), NaN = missing (standardised here)."""
        z = standardize(block)
        if z.shape[0]:
            self.gram += z.T @ z
            self.n_features += z.shape[0]


def gram_pcs(acc: GramAccumulator, k: int, what: str = "variant") -> tuple[np.ndarray, np.ndarray]:
    """The first ``k`` principal components from an accumulated Gram matrix.

    Returns
    -------
    scores : ndarray, shape (k, n)
        Equal (up to rounding) to :func:`phenotype_pcs`'s on the same features.
    ratio : ndarray, shape (k,)
        Share of the standardised features' variance each component explains.
    """
    from sklearn.decomposition import KernelPCA

    n = acc.gram.shape[0]
    check_components(k, n, acc.n_features, what)
    kpca = KernelPCA(n_components=k, kernel="precomputed", eigen_solver="dense")
    scores = kpca.fit_transform(acc.gram).T
    # the features are centred, so the kernel's trace is n - 1 times their total variance
    # (as PCA's explained_variance_ divides by n - 1, the ratio is the same)
    total = np.trace(acc.gram)
    ratio = np.asarray(kpca.eigenvalues_) / total if total > 0 else np.zeros(k)
    return _fix_signs(scores), ratio


__all__ = ["GramAccumulator", "check_components", "gram_pcs", "phenotype_pcs", "standardize"]
