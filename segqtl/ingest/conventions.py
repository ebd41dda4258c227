"""File conventions: turn any accepted input file into the canonical CSV the readers take.

The readers (:mod:`.readers`) take SegmentQTL's layout as comma-separated UTF-8 text with LF
line ends, optionally ``.gz``/``.zst`` compressed.  Users' files also come with a byte-order
mark, CRLF line ends, comment lines (R/qtl2's ``comment.char``), ``#`` key-value header lines
(pyhegp), tab/space/semicolon separators, quoted fields, their own missing-value spellings
(``na.strings``) and matrices stored samples-by-rows ("transposed").  This module is a layer
in front of the readers: :func:`prepare` looks at a file's first block and, only if the file
is not already canonical, writes a canonical copy into a work folder.  A canonical file is
handed to the readers as it is, so a plain CSV takes exactly today's path.

Line numbers are kept: comment and header lines become empty lines (which the readers skip)
and the header line moves to line 1 followed by as many empty lines as preceded it, so an
error on a data line names the line of the file as given (:meth:`Prepared.explain` maps the
header's line and the file name back).  Checksums are of the file as given (its stored bytes,
compressed or in a bundle), computed while it is converted.

Memory: a file that is not transposed is converted a line at a time (memory: one block of
:data:`BLOCK_BYTES` plus one line).  A transposed file is transposed through at most
:data:`MAX_PIECES` piece files in a work folder: pass 1 cuts each line (one sample) into
pieces of columns (memory: one line's cells as Python bytes, ~50 bytes a cell, e.g. ~0.5 GB
for a line of 10 million variants); pass 2 reads one piece file at a time (memory: about the
file's size / :data:`MAX_PIECES` as fixed-width bytes) and writes its columns as lines.
Speed (measured, 2 shared cores): converting a tab-separated genotype pair of 2 x 35 MB
added no visible time to a 2.6 s ingest; transposing it added ~2.8 s (~25 MB/s).
"""

from __future__ import annotations

import csv
import math
import tempfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import numpy as np
import pyarrow as pa

from ..errors import InputError
from . import readers, textio

BOM = b"\xef\xbb\xbf"
#: Decompressed bytes looked at to decide whether a file is already canonical.
HEAD_BYTES = 1 << 16
#: Bytes read at a time while converting.
BLOCK_BYTES = 8 << 20
#: At most this many piece files while transposing (bounds open files; see the module doc).
MAX_PIECES = 256
#: Comment character used when none is given (then only lines before the header count).
DEFAULT_COMMENT = "#"

#: Accepted spellings of a separator (control file ``sep``, ``--sep``) -> the separator.
SEPARATORS = {
    ",": ",",
    "comma": ",",
    "\t": "\t",
    "\\t": "\t",
    "tab": "\t",
    ";": ";",
    "semicolon": ";",
    " ": " ",
    "space": " ",
}
_SEP_NAMES = {",": "comma", "\t": "tab", ";": "semicolon", " ": "space"}


def parse_sep(value: str, where: str) -> str:
    """The separator named by ``value`` (``','``, ``'tab'``, ``'\\t'``, ``';'``, ``' '``...).

    Raises ``ValueError`` naming ``where`` and the accepted spellings.
    """
    if isinstance(value, str) and value in SEPARATORS:
        return SEPARATORS[value]
    if isinstance(value, str) and value.lower() in SEPARATORS:
        return SEPARATORS[value.lower()]
    raise ValueError(
        f"{where} {value!r} is not a separator; use ',', ';', tab ('\\t' or 'tab') or "
        "space (' ' or 'space')"
    )


