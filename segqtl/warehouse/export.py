"""Exports of run results with SegmentQTL's file names and columns (DuckDB's writers).

DuckDB writes doubles as their shortest round-trip representation (``0.1``, ``2.0``,
``1e-20``) and NULL as an empty cell, which is how pandas' ``to_csv`` writes floats and NaN in
SegmentQTL's files.

Formats (``fmt``), each written by DuckDB's ``COPY ... TO`` (no row is written by Python):

``csv`` (default)
    SegmentQTL's files, byte for byte as before: comma-separated, header row, NULL empty.
``tsv``
    Tab-separated, otherwise as csv.
``txt``
    Space-separated, SNPTEST's convention; NULL is written ``NA`` (as SNPTEST does), because
    readers that split on runs of whitespace (R's ``read.table``, awk) would shift the columns
    after an empty cell.  Values containing a space are double-quoted.
``parquet``
    Typed columns (numbers stay numbers), zstd-compressed inside the file.

File names are SegmentQTL's with the final ``.csv`` replaced by the format's extension
(``nominal_chr1.tsv``, ``perm_chr1_5000.parquet``); ``gzip=True`` compresses the text formats
with DuckDB's gzip writer and appends ``.gz`` (``nominal_chr1.tsv.gz``; a large file is
one gzip member per stretch of units, which gzip readers read as one stream).
Parquet files are compressed inside, so ``gzip=True`` with parquet is refused.

``metadata_header=True`` prepends SNPTEST-style ``# key value`` lines to the text formats
(:func:`run_metadata`: which run, of what, with which parameters, library versions and input
checksums).  They are written with DuckDB's ``PREFIX`` option, DuckDB then writes its own
header row and the rows as usual, so a file reads back with ``polars.read_csv(path,
comment_prefix="#", ...)`` or DuckDB's ``read_csv(path, comment = '#')`` to exactly the rows
of the file without the header.  Parquet files get the same keys and values as parquet
key-value metadata (``KV_METADATA``).  No export time is recorded, so exporting a run twice
gives identical files.

Layouts (``layout``): ``segmentqtl`` (default) writes the files above; ``tensorqtl`` writes
tensorQTL's files (:func:`export_tensorqtl`), so coloc/SuSiE pipelines read them unchanged:

``<prefix>.cis_qtl.txt.gz`` (perm runs; tensorQTL's ``map_cis`` + ``calculate_qvalues``)
    Tab-separated, gzip, header row, NULL empty (pandas' ``to_csv`` of NaN), one row per
    phenotype with a lead variant, in quantification-file order; columns
    :data:`TENSORQTL_CIS_COLUMNS`.
``<prefix>.cis_qtl_pairs.<chr>.parquet`` (all-variants nominal runs; ``map_nominal``)
    One file per chromosome of the run, one row per tested pair; columns
    :data:`TENSORQTL_PAIRS_COLUMNS`.

Column mapping (segqtl's stored value -> tensorQTL's column):

========================  =================================================================
tensorQTL column          segqtl value
========================  =================================================================
phenotype_id              phenotype (gene_id of the quantification file)
num_var                   variants in the phenotype's cis window (tensorQTL: after its MAF
                          and monomorphic filters; segqtl keeps every window variant)
beta_shape1, beta_shape2  the fitted Beta(a, b) of the beta method (empty for direct runs)
true_df                   the lead fit's residual df: number_of_samples - n_model_columns
                          (pair_samples); tensorQTL fits an effective df instead
pval_true_df              nominal_p (segqtl's t test already uses that df)
variant_id                variant (chr:pos:ref:alt as written)
start_distance            variant pos - phenotype start (no strand: the start column as given)
end_distance              variant pos - phenotype end
pval_nominal              nominal_p
slope, slope_se           beta_d, se_d (the effect of d = REFlr - ALTlr)
pval_perm                 p_adj of a direct run (empty for beta runs)
pval_beta                 p_adj of a beta run (empty for direct runs)
qval                      qvalue (qvalues view; empty until q-values are computed)
pval_nominal_threshold    pval_nominal_threshold (qvalues view; beta runs)
========================  =================================================================

tensorQTL's ``af``, ``ma_samples`` and ``ma_count`` have no analogue (segqtl's genotypes are
allelic log-ratios, not 0-2 dosages) and are left out.  A best-variant nominal run is refused
(its minimum p over a window is no gene-level p; export the perm run or an all-variants run),
as are negative controls (no cis distance) and the other modes.
"""

