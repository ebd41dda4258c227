"""Reading a work unit's inputs from the warehouse: typed payloads
(:class:`segqtl.engine.units.UnitPayload`) of polars frames and row numbers, plus the scratch
genotype files the workers memory-map."""

from __future__ import annotations

import errno
import os
import shutil
from pathlib import Path

import duckdb
import numpy as np
import polars as pl

from ..engine.units import CohortSlice, GenotypeFiles, NominalParams, UnitPayload, params_from_spec
from ..errors import SegqtlError, UsageError
from ..kernels.options import FinemapParams
from ..paths import nearest_existing
from ..spec import RunSpec
from .db import bind_sql, fetch_one, genotype_table, query_pl


def cohort_info(con: duckdb.DuckDBPyConnection, cohort: str) -> dict:
    """n_samples, has_copynumber, has_phenotype_covariate, checksum and genotype_table."""
    keys = ("n_samples", "has_copynumber", "has_phenotype_covariate", "checksum", "cohort_id")
    row = fetch_one(con, f"SELECT {', '.join(keys)} FROM cohorts WHERE cohort = ?", [cohort])
    if row is None:
        raise UsageError(f"cohort {cohort!r} is not in the warehouse. Fix: ingest it first")
    info = dict(zip(keys, row, strict=True))
    info["genotype_table"] = genotype_table(info["cohort_id"])
    info["cohort"] = cohort
    return info


def _drops_redundant(mode: str | None) -> bool:
    """Whether ``mode``'s least-squares designs leave out constant and collinear covariates
    (each would make every phenotype ``singular_design``; ``Mode.drops_redundant_covariates``).
    finemap and validate keep every covariate as SegmentQTL does (a constant block stays a raw
    column; validate matches blocks by position between the cohorts; docs/methods.md)."""
    from .. import modes

    return mode is not None and modes.get(mode).drops_redundant_covariates


def covariates_frame(con, cohort: str, mode: str | None = None) -> pl.DataFrame:
    """The cohort's covariates of a ``mode`` run's model (``name``, ``values``), in order.

    For modes that declare ``drops_redundant_covariates``, constant covariates and linear
    combinations of earlier ones are left out (:func:`segqtl.ingest.covariates.
    redundant_covariates`; the run records a warning: :func:`covariate_warnings`).
    """
    frame = _covariates(con, cohort)
    if not _drops_redundant(mode):
        return frame
    dropped = {name for name, _ in redundant_covariates_of(frame)}
    return frame.filter(~pl.col("name").is_in(list(dropped))) if dropped else frame


def _covariates(con, cohort: str) -> pl.DataFrame:
    return con.sql(
        'SELECT name, "values" FROM covariates WHERE cohort = $cohort ORDER BY cov_idx',
        params={"cohort": cohort},
    ).pl()


def redundant_covariates_of(frame: pl.DataFrame) -> list[tuple[str, str]]:
    """:func:`~segqtl.ingest.covariates.redundant_covariates` of a covariates frame."""
    from ..ingest.covariates import redundant_covariates

    if frame.height == 0:
        return []
    values = np.array(
        [[np.nan if v is None else v for v in row] for row in frame["values"].to_list()],
        dtype=np.float64,
    )
    return redundant_covariates(frame["name"].to_list(), values)


def covariate_warnings(con, cohort: str, mode: str) -> list[str]:
    """The warning a ``mode`` run of ``cohort`` records about covariates it leaves out (or
    none)."""
    from ..ingest.covariates import covariate_warning

    if not _drops_redundant(mode):
        return []
    dropped = redundant_covariates_of(_covariates(con, cohort))
    return [covariate_warning(dropped, f"cohort {cohort}")] if dropped else []


def has_genotypes(con, info: dict, chrom: str) -> bool:
    """Whether the cohort has any variant on ``chrom``."""
    table = info["genotype_table"]
    return fetch_one(con, f"SELECT count(*) FROM {table} WHERE chr = ?", [chrom])[0] > 0