@dataclass(frozen=True)
class Conventions:
    """How one file is written.

    Parameters
    ----------
    sep : str or None
        Field separator (``','``, ``'\\t'``, ``';'`` or ``' '``: one character, so two in a
        row enclose an empty cell, as with the others); ``None``:
        detected from the header line (comma, else tab, else semicolon, else space).
    na_strings : tuple of str
        Cell spellings of a missing value, besides the readers' own (:data:`readers.NA_VALUES`).
    comment_char : str or None
        Lines starting with it (after blanks) are comments, anywhere in the file (so a file
        is always converted when it is given); ``""``: no comment lines; ``None`` (not
        given): ``#`` lines before the header only (seen in the first block).
    transposed : bool
        The matrix is stored samples-by-rows (the transpose of SegmentQTL's layout).
    """

    sep: str | None = None
    na_strings: tuple[str, ...] = ()
    comment_char: str | None = None
    transposed: bool = False

    def as_dict(self) -> dict:
        return {
            "sep": _SEP_NAMES.get(self.sep, self.sep) if self.sep else None,
            "na_strings": list(self.na_strings),
            "comment_char": self.comment_char,
            "transposed": self.transposed,
        }


# ------------------------------------------------------------------------------------- sources
@dataclass(frozen=True)
class Source:
    """A file as given: on disk (``path``) or a member of a zip bundle (``zip_path``, ``member``).

    ``name`` is how messages and ``cohort_files.path`` show it (``bundle.zip:folder/file.csv``
    for a member).
    """

    path: Path | None = None
    zip_path: Path | None = None
    member: str | None = None

    @property
    def name(self) -> str:
        if self.path is not None:
            return str(self.path)
        return f"{self.zip_path}:{self.member}"

    @property
    def filename(self) -> str:
        return self.path.name if self.path is not None else PurePosixPath(self.member).name

    @property
    def recorded_path(self) -> str:
        """The path stored in ``cohort_files`` (absolute for a file on disk)."""
        if self.path is not None:
            return str(self.path.resolve())
        return f"{Path(self.zip_path).resolve()}:{self.member}"

    def size(self) -> int:
        if self.path is not None:
            return self.path.stat().st_size
        with zipfile.ZipFile(self.zip_path) as zf:
            return zf.getinfo(self.member).file_size

    def codec(self) -> str | None:
        return textio.codec_of(Path(self.filename))

    def exists(self) -> bool:
        if self.path is not None:
            return self.path.is_file()
        with zipfile.ZipFile(self.zip_path) as zf:
            return self.member in zf.NameToInfo


_Hashing = textio.HashingStream  # every byte read also feeds a sha256


class _Reader:
    """Decompressed bytes of a :class:`Source`, read in pieces; ``digest()`` of its stored bytes."""

    def __init__(self, source: Source):
        self.source = source
        self._zip = None
        if source.path is not None:
            self.codec = textio.check_magic(source.path)  # names a mis-named compressed file
            self._hash = _Hashing(open(source.path, "rb"))  # noqa: SIM115  (closed by close())
        else:
            self._zip = zipfile.ZipFile(source.zip_path)
            self._hash = _Hashing(self._zip.open(source.member))
            self.codec = source.codec()
        self._stream = None
        if self.codec is None:
            return
        raw = self._hash
        if source.path is None:  # check a member's magic bytes as textio does a file's
            head = self._hash.read(4)
            if not head.startswith(_MAGIC[self.codec]):
                self.close()
                raise InputError(
                    source.name,
                    f"named like a {self.codec} file but it is not {self.codec}-compressed",
                    f"compress it with {self.codec}, or remove the "
                    f"{Path(source.filename).suffix!r} suffix",
                )
            raw = _Prefixed(head, self._hash)
        self._stream = pa.CompressedInputStream(pa.PythonFile(raw, mode="r"), self.codec)

    def read(self, n: int = BLOCK_BYTES) -> bytes:
        if self._stream is None:
            return self._hash.read(n)
        try:
            return bytes(self._stream.read(n))
        except (OSError, pa.ArrowException) as exc:
            raise InputError(
                self.source.name,
                f"truncated or corrupt {self.codec} data ({str(exc).splitlines()[0]})",
                "re-create or re-download the file",
            ) from None

    def digest(self) -> str:
        """sha256 of the stored bytes (reads the rest of them)."""
        while self._hash.read(BLOCK_BYTES):
            pass
        return self._hash.sha256.hexdigest()

    def close(self) -> None:
        if self._stream is not None:
            self._stream.close()
        self._hash.close()
        if self._zip is not None:
            self._zip.close()

    def __enter__(self) -> _Reader:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