from __future__ import annotations

import json
import os
import re
import warnings
from dataclasses import dataclass, fields
from pathlib import Path

import duckdb

from .. import modes
from ..errors import UsageError
from ..modes.base import ExportFile
from ..spec import RunSpec
from .db import fetch_one, load_sql, query
from .runs import finish_fix, load_spec, run_status

# A metadata value that is not set (SNPTEST's and R's NA): an empty value would leave a
# "# key " line that whitespace-splitting readers see as one token.
MISSING = "NA"

#: Export formats and the column delimiter of the text ones.
FORMATS = {"csv": ",", "tsv": "\t", "txt": " ", "parquet": None}

#: Result rows per stretch of a chunked file (ExportFile.chunked): about 100 MB of CSV.
CHUNK_ROWS = 500_000

#: DuckDB's memory limit while exporting: sorts larger than this spill to disk (parquet files,
#: which are written in one statement).
EXPORT_MEMORY = "1GB"

_ALL_PHENOTYPES = 2**31 - 1  # phenotype_idx is an INTEGER

#: Version of the metadata header layout, its first line (``# segqtl-export 1``).
METADATA_VERSION = "1"

# Control characters (C0, DEL, C1) would break the one-line-per-key layout.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


@dataclass(frozen=True)
class ExportFormat:
    """How the files of an export are written.

    Parameters
    ----------
    fmt : {"csv", "tsv", "txt", "parquet"}
        File format (see the module docstring).
    gzip : bool
        gzip-compress the text formats (adds ``.gz``); refused for parquet.
    metadata_header : bool
        Prepend ``# key value`` lines (text formats) or store them as parquet key-value
        metadata.
    """

    fmt: str = "csv"
    gzip: bool = False
    metadata_header: bool = False

    def __post_init__(self):
        if self.fmt not in FORMATS:
            raise UsageError(
                f"unknown export format {self.fmt!r}. Fix: use one of {', '.join(FORMATS)}"
            )
        if self.fmt == "parquet" and self.gzip:
            raise UsageError(
                "--gzip compresses the text formats only; parquet files are always compressed "
                "inside (zstd). Fix: drop --gzip, or use --format csv, tsv or txt with --gzip"
            )

    def filename(self, csv_name: str) -> str:
        """SegmentQTL's ``*.csv`` file name with this format's extension (and ``.gz``)."""
        if not csv_name.endswith(".csv"):
            raise ValueError(f"not a SegmentQTL file name: {csv_name!r}")
        name = f"{csv_name[: -len('.csv')]}.{self.fmt}"
        return f"{name}.gz" if self.gzip else name

    def piece_options(self) -> str:
        """The ``COPY ... TO`` options of a file's later stretches: its rows only (no header,
        no metadata), each ended by a newline, to be appended to the file."""
        options = [f"DELIMITER {_quote(FORMATS[self.fmt])}", "HEADER false"]
        if self.fmt == "txt":
            options.append("NULLSTR 'NA'")
        if self.gzip:
            options.append("COMPRESSION gzip")
        return f"({', '.join(options)})"

    def copy_options(self, metadata: list[tuple[str, str]] | None) -> str:
        """The option list of DuckDB's ``COPY ... TO`` for one file.

        ``metadata`` (key, value) pairs become the ``# key value`` prefix or the parquet
        key-value metadata; ``None`` writes none.
        """
        if self.fmt == "parquet":
            options = ["FORMAT parquet", "COMPRESSION zstd"]
            if metadata:
                pairs = ", ".join(f"{_quote(k)}: {_quote(v)}" for k, v in metadata)
                options.append(f"KV_METADATA {{{pairs}}}")
            return f"({', '.join(options)})"
        delimiter = _quote(FORMATS[self.fmt])
        if self.fmt == "csv" and not self.gzip and not metadata:
            return f"(HEADER, DELIMITER {delimiter})"  # the original export, unchanged
        options = [f"DELIMITER {delimiter}"]
        if self.fmt == "txt":
            options.append("NULLSTR 'NA'")
        if self.gzip:
            options.append("COMPRESSION gzip")
        if metadata:
            # DuckDB refuses an explicit HEADER together with PREFIX/SUFFIX, but still writes
            # its header row after the prefix when HEADER is left at its default (on).  It ends
            # every row but the last with a newline and then writes the suffix, so a newline
            # suffix ends the file like the plain export (no blank line, also without rows).
            prefix = "".join(f"# {k} {v}\n" for k, v in metadata)
            options += [f"PREFIX {_quote(prefix)}", f"SUFFIX {_quote(chr(10))}"]
        else:
            options.append("HEADER")
        return f"({', '.join(options)})"


