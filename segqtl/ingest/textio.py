"""Byte-level input: plain or compressed CSV files, read whole or in blocks of whole lines.

A CSV input may be plain, gzip-compressed (``.csv.gz``, including multi-member/bgzip files) or
zstd-compressed (``.csv.zst``).  The format is chosen by the file name's suffix; the first bytes
are checked against it so that a mismatch is a clear one-line error rather than garbage.
Decompression streams (pyarrow's codecs, already a dependency), so a large genotype file never
has to fit in memory.  Checksums stay those of the file's bytes as stored (compressed bytes
for a compressed file): they are computed while the file is read, by :class:`HashingFile`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa

from ..errors import InputError

#: Suffix -> pyarrow codec name.
CODECS = {".gz": "gzip", ".zst": "zstd"}
_MAGIC = {"gzip": b"\x1f\x8b", "zstd": b"\x28\xb5\x2f\xfd"}
_TOOL = {"gzip": "gzip -t", "zstd": "zstd -t"}
_READ = 8 << 20  # bytes per read from disk


def codec_of(path: Path) -> str | None:
    """``"gzip"``, ``"zstd"`` or ``None`` (plain text), from the file name's suffix."""
    return CODECS.get(Path(path).suffix.lower())


def check_magic(path: Path) -> str | None:
    """The file's codec, after checking that its first bytes agree with its name."""
    codec = codec_of(path)
    with open(path, "rb") as fh:
        head = fh.read(4)
    found = next((c for c, magic in _MAGIC.items() if head.startswith(magic)), None)
    if codec is None and found is not None:
        raise InputError(
            path,
            f"not UTF-8 text: the file is {found}-compressed",
            f"add {next(s for s, c in CODECS.items() if c == found)!r} to the file name "
            "(compressed inputs are read when named .csv.gz or .csv.zst), or decompress it",
        )
    if codec is not None and found != codec:
        raise InputError(
            path,
            f"named like a {codec} file but it is not {codec}-compressed",
            f"compress it with {codec}, or remove the {Path(path).suffix!r} suffix",
        )
    return codec


class HashingStream:
    """A binary stream that feeds every byte read into a sha256 (the source's checksum)."""

    def __init__(self, raw):
        self._fh = raw
        self.sha256 = hashlib.sha256()
        self.closed = False

    def read(self, n: int = -1) -> bytes:
        data = self._fh.read(n)
        self.sha256.update(data)  # hashlib drops the GIL for large blocks
        return data

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def close(self) -> None:
        if not self.closed:
            self._fh.close()
            self.closed = True

    def __enter__(self) -> HashingStream:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class HashingFile(HashingStream):
    """A binary file that feeds every byte read into a sha256 (the file's checksum)."""

    def __init__(self, path: Path):
        super().__init__(open(path, "rb"))  # noqa: SIM115  (closed by close())


class Stream:
    """Decompressed bytes of one input file, read in pieces; errors name the file.

    ``digest()`` is the sha256 of the file's stored bytes once it has been read to the end.
    """

    def __init__(self, path: Path):
        self.path = Path(path)
        self.codec = check_magic(self.path)
        self._raw = HashingFile(self.path)
        self._stream = (
            pa.CompressedInputStream(pa.PythonFile(self._raw, mode="r"), self.codec)
            if self.codec
            else None
        )
        self.eof = False

    def read(self, n: int = _READ) -> bytes:
        if self._stream is None:
            data = self._raw.read(n)
        else:
            try:
                data = self._stream.read(n)
            except (OSError, pa.ArrowException) as exc:
                raise InputError(
                    self.path,
                    f"truncated or corrupt {self.codec} data ({str(exc).splitlines()[0]})",
                    f"re-create or re-download the file (check it with '{_TOOL[self.codec]} "
                    f"{self.path.name}')",
                ) from None
        if not data:
            self.eof = True
        return bytes(data)

    def digest(self) -> str:
        """sha256 of the stored bytes: call after reading to the end."""
        if self._stream is None:
            return self._raw.sha256.hexdigest()
        while self._raw.read(_READ):  # bytes after the compressed stream's end count too
            pass
        return self._raw.sha256.hexdigest()

    def close(self) -> None:
        if self._stream is not None:
            self._stream.close()
        self._raw.close()

    def __enter__(self) -> Stream:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def read_all(path: Path) -> bytes:
    """The whole decompressed content of a (small) input file."""
    with Stream(path) as s:
        parts = []
        while chunk := s.read():
            parts.append(chunk)
    return b"".join(parts)