_MAGIC = {"gzip": b"\x1f\x8b", "zstd": b"\x28\xb5\x2f\xfd"}


class _Prefixed:
    """``head`` (already read from ``raw`` to check the magic bytes) then the rest of ``raw``."""

    def __init__(self, head: bytes, raw):
        self._head, self._raw = head, raw
        self.closed = False

    def read(self, n: int = -1) -> bytes:
        if self._head:
            out, self._head = self._head[:n] if n >= 0 else self._head, b""
            if n >= 0 and len(out) < n:
                out += self._raw.read(n - len(out))
            elif n < 0:
                out += self._raw.read()
            return out
        return self._raw.read(n)

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def close(self) -> None:
        self.closed = True


def _lines(reader: _Reader) -> Iterator[bytes]:
    """The file's lines without their LF (a CR before it is kept), BOM included."""
    buf = b""
    while True:
        block = reader.read(BLOCK_BYTES)
        if not block:
            break
        buf += block
        parts = buf.split(b"\n")
        buf = parts.pop()
        yield from parts
    if buf:
        yield buf


def _head(source: Source) -> bytes:
    """The first :data:`HEAD_BYTES` decompressed bytes (more if the first line is longer)."""
    with _Reader(source) as r:
        buf = b""
        while len(buf) < HEAD_BYTES or (b"\n" not in buf):
            more = r.read(HEAD_BYTES)
            if not more:
                break
            buf += more
        return buf


# ----------------------------------------------------------------------------------- preparing
@dataclass
class Prepared:
    """One input file made readable: ``path`` is what the readers read.

    ``sha256`` is of the file as given (``None``: not read yet, i.e. a canonical file on disk
    handed to the readers unchanged).  ``header_line`` is the line of the file's header
    (after comment/header lines); ``headers`` its ``#`` key-value lines ``(line, key, value)``.
    """

    source: Source
    path: Path
    converted: bool
    conventions: Conventions
    sha256: str | None = None
    header_line: int = 1
    headers: list[tuple[int, str, str]] = field(default_factory=list)

    def explain(self, err: InputError) -> InputError:
        """``err`` (raised by a reader on :attr:`path`) naming the file as given."""
        if not self.converted or str(err.path) != str(self.path):
            return err
        problem, line, column = err.problem, err.line, err.column
        if self.conventions.transposed:
            # The readers saw the transpose: their lines are the file's columns.
            problem += " (in the transposed layout: a line there is a column of the file)"
        elif line == 1:
            line = self.header_line
        return InputError(self.source.name, problem, err.fix, line=line, column=column)


def _is_comment(stripped: bytes, comment: bytes) -> bool:
    return bool(comment) and stripped.startswith(comment)


def _header_pair(text: bytes, comment: bytes) -> tuple[str, str]:
    """A ``# key value`` line as (key, value) (pyhegp's header lines; a line without a value
    gives an empty value)."""
    body = text.strip()[len(comment) :].decode("utf-8", "replace").strip()
    key, _, value = body.partition(" ")
    return key, value.strip()


def detect_sep(header: bytes) -> str:
    """The separator of a header line: comma, else tab, else semicolon, else space."""
    for sep in (",", "\t", ";"):
        if sep.encode() in header:
            return sep
    return " " if b" " in header.strip() else ","


class SepMismatch(ValueError):
    """The given separator is not in a file's header, another one is: ``(given, found)``."""