#: Export layouts: SegmentQTL's files or tensorQTL's.
LAYOUTS = ("segmentqtl", "tensorqtl")

#: Columns of tensorQTL's ``<prefix>.cis_qtl.txt.gz`` as written (map_cis's, less af,
#: ma_samples, ma_count, plus calculate_qvalues' qval and pval_nominal_threshold).
TENSORQTL_CIS_COLUMNS = (
    "phenotype_id",
    "num_var",
    "beta_shape1",
    "beta_shape2",
    "true_df",
    "pval_true_df",
    "variant_id",
    "start_distance",
    "end_distance",
    "pval_nominal",
    "slope",
    "slope_se",
    "pval_perm",
    "pval_beta",
    "qval",
    "pval_nominal_threshold",
)

#: Columns of tensorQTL's ``<prefix>.cis_qtl_pairs.<chr>.parquet`` as written (map_nominal's,
#: less af, ma_samples, ma_count).
TENSORQTL_PAIRS_COLUMNS = (
    "phenotype_id",
    "variant_id",
    "start_distance",
    "end_distance",
    "pval_nominal",
    "slope",
    "slope_se",
)


def run_metadata(con: duckdb.DuckDBPyConnection, run_id: int) -> list[tuple[str, str]]:
    """The metadata of a run as ordered ``(key, value)`` pairs (the export's header lines).

    First ``segqtl-export`` (the layout version), then the run record: ``run_id``, ``name``
    (``--name``, SNPTEST's analysis name; ``NA`` if none), ``mode``, ``cohort``,
    ``chromosomes`` (comma-separated), ``status``, ``started_at``, ``finished_at`` (ISO 8601,
    the warehouse's clock), ``cohort_checksum``; then every ``run_parameters`` row not already
    given: the run's parameters in :class:`~segqtl.spec.RunSpec` order, then the provenance
    keys in key order (``input:<role>`` = the input file's sha256, ``version:<library>``).

    Values are the stored JSON decoded: strings unquoted, ``null`` as ``NA``, other values in their
    JSON text (``true``, ``0.5``).  Keys never contain whitespace and values never contain
    control characters (escaped as ``\\xNN``), so each pair is one ``# key value`` line.
    """
    row = fetch_one(
        con,
        "SELECT run_id, name, mode, cohort, chromosomes, status, started_at, finished_at, "
        "cohort_checksum FROM runs WHERE run_id = ?",
        [run_id],
    )
    if row is None:
        raise UsageError(f"run {run_id} does not exist. Fix: list runs with 'segqtl runs --db DB'")
    keys = (
        "run_id",
        "name",
        "mode",
        "cohort",
        "chromosomes",
        "status",
        "started_at",
        "finished_at",
        "cohort_checksum",
    )
    pairs = [("segqtl-export", METADATA_VERSION)]
    for key, value in zip(keys, row, strict=True):
        if value is None:
            value = MISSING
        elif hasattr(value, "isoformat"):
            value = value.isoformat()
        pairs.append((key, str(value)))
    order = {f.name: i for i, f in enumerate(fields(RunSpec))}
    params = con.execute(
        "SELECT key, value FROM run_parameters WHERE run_id = ?", [run_id]
    ).fetchall()
    params.sort(key=lambda kv: (kv[0] not in order, order.get(kv[0], 0), kv[0]))
    seen = set(keys)
    for key, value in params:
        if key in seen:
            continue
        seen.add(key)
        pairs.append((key, _render_json(value)))
    return [(_clean_key(k), _clean_value(v)) for k, v in pairs]