def genotype_cache() -> Path | None:
    """Where complete genotype copies are kept between runs (:class:`GenotypeExport`).

    ``$SEGQTL_CACHE`` names the folder (``off`` disables the cache); by default
    ``segqtl-cache`` in ``$SEGQTL_TMPDIR`` or the system's temporary folder.  Deleting it is
    always safe: the next run copies again.
    """
    import tempfile

    setting = os.environ.get("SEGQTL_CACHE", "")
    if setting.lower() in ("off", "0", "no", "false"):
        return None
    if setting:
        return Path(setting)
    return Path(os.environ.get("SEGQTL_TMPDIR") or tempfile.gettempdir()) / "segqtl-cache"


def cached_folder(info: dict, cache: Path) -> Path:
    """The cache folder of a cohort's genotype copies (see :class:`GenotypeExport`)."""
    return Path(cache) / f"{info['checksum'][:24]}-{info['genotype_table']}"


#: The genotype cache's size limit unless ``$SEGQTL_CACHE_MAX`` sets one: this share of the
#: file system that holds it.
CACHE_MAX_DEFAULT = "25%"
_UNITS = {"": 1, "K": 10**3, "M": 10**6, "G": 10**9, "T": 10**12}


def parse_cache_max(text: str) -> tuple[float, bool]:
    """``$SEGQTL_CACHE_MAX`` as ``(value, is_share)``: bytes (``500M``, ``20G``, ``1.5T``, a
    plain number; decimal units, an optional trailing ``B``) or a share of the cache's file
    system (``10%``).

    Raises
    ------
    ValueError
        Not such a value.
    """
    raw = text.strip().upper().replace(" ", "")
    if raw.endswith("%"):
        share = float(raw[:-1])
        if not 0 <= share <= 100:
            raise ValueError(text)
        return share / 100.0, True
    raw = raw[:-1] if raw.endswith("B") else raw
    unit = raw[-1:] if raw[-1:] in _UNITS and raw[-1:] else ""
    value = float(raw[: len(raw) - len(unit)]) * _UNITS[unit]
    if not value >= 0 or value == float("inf"):
        raise ValueError(text)
    return value, False


def cache_limit(cache: Path) -> int:
    """Bytes the genotype cache at ``cache`` may hold (``$SEGQTL_CACHE_MAX``, else
    :data:`CACHE_MAX_DEFAULT`)."""
    value, share = parse_cache_max(os.environ.get("SEGQTL_CACHE_MAX") or CACHE_MAX_DEFAULT)
    if not share:
        return int(value)
    existing = nearest_existing(cache) or cache
    return int(value * shutil.disk_usage(existing).total)


def _entry_lock(folder: Path, exclusive: bool) -> int | None:
    """A lock on a cache entry (``<folder>.lock``): shared while a run uses the entry (blocks
    while it is being evicted), exclusive and non-blocking to evict it.  The open descriptor,
    or None when the exclusive lock is taken by a run or the lock file cannot be made."""
    import fcntl

    try:
        fd = os.open(str(folder) + ".lock", os.O_RDWR | os.O_CREAT, 0o644)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB if exclusive else fcntl.LOCK_SH)
    except OSError:
        os.close(fd)
        return None
    return fd


def trim_cache(cache: Path, limit: int, keep: Path | None = None) -> list[Path]:
    """Delete the least recently used entries of the genotype cache until it holds at most
    ``limit`` bytes; never ``keep`` (the entry just written) nor an entry a run is using.

    An entry's last use is its newest ``.done`` marker (touched on every cache hit).  Its
    markers go first, so a run that finds no marker copies the chromosome again.

    Returns
    -------
    list of Path
        The entries deleted.
    """
    entries = []
    for folder in Path(cache).iterdir() if Path(cache).is_dir() else ():
        if not folder.is_dir():
            continue
        size, last = 0, 0.0
        for f in folder.iterdir():
            try:
                st = f.stat()
            except OSError:
                continue
            size += st.st_blocks * 512  # what the (possibly sparse) file takes on the disk
            if f.suffix == ".done":
                last = max(last, st.st_mtime)
        entries.append((last, size, folder))
    total = sum(size for _, size, _ in entries)
    removed = []
    for _, size, folder in sorted(entries, key=lambda e: e[0]):
        if total <= limit:
            break
        if keep is not None and folder == keep:
            continue
        fd = _entry_lock(folder, exclusive=True)
        if fd is None:  # in use
            continue
        try:
            for marker in folder.glob("*.done"):
                marker.unlink(missing_ok=True)
            shutil.rmtree(folder, ignore_errors=True)
        finally:
            os.close(fd)
        total -= size
        removed.append(folder)
    return removed