def _scan_head(head: bytes, conv: Conventions) -> tuple[bool, str, list[str]]:
    """Whether the file needs converting, its separator, and why (for messages/tests)."""
    why = []
    if head.startswith(BOM):
        why.append("byte-order mark")
    if b"\r" in head:
        why.append("CRLF line ends")
    if b'"' in head:
        why.append("quoted fields")
    comment = (conv.comment_char if conv.comment_char is not None else DEFAULT_COMMENT).encode()
    lines = head.removeprefix(BOM).split(b"\n")
    complete = lines if len(head) < HEAD_BYTES else lines[:-1]
    header = b""
    seen_header = False
    for line in complete:
        s = line.strip()
        if not seen_header:
            if _is_comment(s, comment):
                why.append("comment lines")
                continue
            header, seen_header = line.rstrip(b"\r"), True
    if conv.comment_char:
        # comment lines may come anywhere, past the first block too: read it all
        why.append(f"comment lines ({conv.comment_char!r} given)")
    sep = conv.sep or detect_sep(header)
    if conv.sep and header and conv.sep.encode() not in header:
        found = detect_sep(header)
        if found != conv.sep and found.encode() in header:
            # --sep applies to every file: a header without it is another file's convention
            raise SepMismatch(_SEP_NAMES[conv.sep], _SEP_NAMES[found])
    if sep != ",":
        why.append(f"{_SEP_NAMES[sep]}-separated")
    extra_na = [s for s in conv.na_strings if s not in readers.NA_VALUES]
    if extra_na:
        why.append(f"missing values spelled {extra_na}")
    if conv.transposed:
        why.append("transposed")
    return bool(why), sep, why


def prepare(
    source: Source,
    role: str,
    conv: Conventions,
    workdir: Path,
    *,
    copy: bool = False,
    out_name: str | None = None,
) -> Prepared:
    """Make ``source`` readable by the readers: itself when canonical, else a canonical copy.

    Parameters
    ----------
    source : Source
        The file as given.
    role : str
        What it is (``quantifications``, ``covariates``, ``genotypes_alt:chr1``...): decides
        how a transposed file's corner cell is handled (covariates have none).
    conv : Conventions
        How it is written (``sep=None``: detected).
    workdir : Path
        Folder for the canonical copy.
    copy : bool
        Write a copy even when canonical (a bundle member: the readers need a file on disk).
    out_name : str, optional
        File name of the copy (default: the source's name without a compression suffix); a
        canonical compressed file copied as stored gets its compression suffix added.
    """
    what = role.split(":")[0]
    if source.path is not None and source.path.is_dir():
        raise InputError(source.name, f"the {what} file is a folder", "pass the file's path")
    if not source.exists():
        raise InputError(source.name, f"{what} file not found", "pass an existing file")
    if source.size() == 0:
        raise InputError(source.name, f"the {what} file is empty", "write the table into it")
    try:
        head = _head(source)
    except OSError as exc:
        raise InputError(
            source.name,
            f"the {what} file cannot be read ({exc.strerror or exc})",
            "check that it is a readable file (permissions, disk)",
        ) from None
    try:
        needed, sep, _ = _scan_head(head, conv)
    except SepMismatch as exc:
        given, found = exc.args
        raise InputError(
            source.name,
            f"the header has no {given} (the separator given) but is {found}-separated",
            f"drop the separator option (it applies to every file), or save the file "
            f"{given}-separated",
            line=1,
        ) from None
    conv = Conventions(sep, tuple(conv.na_strings), conv.comment_char, conv.transposed)
    if not needed and not copy:
        return Prepared(source, source.path, False, conv)
    name = out_name or _plain_name(source.filename)
    out = Path(workdir) / name
    out.parent.mkdir(parents=True, exist_ok=True)
    if not needed:  # a canonical bundle member: copy it as stored (compressed stays so)
        suffix = source.filename[len(_plain_name(source.filename)) :]  # stays compressed
        out = Path(workdir) / (out_name + suffix if out_name else source.filename)
        with _RawReader(source) as (raw, hashing), open(out, "wb") as fh:
            while chunk := raw.read(BLOCK_BYTES):
                fh.write(chunk)
            digest = hashing.sha256.hexdigest()
        return Prepared(source, out, True, conv, sha256=digest)
    with _Reader(source) as reader:
        if conv.transposed:
            header_line, headers = _transpose(
                source, reader, conv, out, corner=not role.startswith("covariates"), workdir=workdir
            )
        else:
            header_line, headers = _convert(source, reader, conv, out)
        digest = reader.digest()
    return Prepared(source, out, True, conv, digest, header_line, headers)