def _file_metadata(run_meta: list[tuple[str, str]], chrom: str) -> list[tuple[str, str]]:
    """The run's metadata with this file's ``chromosome`` after ``chromosomes``."""
    at = next(i for i, (k, _) in enumerate(run_meta) if k == "chromosomes") + 1
    return [*run_meta[:at], ("chromosome", _clean_value(chrom)), *run_meta[at:]]


def _render_json(value: str | None) -> str:
    if value is None:
        return MISSING
    try:
        decoded = json.loads(value)
    except ValueError:
        return value  # not JSON after all: show it as stored
    if decoded is None:
        return MISSING
    if isinstance(decoded, str):
        return decoded
    return value.strip()


def _clean_key(key: str) -> str:
    key = re.sub(r"\s", "_", _CONTROL.sub("_", key))
    return key.lstrip("#") or "_"


def _clean_value(value: str) -> str:
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", value)


def export_run(
    con: duckdb.DuckDBPyConnection,
    run_id: int,
    out_dir: str | Path,
    *,
    fmt: str = "csv",
    gzip: bool = False,
    metadata_header: bool = False,
    layout: str = "segmentqtl",
    prefix: str | None = None,
    chromosomes=None,
) -> list[Path]:
    """Write a completed run's results with SegmentQTL's (or tensorQTL's) file names.

    Parameters
    ----------
    con : duckdb.DuckDBPyConnection
        The warehouse.
    run_id : int
        A completed run.
    out_dir : str or Path
        Folder for the files (created if needed).
    fmt : {"csv", "tsv", "txt", "parquet"}
        File format; csv writes SegmentQTL's files exactly.
    gzip : bool
        gzip-compress the text formats (``.gz`` appended to the names).
    metadata_header : bool
        Prepend the run's ``# key value`` metadata lines (:func:`run_metadata`, plus the
        file's ``chromosome``), or store them as parquet key-value metadata.
    layout : {"segmentqtl", "tensorqtl"}
        ``tensorqtl``: tensorQTL's files and columns (:func:`export_tensorqtl`); ``fmt``,
        ``gzip`` and ``metadata_header`` must then be left at their defaults.
    prefix : str, optional
        tensorQTL's file name prefix (``tensorqtl`` layout only; default ``run<run_id>``).
    chromosomes : iterable of str, optional
        ``--chromosome`` values (``all``, ``8``, ``1,2``, ``1-5``; see
        :func:`segqtl.chromosomes.parse_chromosomes`): only those of the run's chromosomes'
        files; None = all.

    Returns
    -------
    list of Path
        The written files.  A file that already exists is overwritten with a warning.
    """
    if layout not in LAYOUTS:
        raise UsageError(f"unknown layout {layout!r}. Fix: use --layout segmentqtl or tensorqtl")
    if layout == "tensorqtl":
        if fmt != "csv" or gzip or metadata_header:
            raise UsageError(
                "--layout tensorqtl writes tensorQTL's own formats (cis_qtl.txt.gz, "
                "cis_qtl_pairs.<chr>.parquet). Fix: drop --format, --gzip and --metadata-header"
            )
        return export_tensorqtl(con, run_id, out_dir, prefix=prefix, chromosomes=chromosomes)
    if prefix is not None:
        raise UsageError(
            "--prefix names tensorQTL's files; SegmentQTL's names are fixed. "
            "Fix: add --layout tensorqtl, or drop --prefix"
        )
    form = ExportFormat(fmt, gzip, metadata_header)
    spec = load_spec(con, run_id)
    status = run_status(con, run_id)
    if status != "completed":
        raise UsageError(f"run {run_id} is {status}, not completed. {finish_fix(run_id, status)}")
    chosen = _chosen(spec, run_id, chromosomes)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    sink = _Sink(con, run_id, out_dir, form)
    con.execute(f"SET memory_limit = '{EXPORT_MEMORY}'")  # larger sorts spill to disk
    try:
        files = [
            f for f in modes.get(spec.mode).export_files(con, run_id, spec) if f.chrom in chosen
        ]
        _refuse_non_files([out_dir / form.filename(f.csv_name) for f in files])
        for file in files:
            sink.copy(file)
    finally:
        con.execute("RESET memory_limit")
    return sink.written


