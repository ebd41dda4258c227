"""Typed work-unit payloads and the one decoder every worker uses.

The parent process reads a unit's inputs from the warehouse into a :class:`UnitPayload`
(:mod:`segqtl.warehouse.reads`, :mod:`segqtl.warehouse.validate_reads`) and ships it to a
worker, which decodes each cohort's slice with :class:`UnitCohort`.  This module does not touch
DuckDB: the warehouse imports it, never the other way round.

A payload is the same shape in every mode: the main cohort's slice, the validation cohort's
slice (validate only), the mode's parameters and its extras (validate's finemap rows).

A slice's genotypes come in one of two forms, which the decoder reads alike: the paths of a
chromosome's ``.npy`` files that the worker memory-maps (:class:`GenotypeFiles`: the local pool,
or Dask workers that share the parent's scratch folder), or the unit's own rows read by the
parent and shipped with the payload (:class:`GenotypeRows`, :func:`ship_genotypes`: Dask
workers without a shared file system).  The rows are the same numbers either way.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from functools import cached_property
from typing import TYPE_CHECKING

import numpy as np
import polars as pl

from ..kernels.normalize import normalize_rows
from ..kernels.segments import sample_bounds

if TYPE_CHECKING:
    # the kernels load scipy: imported where a worker decodes genotypes, not by the run's parent
    from ..kernels.nominal import DosageBlock
    from ..kernels.options import FinemapParams, ValidateOptions


@dataclass(frozen=True)
class GenotypeFiles:
    """One chromosome's dosages as ``.npy`` files that workers memory-map.

    ``alt``/``ref``: (V, n) float64, row = variant_idx, NaN = missing; ``pos``: (V,) int64.
    """

    chrom: str
    alt: str
    ref: str
    pos: str
    n_variants: int


@dataclass(frozen=True, eq=False)
class GenotypeRows:
    """A unit's genotype rows, shipped with its payload (:func:`ship_genotypes`).

    Row i is the slice's ``rows[i]`` (every variant of the chromosome when ``rows`` is None).

    Attributes
    ----------
    chrom : str
        The variants' chromosome.
    alt, ref : ndarray, shape (r, n)
        float64 dosages, NaN = missing.
    pos : ndarray of int64, shape (r,)
        Positions.
    n_variants : int
        Variants of the chromosome (V), as in :class:`GenotypeFiles`.
    """

    chrom: str
    alt: np.ndarray
    ref: np.ndarray
    pos: np.ndarray
    n_variants: int


@dataclass(frozen=True, eq=False)
class CohortSlice:
    """One cohort's part of a work unit, as read from the warehouse.

    Attributes
    ----------
    cohort : str
        The cohort's name.
    n_samples : int
        Samples of the cohort (n); every list column below has n entries in sample order.
    phenotypes : polars.DataFrame, (m rows)
        ``phenotype_idx``, ``gene_id``, ``values``, ``pcov``, ``cn`` (lists of n floats;
        ``pcov``/``cn`` null where the cohort has none), ordered by phenotype_idx.  The
        validation cohort's slice also has ``main_phenotype_idx``, the main phenotype each row
        validates (its ``phenotype_idx`` is the validation cohort's own row).
    covariates : polars.DataFrame, (c rows)
        ``name``, ``values`` (list of n floats), in covariate order.
    genotypes : GenotypeFiles, GenotypeRows or None
        The variants' chromosome (for negative controls the next chromosome) as files, or
        ``rows``' dosages shipped with the unit; None when the cohort has no genotypes on it
        (every window is then empty).
    rows : ndarray of int, shape (r,), or None
        Sorted unique variant_idx the unit reads; None = every variant of ``genotypes``
        (negative controls).  The runner copies genotype rows up to ``rows[-1]`` to scratch.
    pairs : polars.DataFrame or None
        ``phenotype_idx``, ``variant_idx``: each phenotype's cis window, ordered by phenotype
        then variant (docs/methods.md#cis-window); None for negative controls.
    bounds : polars.DataFrame or None
        ``phenotype_idx``, ``sample_idx``, ``lb``, ``ub``: each usable sample's segment bounds
        (docs/methods.md#segment-mask); None for negative controls.
    variant_ids : list of str or None
        IDs of ``rows``, aligned with it (labels of finemap's R² variants and validate's
        shared variants); None when the mode does not need them.
    """

    cohort: str
    n_samples: int
    phenotypes: pl.DataFrame
    covariates: pl.DataFrame
    genotypes: GenotypeFiles | GenotypeRows | None
    rows: np.ndarray | None
    pairs: pl.DataFrame | None
    bounds: pl.DataFrame | None
    variant_ids: list[str] | None
    #: ``--normalize``: applied to each phenotype's values by the worker (UnitCohort)
    normalize: str = "none"

    @property
    def covariate_names(self) -> list[str]:
        """The covariates' names, in covariate order (c)."""
        return self.covariates["name"].to_list()


@dataclass(frozen=True)
class NominalParams:
    """What a nominal or perm worker needs besides the data (values from the RunSpec).

    ``perm``: whether the unit also runs the permutation scan (perm mode); ``all_variants``:
    every cis variant is reported, not only the best one.
    """

    min_samples: int
    record_aic: bool
    all_variants: bool
    neg_control_max_variants: int
    perm: bool
    num_permutations: int
    perm_method: str
    seed: int
    #: variant_idx on the unit's chromosome of the --condition-on variants (computed per unit)
    condition_on_idx: tuple[int, ...] = field(default=(), metadata={"computed": True})


@dataclass(frozen=True, eq=False)
class UnitPayload:
    """Everything a worker needs for one unit, in every mode.

    Attributes
    ----------
    main : CohortSlice
        The analysed (main) cohort.
    params : NominalParams or FinemapParams
        The model's parameters: :class:`NominalParams` for nominal and perm units,
        :class:`~segqtl.kernels.finemap.FinemapParams` for finemap and validate ones.
    val : CohortSlice or None
        The validation cohort's rows of the same genes (validate only).
    options : ValidateOptions or None
        validate's own options (:class:`~segqtl.kernels.validate_pipeline.ValidateOptions`;
        validate only).
    finemap_rows : polars.DataFrame or None
        validate's source of β/λ/π: ``phenotype_idx``, ``variant``, ``mean_d``, ``sd_d``,
        ``stability_score``, ``lambda_selected``, ``beta_full`` (a stored finemap run's or a
        ``finemap_<C>.csv``'s rows, in their order); None = re-fit in the worker.
    min_observed : int
        ``--min-samples-observed`` (0: no rule); with ``worker``, the mode's worker that
        :func:`segqtl.engine.observed.compute_unit` calls on the remaining pairs.
    """

    main: CohortSlice
    params: NominalParams | FinemapParams
    val: CohortSlice | None = None
    options: ValidateOptions | None = None
    finemap_rows: pl.DataFrame | None = None
    #: ``--min-samples-observed`` (segqtl/engine/observed.py): pairs with fewer samples whose
    #: phenotype and genotype are both observed are left out before ``worker`` computes
    min_observed: int = 0
    worker: str | None = None


def params_from_spec(cls, spec, **computed):
    """``cls`` (a parameter dataclass) filled from ``spec``: each field is the spec's attribute
    of the same name unless ``computed`` gives it (fields that are not spec attributes).

    Defaults come from the RunSpec only, never from here; a field marked
    ``metadata={"computed": True}`` keeps its dataclass default unless ``computed`` gives it.
    """
    values = {
        f.name: computed[f.name] if f.name in computed else getattr(spec, f.name)
        for f in fields(cls)
        if f.name in computed or not f.metadata.get("computed")
    }
    return cls(**values)


def list_matrix(series: pl.Series, width: int) -> np.ndarray:
    """A list or array column of ``width`` floats per row as a ``(rows, width)`` array.

    Nulls (missing values, or a row without the list) become NaN.
    """
    if series.len() == 0:
        return np.empty((0, width))
    if series.dtype == pl.Null or series.null_count() == series.len():
        return np.full((series.len(), width), np.nan)
    if not isinstance(series.dtype, pl.Array):
        series = series.list.to_array(width)
    return np.asarray(series.cast(pl.Array(pl.Float64, width)).to_numpy(), dtype=np.float64)


def read_rows(
    genotypes: GenotypeFiles, rows: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``rows`` (sorted variant_idx, None = all) of the memory-mapped files.

    Returns
    -------
    alt, ref : ndarray, shape (r, n)
        Views of the files for a contiguous range (read without a copy), else copies.
    pos : ndarray, shape (r,)
    vidx : ndarray of int, shape (r,)
        Each row's variant_idx.
    """
    alt = np.load(genotypes.alt, mmap_mode="r")
    ref = np.load(genotypes.ref, mmap_mode="r")
    pos = np.load(genotypes.pos, mmap_mode="r")
    if rows is None:
        sel: slice | np.ndarray = slice(None)
        vidx = np.arange(alt.shape[0])
    elif rows.size and rows[-1] - rows[0] + 1 == rows.size:
        sel = slice(int(rows[0]), int(rows[-1]) + 1)  # a contiguous range reads without a copy
        vidx = rows
    else:
        sel = rows
        vidx = rows
    return alt[sel], ref[sel], pos[sel], vidx


def load_block(
    genotypes: GenotypeFiles | GenotypeRows, rows: np.ndarray | None
) -> tuple[DosageBlock, np.ndarray, np.ndarray]:
    """Dosages of ``rows`` (sorted variant_idx, None = all), from the memory-mapped files or
    the rows shipped with the unit.

    Returns
    -------
    block : DosageBlock
        Shape (r, n).
    vidx : ndarray of int, shape (r,)
        Each block row's variant_idx.
    pos : ndarray of int, shape (r,)
        Each block row's position.
    """
    if isinstance(genotypes, GenotypeRows):
        alt, ref, pos = genotypes.alt, genotypes.ref, genotypes.pos
        vidx = np.arange(genotypes.n_variants) if rows is None else rows
    else:
        alt, ref, pos, vidx = read_rows(genotypes, rows)
    from ..kernels.nominal import DosageBlock

    return DosageBlock.from_dosages(alt, ref), vidx, np.asarray(pos)


def ship_genotypes(payload: UnitPayload) -> UnitPayload:
    """``payload`` with each slice's genotype files replaced by the rows the unit reads.

    For workers that do not share the parent's file system: the parent reads exactly the
    slice's ``rows`` (every variant for a negative control, whose windows span the whole
    chromosome) from its memory-mapped files, and the worker decodes them as it would have
    read them (:func:`load_block`), so the numbers are the same bit for bit.
    """
    parts = {}
    for role in ("main", "val"):
        part = getattr(payload, role)
        if part is not None and isinstance(part.genotypes, GenotypeFiles):
            alt, ref, pos, _ = read_rows(part.genotypes, part.rows)
            shipped = GenotypeRows(
                part.genotypes.chrom,
                np.array(alt, dtype=np.float64),  # copies: in memory, not views of the files
                np.array(ref, dtype=np.float64),
                np.array(pos, dtype=np.int64),
                part.genotypes.n_variants,
            )
            parts[role] = replace(part, genotypes=shipped)
    return replace(payload, **parts) if parts else payload


def genotype_paths(payload: UnitPayload) -> list[str]:
    """The genotype files a worker would open for ``payload`` (none once shipped)."""
    return [
        path
        for part in (payload.main, payload.val)
        if part is not None and isinstance(part.genotypes, GenotypeFiles)
        for path in (part.genotypes.alt, part.genotypes.ref, part.genotypes.pos)
    ]


class UnitCohort:
    """One cohort's slice of a unit, decoded for the worker.

    The phenotype matrices are decoded at construction; the genotypes when first asked for, in
    the form the worker's kernels take (:meth:`block` for nominal and perm, :meth:`differences`
    for finemap and validate).

    Parameters
    ----------
    cohort : CohortSlice

    Attributes
    ----------
    n : int
        Samples.
    idx : ndarray of int, shape (m,)
        phenotype_idx of each phenotype (row i of the matrices below).
    y : ndarray, shape (m, n)
        Phenotype values, NaN = missing.
    cn, pcov : ndarray, shape (m, n)
        Copy number and phenotype covariate; the rows of phenotypes without one are NaN.
    cn_present, pcov_present : ndarray of bool, shape (m,)
        Whether phenotype i has copy number / a phenotype covariate.
    cov : ndarray, shape (c, n)
        Sample covariates, in covariate order.
    rows : ndarray of int, shape (r,), or None
        As in :class:`CohortSlice`.
    ids : list of str or None
        ``variant_ids`` of the slice (aligned with ``rows``).
    """

    def __init__(self, cohort: CohortSlice):
        self.slice = cohort
        n = self.n = cohort.n_samples
        phen = cohort.phenotypes
        self.idx = phen["phenotype_idx"].to_numpy()
        self.y = normalize_rows(list_matrix(phen["values"], n), cohort.normalize)
        self.cn = list_matrix(phen["cn"], n)
        self.pcov = list_matrix(phen["pcov"], n)
        self.cn_present = (~phen["cn"].is_null()).to_numpy()
        self.pcov_present = (~phen["pcov"].is_null()).to_numpy()
        self.cov = list_matrix(cohort.covariates["values"], n)
        self.rows = cohort.rows
        self.ids = cohort.variant_ids
        if cohort.pairs is not None:
            self._p_ph = cohort.pairs["phenotype_idx"].to_numpy()
            self._p_row = np.searchsorted(self.rows, cohort.pairs["variant_idx"].to_numpy())
            b = cohort.bounds
            self._b_ph = b["phenotype_idx"].to_numpy()
            self._b_s = b["sample_idx"].to_numpy()
            self._b_lb = b["lb"].to_numpy().astype(np.float64)
            self._b_ub = b["ub"].to_numpy().astype(np.float64)

    @property
    def cis(self) -> bool:
        """Whether the slice has cis windows and segment bounds (False: negative control)."""
        return self.slice.pairs is not None

    def block(self) -> tuple[DosageBlock, np.ndarray, np.ndarray]:
        """``rows``' genotypes as the nominal kernels take them (read once).

        Returns
        -------
        :func:`load_block`'s block (r, n), variant_idx (r,) and positions (r,); with ``rows``
        None, every variant of the chromosome.
        """
        return self._block

    def differences(self) -> tuple[np.ndarray, np.ndarray]:
        """``rows``' genotypes as finemap and validate take them (read once).

        Returns
        -------
        d_rows : ndarray, shape (r, n)
            ``REF − ALT``, NaN = missing; no rows when the cohort has no genotypes on the
            chromosome (every window is then empty).
        pos_rows : ndarray of int, shape (r,)
            Positions.
        """
        return self._differences

    @cached_property
    def _block(self) -> tuple[DosageBlock, np.ndarray, np.ndarray]:
        return load_block(self.slice.genotypes, self.rows)

    @cached_property
    def _differences(self) -> tuple[np.ndarray, np.ndarray]:
        genotypes = self.slice.genotypes
        if genotypes is None:
            return np.empty((0, self.n)), np.empty(0, dtype=np.int64)
        if isinstance(genotypes, GenotypeRows):  # shipped: exactly ``rows``
            alt, ref, pos = genotypes.alt, genotypes.ref, genotypes.pos
        else:
            alt = np.load(genotypes.alt, mmap_mode="r")[self.rows]
            ref = np.load(genotypes.ref, mmap_mode="r")[self.rows]
            pos = np.load(genotypes.pos, mmap_mode="r")[self.rows]
        d = np.asarray(ref, dtype=np.float64) - np.asarray(alt, dtype=np.float64)
        return d, np.asarray(pos)

    def window(self, i: int) -> np.ndarray:
        """Phenotype i's cis window: positions in ``rows`` (the rows of :meth:`block` and
        :meth:`differences`) of its variants, in variant order; shape (w,)."""
        return self._p_row[self._p_ph == self.idx[i]]

    def bounds(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        """Phenotype i's per-sample segment bounds ``(lb, ub)``, each shape (n,); NaN masks the
        sample for every variant (docs/methods.md#segment-mask)."""
        sel = self._b_ph == self.idx[i]
        return sample_bounds(self.n, self._b_s[sel], self._b_lb[sel], self._b_ub[sel])


__all__ = [
    "CohortSlice",
    "GenotypeFiles",
    "GenotypeRows",
    "NominalParams",
    "UnitCohort",
    "UnitPayload",
    "genotype_paths",
    "list_matrix",
    "load_block",
    "params_from_spec",
    "read_rows",
    "ship_genotypes",
]