class _RawReader:
    """The stored bytes of a source (no decompression) and their running sha256."""

    def __init__(self, source: Source):
        self.source = source

    def __enter__(self):
        s = self.source
        if s.path is not None:
            self._zip = None
            raw = open(s.path, "rb")  # noqa: SIM115
        else:
            self._zip = zipfile.ZipFile(s.zip_path)
            raw = self._zip.open(s.member)
        self._h = _Hashing(raw)
        return self._h, self._h

    def __exit__(self, *exc):
        self._h.close()
        if self._zip is not None:
            self._zip.close()


def _plain_name(name: str) -> str:
    for suffix in textio.CODECS:
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return name


# ---------------------------------------------------------------------------------- converting
class _Fields:
    """Splits lines into fields by one convention and writes them as canonical CSV.

    Most lines take a fast path: no quote character (and no comma when the separator is
    another) means the canonical line is the line with its separators replaced; only a line
    holding a missing-value spelling is split to map it (whole cells only: '-' in '-0.5' is
    not missing).
    """

    def __init__(self, source: Source, conv: Conventions):
        self.source = source
        self.sep = conv.sep.encode()
        self.na = {s.encode() for s in conv.na_strings}

    def _plain(self, line: bytes) -> bool:
        return b'"' not in line and (self.sep == b"," or b"," not in line)

    def split(self, line: bytes, lineno: int) -> list[bytes]:
        """The line's fields as written (quotes removed)."""
        if b'"' in line:
            try:
                text = line.decode("utf-8")
            except UnicodeDecodeError:
                raise _not_text(self.source, lineno) from None
            rows = list(csv.reader([text], delimiter=self.sep.decode()))
            return [f.encode() for f in (rows[0] if rows else [])]
        return line.split(self.sep)

    def _missing(self, fields: list[bytes], line: bytes) -> list[bytes]:
        na = self.na
        if b" " in line or b"\t" in line:
            return [b"" if f.strip() in na else f for f in fields]
        return [b"" if f in na else f for f in fields]

    def cells(self, line: bytes, lineno: int, data: bool = True) -> list[bytes]:
        """The line's fields as canonical cells (missing spellings emptied, quoted if needed)."""
        fields = self.split(line, lineno)
        if data and self.na:
            fields = fields[:1] + self._missing(fields[1:], line)
        if self._plain(line):
            return fields
        return [_quote(f) for f in fields]

    def convert(self, line: bytes, lineno: int, data: bool = True) -> bytes:
        """The canonical text of one line (without its line break)."""
        if self._plain(line):
            if self.sep != b",":
                line = line.replace(self.sep, b",")
            if not (data and self.na and any(s in line for s in self.na)):
                return line
            return b",".join(self._missing(line.split(b","), line))
        fields = self.split(line, lineno)
        if data and self.na:
            fields = self._missing(fields, line)
        return b",".join(_quote(f) for f in fields)


def _quote(field: bytes) -> bytes:
    if b"," in field or b'"' in field or b"\n" in field or b"\r" in field:
        return b'"' + field.replace(b'"', b'""') + b'"'
    return field


def _not_text(source: Source, line: int) -> InputError:
    return InputError(
        source.name,
        "not UTF-8 text",
        "save the file as UTF-8 text (compressed files must be named .gz or .zst)",
        line=line,
    )


def _rows(source: Source, reader: _Reader, conv: Conventions):
    """``(lineno, line | None)`` for every line after the preamble (without CR): ``None`` for
    a comment or empty line.  The first item is ``(header_line, headers, header)``: the
    header's line number, the preamble's key-value lines and the header line."""
    comment = (conv.comment_char if conv.comment_char is not None else DEFAULT_COMMENT).encode()
    anywhere = bool(conv.comment_char)
    headers: list[tuple[int, str, str]] = []
    lines = _lines(reader)
    lineno = 0
    header = None
    for line in lines:
        lineno += 1
        if lineno == 1:
            line = line.removeprefix(BOM)
        line = line.rstrip(b"\r")
        s = line.strip()
        if _is_comment(s, comment):
            if len(headers) < 10_000:  # a preamble, not a file of comments
                headers.append((lineno, *_header_pair(s, comment)))
            continue
        if not s:
            continue
        header = line
        break
    if header is None:
        raise InputError(source.name, "no table (only comment or empty lines)", "add the table")
    yield lineno, headers, header
    for line in lines:
        lineno += 1
        line = line.rstrip(b"\r")
        s = line.strip()
        if not s or (anywhere and _is_comment(s, comment)):
            yield lineno, None
            continue
        yield lineno, line