def scratch_bytes(con, info: dict, chromosomes, cache: Path | None) -> int:
    """Bytes of scratch the genotype copies of ``chromosomes`` need (those not in the cache).

    Two (V, n) float64 matrices and a (V,) int64 vector per chromosome, V its variants.
    """
    todo = [
        c
        for c in chromosomes
        if cache is None or not (cached_folder(info, cache) / f"{c}.done").is_file()
    ]
    if not todo:
        return 0
    table = info["genotype_table"]
    placeholders = ", ".join("?" for _ in todo)
    n_var = fetch_one(
        con, f"SELECT count(*) FROM {table} WHERE chr IN ({placeholders})", list(todo)
    )[0]
    return int(n_var) * (16 * int(info["n_samples"]) + 8) + 3 * 128 * len(todo)


class ScratchFull(SegqtlError):
    """No space left for a genotype copy (the run's scratch, or the genotype cache).

    Parameters
    ----------
    path : str or Path
        The file that could not be written.
    need : int
        Bytes the file needs in all.
    """

    def __init__(self, path, need: int):
        folder = Path(path).parent
        free = shutil.disk_usage(folder).free if folder.exists() else 0
        super().__init__(
            f"no space left in {folder} for the genotype copy {Path(path).name}: it needs "
            f"{need / 1e6:.1f} MB, {free / 1e6:.1f} MB are free. Fix: free space there, or set "
            "SEGQTL_TMPDIR (scratch) or SEGQTL_CACHE (the cache, or off) to a folder with more "
            "room"
        )


def _no_space(exc: OSError) -> bool:
    return exc.errno in (errno.ENOSPC, errno.EDQUOT)


class NpyRows:
    """A ``.npy`` file of a fixed shape, filled by rows with positioned writes.

    Writing through a memory map would count every page of the chromosome in the parent's
    resident memory; positioned writes leave them in the page cache only, where the workers'
    memory maps read them.

    Parameters
    ----------
    path : str
        The file (created, with its header, at its full size).
    dtype : numpy dtype
        Element type.
    shape : tuple of int
        (V,) or (V, n): V rows of n elements.
    """

    def __init__(self, path: str, dtype, shape: tuple[int, ...]):
        self.dtype = np.dtype(dtype)
        self.row_bytes = self.dtype.itemsize * (int(shape[1]) if len(shape) > 1 else 1)
        header = {
            "descr": np.lib.format.dtype_to_descr(self.dtype),
            "fortran_order": False,
            "shape": tuple(int(x) for x in shape),
        }
        self.path = path
        self.fd = None
        try:
            with open(path, "wb") as fh:
                np.lib.format.write_array_header_1_0(fh, header)
                self.offset = fh.tell()
                # Sparse: the rows take space as they are written, with ordinary writes (a
                # full disk is then an error of the write, never a SIGBUS of a memory map).
                fh.truncate(self.offset + self.row_bytes * int(shape[0]))
        except OSError as exc:
            if _no_space(exc):
                raise ScratchFull(path, self.row_bytes * int(shape[0])) from None
            raise
        self.size = self.offset + self.row_bytes * int(shape[0])
        self.fd = os.open(path, os.O_WRONLY)

    def write(self, rows: np.ndarray, values: np.ndarray) -> None:
        """Write ``values`` (the rows' elements, row after row) at the rows ``rows`` (sorted)."""
        if len(rows) == 0:
            return
        values = np.ascontiguousarray(values, dtype=self.dtype).reshape(len(rows), -1)
        # runs of consecutive rows: one write each (the copy reads rows in order: one run)
        breaks = np.flatnonzero(np.diff(rows) != 1) + 1
        for part, block in zip(np.split(rows, breaks), np.split(values, breaks), strict=True):
            if part.size:
                data, at = memoryview(block).cast("B"), self.offset + int(part[0]) * self.row_bytes
                while data:  # a write may take fewer bytes than given
                    try:
                        n = os.pwrite(self.fd, data, at)
                    except OSError as exc:
                        if _no_space(exc):
                            raise ScratchFull(self.path, self.size) from None
                        raise
                    data, at = data[n:], at + n

    def close(self, sync: bool = False) -> None:
        """Close the file (``sync``: write it to disk first, for a copy that is kept)."""
        if self.fd is None:
            return
        if sync:
            os.fsync(self.fd)
        os.close(self.fd)
        self.fd = None

    def __del__(self):
        self.close()  # a run that stopped early never called close