def first_line(path: Path) -> bytes:
    """The first line's bytes (without its line break), read no further than needed.

    Raises
    ------
    InputError
        The lines end in a bare carriage return (classic Mac OS): no reader here splits them,
        and the "first line" would be the whole file.
    """
    with Stream(path) as s:
        buf = b""
        # a CR followed by anything but LF ends the line too: stop reading there
        while b"\n" not in buf and not 0 <= buf.find(b"\r") < len(buf) - 1:
            more = s.read(1 << 16)
            if not more:
                break
            buf += more
    line = buf.split(b"\n", 1)[0]
    if b"\r" in line.rstrip(b"\r"):
        raise InputError(
            path,
            "the lines end in a bare carriage return (CR, as classic Mac OS wrote them)",
            "save the file with LF or CRLF line endings, e.g. tr '\\r' '\\n' < FILE > NEW",
            line=1,
        )
    return line.rstrip(b"\r")


class LineBlocks:
    """Blocks of whole lines of a (possibly compressed) file, after its header line.

    Each block is ``(first_line, data)``: the 1-based line number of its first line and its
    bytes, which end with a line break except for the file's last line.  Blank lines are kept
    so that line numbers stay those of the file.

    Parameters
    ----------
    stream : Stream
        The file, read from its start.
    block_bytes : int
        About how many bytes of text a block holds (whole lines; a longer line makes a
        longer block).
    prefix : bytes, optional
        Bytes put before every block's data (e.g. the header line, so that a block parses as a
        CSV file of its own); joined in with the block's one copy of its bytes.
    """

    def __init__(self, stream: Stream, block_bytes: int, prefix: bytes = b""):
        self.stream = stream
        self.block_bytes = int(block_bytes)
        self.prefix = prefix
        self._buf = b""
        self._next_line = 1
        self.header = self._take_header()

    def _take_header(self) -> bytes:
        while b"\n" not in self._buf and not self.stream.eof:
            self._buf += self.stream.read(1 << 16)
        head, sep, rest = self._buf.partition(b"\n")
        self._buf = rest
        self._next_line = 2
        return head + sep

    def __iter__(self) -> Iterator[tuple[int, bytes]]:
        return self

    def __next__(self) -> tuple[int, bytes]:
        # The block ends at the first line break at or after byte ``want - 1``.  The pieces
        # read are joined once, with the prefix (copying each block three times, as slices
        # and then behind the header, cost a tenth of the genotype files' reading time).
        parts = [self._buf] if self._buf else []
        size = len(self._buf)
        want = max(self.block_bytes, 1)
        search = want - 1  # offset from which a line break may end the block
        cut = None  # (index of the part holding the line break, offset after it)
        while cut is None:
            if size > search:
                offset = 0
                for i, part in enumerate(parts):
                    if offset + len(part) > search:
                        k = part.find(b"\n", max(search - offset, 0))
                        if k >= 0:
                            cut = (i, k + 1)
                            break
                    offset += len(part)
                if cut is not None:
                    break
                search = size  # a line longer than the block: read on to its end
            if self.stream.eof:
                break
            more = self.stream.read(min(_READ, max(want - size, 1 << 16)))
            parts.append(more)
            size += len(more)
        if cut is None:  # the end of the file
            cut = (len(parts) - 1, len(parts[-1])) if parts else (0, 0)
        i, k = cut
        if not parts or (i == 0 and k == 0):
            self._buf = b""
            raise StopIteration
        last = memoryview(parts[i])
        self._buf = b"".join([last[k:], *parts[i + 1 :]])
        lines = sum(p.count(b"\n") for p in parts[:i]) + parts[i].count(b"\n", 0, k)
        data = b"".join([self.prefix, *parts[:i], last[:k]])
        first = self._next_line
        self._next_line += lines
        return first, data

    @property
    def next_line(self) -> int:
        """The line number the next block would start at (after the end: one past the last)."""
        return self._next_line