def _convert(source: Source, reader: _Reader, conv: Conventions, out: Path):
    """Write the canonical copy, keeping line numbers (see the module doc)."""
    fields = _Fields(source, conv)
    rows = _rows(source, reader, conv)
    header_line, headers, header = next(rows)
    with open(out, "wb", buffering=BLOCK_BYTES) as fh:
        fh.write(fields.convert(header, header_line, data=False) + b"\n")
        fh.write(b"\n" * (header_line - 1))
        for lineno, line in rows:
            fh.write(b"\n" if line is None else fields.convert(line, lineno) + b"\n")
    return header_line, headers


def _transpose(
    source: Source, reader: _Reader, conv: Conventions, out: Path, *, corner: bool, workdir: Path
):
    """Write the transpose of a samples-by-rows matrix (see the module doc for the memory).

    ``corner=False`` (covariates): the canonical header has no corner cell, so the first
    column's first cell is dropped.
    """
    fields = _Fields(source, conv)
    rows = _rows(source, reader, conv)
    header_line, headers, header_text = next(rows)
    header = fields.cells(header_text, header_line, data=False)
    m = len(header)
    n_pieces = min(MAX_PIECES, m)
    width = math.ceil(m / n_pieces)
    n_pieces = math.ceil(m / width)
    with tempfile.TemporaryDirectory(dir=workdir, prefix="transpose-") as tmp:
        pieces = [
            open(Path(tmp) / f"{i}.txt", "wb", buffering=1 << 16)  # noqa: SIM115
            for i in range(n_pieces)
        ]
        try:
            n_rows = 0
            for lineno, line in _rows_with_header(header_line, header, rows):
                if line is None:
                    continue
                row = line if isinstance(line, list) else fields.cells(line, lineno)
                if len(row) != m:
                    raise InputError(
                        source.name,
                        f"{len(row)} fields, expected {m} (one per field of the header line)",
                        "give every line of a transposed file as many fields as its first line",
                        line=lineno,
                    )
                for i, piece in enumerate(pieces):
                    piece.write(b"\x1f".join(row[i * width : (i + 1) * width]) + b"\n")
                n_rows += 1
        finally:
            for piece in pieces:
                piece.close()
        with open(out, "wb", buffering=BLOCK_BYTES) as fh:
            first = True
            for i in range(n_pieces):
                cells = [
                    line.split(b"\x1f")
                    for line in (Path(tmp) / f"{i}.txt").read_bytes().split(b"\n")[:-1]
                ]
                block = np.array(cells, dtype=bytes).T  # (columns of the piece, rows)
                del cells
                for column in block:
                    values = list(column)
                    if first and not corner:
                        values = values[1:]
                    first = False
                    fh.write(b",".join(values) + b"\n")  # cells quoted in pass 1
                del block
    return header_line, headers


def _rows_with_header(header_line: int, header: list[bytes], rows):
    yield header_line, header
    yield from rows


def describe(source: Source, conv: Conventions) -> list[str]:
    """Why ``source`` would be converted (empty: it is canonical); for messages and tests."""
    return _scan_head(_head(source), conv)[2]


def read_text(source: Source) -> bytes:
    """All stored bytes of a small file (a control file)."""
    if source.path is not None:
        return source.path.read_bytes()
    with zipfile.ZipFile(source.zip_path) as zf:
        return zf.read(source.member)


__all__ = [
    "Conventions",
    "Prepared",
    "Source",
    "parse_sep",
    "prepare",
    "describe",
    "detect_sep",
]