def _whole(files: dict[str, str], n_samples: int) -> bool:
    """Whether a cached copy's three files are whole: a file cut short (a full disk, a user)
    cannot be memory-mapped; the run then copies the chromosome again."""
    try:
        shapes = {k: np.load(path, mmap_mode="r").shape for k, path in files.items()}
    except (OSError, ValueError):
        return False
    n_var = shapes["pos"][0] if len(shapes["pos"]) == 1 else -1
    return shapes["alt"] == shapes["ref"] == (n_var, n_samples)


class GenotypeExport:
    """A chromosome's genotypes as ``.npy`` files that the workers memory-map.

    Work units then carry row numbers instead of pickled dosage matrices (which cost more to
    ship than to analyse).  Rows are copied from the warehouse on demand in variant_idx order,
    so the first units can start while later rows are still being copied.

    With a ``cache`` folder, a complete copy is kept there for the next runs, keyed by the
    cohort's checksum and genotype table (so a re-ingested cohort never reads a stale copy):
    a run finds ``<cache>/<key>/<chr>.done`` and copies nothing.  The copy is made under
    ``directory`` (the run's scratch, removed if the run stops) and moved into the cache only
    once complete, the marker last, so an interrupted copy is never used.
    """

    def __init__(self, con, info: dict, chrom: str, directory: Path, cache: Path | None = None):
        self.con = con
        self.table = info["genotype_table"]
        self.n = int(info["n_samples"])
        self.chrom = chrom
        self.cached: Path | None = None
        self._lock: int | None = None
        if cache is not None:
            self.cached = cached_folder(info, cache)
            # held until remove(): the entry is not evicted while this run reads it
            self._lock = _entry_lock(self.cached, exclusive=False)
            marker = self.cached / f"{chrom}.done"
            final = {k: str(self.cached / f"{chrom}.{k}.npy") for k in ("alt", "ref", "pos")}
            if marker.is_file() and _whole(final, self.n):
                n_var = int(marker.read_text().split()[0])
                self.files = GenotypeFiles(chrom, final["alt"], final["ref"], final["pos"], n_var)
                self.done = n_var  # nothing to copy
                self._keep = True
                try:
                    os.utime(marker)  # last use, for trim_cache
                except OSError:
                    pass
                return
        self._keep = False
        n_var = fetch_one(con, f"SELECT count(*) FROM {self.table} WHERE chr = ?", [chrom])[0]
        if n_var == 0:
            raise UsageError(
                f"cohort {info['cohort']!r} has no genotypes for {chrom}. Fix: add "
                f"{chrom}_ALTlr.csv and {chrom}_REFlr.csv to the genotype directory and ingest "
                "again"
            )
        directory.mkdir(parents=True, exist_ok=True)
        paths = {k: str(directory / f"{chrom}.{k}.npy") for k in ("alt", "ref", "pos")}
        shape = (n_var, self.n)
        self._alt = NpyRows(paths["alt"], np.float64, shape)
        self._ref = NpyRows(paths["ref"], np.float64, shape)
        self._pos = NpyRows(paths["pos"], np.int64, (n_var,))
        self.files = GenotypeFiles(chrom, paths["alt"], paths["ref"], paths["pos"], int(n_var))
        self.done = 0  # rows [0, done) are copied

    def ensure(self, upto: int) -> GenotypeFiles:
        """Copy rows up to variant_idx ``upto`` (inclusive; -1 = all) if not done yet."""
        last = self.files.n_variants - 1 if upto < 0 else min(int(upto), self.files.n_variants - 1)
        if last < self.done:
            return self.files
        text, params = bind_sql(
            "chromosome_variants",
            genotype_table=self.table,
            chr=self.chrom,
            first_variant=self.done,
            last_variant=last,
        )
        for batch in self.con.sql(text, params=params).to_arrow_reader(batch_size=8192):
            idx = batch.column("variant_idx").to_numpy()
            self._pos.write(idx, batch.column("pos").to_numpy())
            for name, target in (("altlr", self._alt), ("reflr", self._ref)):
                # nulls (missing dosages) become NaN in the float conversion
                target.write(idx, batch.column(name).flatten().to_numpy(zero_copy_only=False))
        self.done = last + 1
        return self.files

    def remove(self) -> None:
        """Done with the chromosome: move a complete copy into the cache, else delete it.

        No flush is needed for the workers (they share the page cache); the cache's copy is
        written to disk before it is moved.
        """
        try:
            self._remove()
        finally:
            if self._lock is not None:
                os.close(self._lock)
                self._lock = None

    def _remove(self) -> None:
        if self._keep:
            return
        if self.cached is not None:
            self.ensure(-1)  # the rest of the chromosome, for the next runs
        for rows in (self._alt, self._ref, self._pos):
            rows.close(sync=self.cached is not None)
        del self._alt, self._ref, self._pos
        if self.cached is None:
            for path in (self.files.alt, self.files.ref, self.files.pos):
                Path(path).unlink(missing_ok=True)
            return
        self.cached.mkdir(parents=True, exist_ok=True)
        for key, path in (
            ("alt", self.files.alt),
            ("ref", self.files.ref),
            ("pos", self.files.pos),
        ):
            # a rename where the scratch and the cache share a file system, else a copy
            target = self.cached / f"{self.chrom}.{key}.npy"
            try:
                shutil.move(path, target)
            except OSError as exc:
                if _no_space(exc):
                    target.unlink(missing_ok=True)  # a partial copy; no marker names it
                    raise ScratchFull(target, Path(path).stat().st_size) from None
                raise
        # the marker last: its presence means the three files are complete
        marker = self.cached / f"{self.chrom}.done"
        tmp = marker.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(f"{self.files.n_variants} variants\n")
        os.replace(tmp, marker)
        # the cache stays within its limit: least recently used entries go, never this one
        trim_cache(self.cached.parent, cache_limit(self.cached.parent), keep=self.cached)