def _chosen(spec, run_id: int, chromosomes) -> list[str]:
    """The run's chromosomes that ``--chromosome`` values name (all of them for None)."""
    if not chromosomes:
        return list(spec.chromosomes)
    from ..chromosomes import parse_chromosomes

    return parse_chromosomes(chromosomes, list(spec.chromosomes), where=f"run {run_id}")


def export_tensorqtl(
    con: duckdb.DuckDBPyConnection,
    run_id: int,
    out_dir: str | Path,
    *,
    prefix: str | None = None,
    chromosomes=None,
) -> list[Path]:
    """Write a completed run in tensorQTL's layout (module docstring: files and columns).

    Parameters
    ----------
    con : duckdb.DuckDBPyConnection
        The warehouse.
    run_id : int
        A completed perm run (``<prefix>.cis_qtl.txt.gz``) or all-variants nominal run (one
        ``<prefix>.cis_qtl_pairs.<chr>.parquet`` per chromosome).
    out_dir : str or Path
        Folder for the files (created if needed).
    prefix : str, optional
        File name prefix (a name, not a path); default ``run<run_id>``.

    Returns
    -------
    list of Path
        The written files.  A file that already exists is overwritten with a warning.
    """
    spec = load_spec(con, run_id)
    status = run_status(con, run_id)
    if status != "completed":
        raise UsageError(f"run {run_id} is {status}, not completed. {finish_fix(run_id, status)}")
    prefix = f"run{int(run_id)}" if prefix is None else prefix
    if (
        not prefix
        or prefix in (".", "..")
        or "/" in prefix
        or os.sep in prefix
        or _CONTROL.search(prefix)
    ):
        raise UsageError(
            f"--prefix {prefix!r} is not a file name. Fix: give a name such as 'study1' "
            "(the files go into --out-dir)"
        )
    files = modes.get(spec.mode).tensorqtl_files(spec, run_id, prefix)
    if chromosomes:
        chosen = _chosen(spec, run_id, chromosomes)
        if any("chr" not in f.params for f in files) and chosen != list(spec.chromosomes):
            raise UsageError(
                f"run {run_id}'s tensorQTL file {files[0].name} holds all of its chromosomes "
                "in one table. Fix: drop --chromosome"
            )
        files = [f for f in files if f.params.get("chr", chosen[0]) in chosen]
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    _refuse_non_files([out_dir / f.name for f in files])
    con.execute(f"SET memory_limit = '{EXPORT_MEMORY}'")  # larger sorts spill to disk
    try:
        for f in files:
            _copy_atomically(con, f.sql_name, f.params, out_dir / f.name, f.options, written)
    finally:
        con.execute("RESET memory_limit")
    return written


def _refuse_non_files(paths: list[Path]) -> None:
    """Before the first file is written: a target name taken by a folder (or anything else
    that is not a regular file) would stop the export half-way."""
    for path in paths:
        if path.exists() and not path.is_file():
            kind = "a folder" if path.is_dir() else "not a regular file"
            raise UsageError(
                f"{path} is {kind}, and the export writes a file of that name. Fix: move it "
                "away, or give another output folder"
            )


def _copy_atomically(con, sql_name: str, params: dict, path: Path, options: str, written: list):
    """COPY the rows of ``sql/<sql_name>.sql`` to ``path``: written under a temporary name
    beside it and renamed when complete, so an interrupted export leaves no whole-looking
    file.  Appends ``path`` to ``written``."""
    if path in written or path.exists():
        warnings.warn(f"overwriting {path}", stacklevel=4)
    inner = load_sql(sql_name).strip().rstrip(";")
    partial = path.with_name(f".{path.name}.partial")
    try:
        con.execute(f"COPY ({inner}\n) TO {_quote(str(partial))} {options}", params)
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
    written.append(path)


class _Sink:
    """Writes one run's files in one format and remembers them.

    Each file is written under a temporary name beside it and renamed when complete, so an
    interrupted export never leaves a file that looks whole.
    """

    def __init__(self, con, run_id: int, out_dir: Path, form: ExportFormat):
        self.con = con
        self.run_id = int(run_id)
        self.out_dir = out_dir
        self.form = form
        self.run_meta = run_metadata(con, run_id) if form.metadata_header else None
        self.written: list[Path] = []

    def copy(self, file: ExportFile) -> None:
        """COPY the rows of ``file.sql`` (parameters $run_id, $chr) to its file.

        A ``chunked`` file of a text format is written a stretch of units at a time
        (:data:`CHUNK_ROWS` result rows; ``sql/export_chunks.sql``): each stretch is sorted and
        written alone and appended to the file, so neither memory nor the sort grows with the
        run.  The bytes equal those of one COPY; with gzip the file holds one gzip member per
        stretch, which every gzip reader reads as one stream.
        """
        path = self.out_dir / self.form.filename(file.csv_name)
        if path in self.written or path.exists():
            warnings.warn(f"overwriting {path}", stacklevel=3)
        meta = None if self.run_meta is None else _file_metadata(self.run_meta, file.chrom)
        inner = file.sql.strip().rstrip(";")
        params = {"run_id": self.run_id, "chr": file.chrom}
        stretches = [(0, _ALL_PHENOTYPES)]
        if file.chunked and self.form.fmt != "parquet":
            stretches = (
                query(
                    self.con, "export_chunks", run_id=self.run_id, chr=file.chrom, rows=CHUNK_ROWS
                ).fetchall()
                or stretches
            )
        partial = path.with_name(f".{path.name}.partial")
        piece = path.with_name(f".{path.name}.piece")
        try:
            for i, (first, last) in enumerate(stretches):
                if file.chunked:
                    params.update(first_phenotype=first, last_phenotype=last)
                options = self.form.copy_options(meta) if i == 0 else self.form.piece_options()
                target = partial if i == 0 else piece
                self.con.execute(f"COPY ({inner}\n) TO {_quote(str(target))} {options}", params)
                if i > 0:
                    _append(piece, partial)
            os.replace(partial, path)
        finally:
            partial.unlink(missing_ok=True)
            piece.unlink(missing_ok=True)
        self.written.append(path)


def _append(source: Path, target: Path) -> None:
    """Append ``source``'s bytes to ``target`` (in the kernel: sendfile, no copy through
    Python)."""
    with open(source, "rb") as src, open(target, "r+b") as out:
        out.seek(0, os.SEEK_END)  # sendfile refuses a file opened for appending
        size = os.fstat(src.fileno()).st_size
        sent = 0
        while sent < size:
            n = os.sendfile(out.fileno(), src.fileno(), sent, size - sent)
            if n == 0:
                raise OSError(f"could not append {source} to {target}")
            sent += n


def _quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"