def unit_phenotypes(con, cohort: str, unit, only_gene: str | None) -> pl.DataFrame:
    """The unit's phenotypes of ``cohort`` (all of them, or the one of gene ``only_gene``):
    ``phenotype_idx``, ``gene_id``, ``values``, ``pcov``, ``cn``, ordered by phenotype_idx."""
    phen = query_pl(
        con,
        "unit_phenotypes",
        cohort=cohort,
        chr=unit.chr,
        first_idx=unit.first_idx,
        last_idx=unit.last_idx,
        only_gene=only_gene,
    )
    return phen.select("phenotype_idx", "gene_id", "values", "pcov", "cn")


def variant_ids(con, cohort: str, chrom: str, rows: np.ndarray) -> list[str]:
    """The IDs of ``rows`` (sorted variant_idx of ``chrom``), aligned with them."""
    if rows.size == 0:
        return []
    frame = query_pl(
        con,
        "variant_ids",
        cohort=cohort,
        chr=chrom,
        first_variant=int(rows[0]),
        last_variant=int(rows[-1]),
    )
    idx = np.searchsorted(frame["variant_idx"].to_numpy(), rows)
    all_ids = frame["variant_id"].to_list()
    return [all_ids[i] for i in idx]


def cohort_slice(
    con,
    info: dict,
    chrom: str,
    phenotypes: pl.DataFrame,
    covariates: pl.DataFrame,
    genotypes: GenotypeFiles | None,
    *,
    window: int,
    neg_control: bool = False,
    with_variant_ids: bool = False,
) -> CohortSlice:
    """One cohort's slice of a unit: ``phenotypes`` (rows of ``chrom``, with ``phenotype_idx``)
    with their cis windows, segment bounds and the genotype rows these need.

    Parameters
    ----------
    info : dict
        :func:`cohort_info` of the cohort.
    phenotypes : polars.DataFrame
        The slice's phenotypes, ordered by phenotype_idx (``phenotype_idx``, ``gene_id``,
        ``values``, ``pcov``, ``cn`` and, for a validation cohort, ``main_phenotype_idx``).
    genotypes : GenotypeFiles or None
        The variants' chromosome (None: the cohort has none there).
    window : int
        Cis window in bp (docs/methods.md#cis-window).
    neg_control : bool
        Negative control: no windows or bounds, and every variant of ``genotypes`` is read
        (docs/methods.md#negative-control).
    with_variant_ids : bool
        Also read the IDs of the rows.
    """
    cohort = info["cohort"]
    if neg_control:
        rows, pairs, bounds = None, None, None
    else:
        # windows and bounds over the phenotypes' span, keeping only theirs (a gene's row, or
        # the validation cohort's matched rows, need not be the whole span)
        idx = phenotypes["phenotype_idx"]
        first, last = (int(idx.min()), int(idx.max())) if idx.len() else (0, -1)
        rng = dict(cohort=cohort, chr=chrom, first_idx=first, last_idx=last)
        keep = pl.col("phenotype_idx").is_in(idx.implode())
        pairs = query_pl(con, "cis_pairs", window=window, **rng).filter(keep)
        bounds = query_pl(con, "segment_bounds", **rng).filter(keep)
        rows = np.unique(pairs["variant_idx"].to_numpy())
    ids = None
    if with_variant_ids:
        ids = variant_ids(con, cohort, chrom, rows) if rows is not None else None
    return CohortSlice(
        cohort=cohort,
        n_samples=int(info["n_samples"]),
        phenotypes=phenotypes,
        covariates=covariates,
        genotypes=genotypes,
        rows=rows,
        pairs=pairs,
        bounds=bounds,
        variant_ids=ids,
    )


def nominal_payload(
    con,
    spec: RunSpec,
    unit,
    info: dict,
    covariates: pl.DataFrame,
    genotypes: GenotypeFiles,
    *,
    perm: bool = False,
) -> UnitPayload:
    """Everything a worker needs for one nominal unit, or with ``perm`` a perm unit (its
    permutation scan) (``genotypes``: the variants' chromosome, the unit's own or, for negative
    controls, the next one)."""
    only_gene = spec.all_variants if isinstance(spec.all_variants, str) else None
    phen = unit_phenotypes(con, info["cohort"], unit, only_gene)
    main = cohort_slice(
        con,
        info,
        unit.chr,
        phen,
        covariates,
        genotypes,
        window=spec.window,
        neg_control=spec.neg_control,
    )
    params = params_from_spec(NominalParams, spec, all_variants=bool(spec.all_variants), perm=perm)
    return UnitPayload(main=main, params=params)


def finemap_payload(
    con, spec: RunSpec, unit, info: dict, covariates: pl.DataFrame, genotypes: GenotypeFiles
) -> UnitPayload:
    """Everything a worker needs for one finemap unit: the unit's phenotypes (or the one of
    ``phenotype_id``) with copy number and phenotype covariate, cis windows, segment bounds and
    the rows' variant IDs, which label the R² variants."""
    phen = unit_phenotypes(con, info["cohort"], unit, spec.phenotype_id)
    main = cohort_slice(
        con, info, unit.chr, phen, covariates, genotypes, window=spec.window, with_variant_ids=True
    )
    return UnitPayload(main=main, params=params_from_spec(FinemapParams, spec))
