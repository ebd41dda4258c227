"""Per-run selection inputs: ID lists (``--include-samples FILE`` ...) and ``--range`` values.

An ID list is UTF-8 text (plain, ``.gz`` or ``.zst``; a BOM and CRLF line ends are accepted)
holding IDs separated by whitespace, one per line or several; ``#`` starts a comment that runs
to the end of its line.  IDs are matched exactly (sample_id, variant_id as written in the
genotype files, gene_id).  A range is ``CHR:START-END`` (1-based, both ends inclusive) or
``CHR`` alone (the whole chromosome).  See docs/inputs.md#exclusions-and-ranges.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path

from ..chromosomes import normalize_chromosome
from ..errors import InputError, UsageError

#: Largest position a range may name (beyond any chromosome, inside 64 bits).
MAX_POSITION = 10_000_000_000


@dataclass(frozen=True)
class IdList:
    """One ID list file, read.

    Attributes
    ----------
    path : str
        The file as given.
    ids : tuple of str
        Its IDs in file order, duplicates removed (the first kept).
    sha256 : str
        Of the file's bytes as stored.
    """

    path: str
    ids: tuple[str, ...]
    sha256: str


def quote_id(text: str, limit: int = 60) -> str:
    """``text`` quoted for a message, cut to about ``limit`` characters (an ID can be huge)."""
    return repr(text) if len(text) <= limit else repr(text[:limit]) + f"... ({len(text)} chars)"


def read_id_list(path: str | Path, flag: str) -> IdList:
    """Read an ID list named by ``flag``; a one-line error naming the file (and line) if it
    cannot be used.

    A run asks for its lists several times (its checks, its derived cohort, its records): a
    file read once is not read again while it stays the same file, unchanged (same inode,
    size and modification time), so every step sees the same IDs and checksum.
    """
    p = Path(path)
    try:
        st = p.stat()
        stamp = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
    except OSError:
        stamp = None  # _read_id_list says why
    if stamp is None or not p.is_file():
        return _read_id_list(str(path), flag, stamp)
    return _cached_id_list(str(path), flag, stamp)


@functools.lru_cache(maxsize=16)
def _cached_id_list(path: str, flag: str, stamp: tuple) -> IdList:
    return _read_id_list(path, flag, stamp)


def _read_id_list(path: str, flag: str, stamp) -> IdList:
    """:func:`read_id_list`'s reading (``stamp`` only keys the cache)."""
    from .readers import sha256_file
    from .textio import check_magic, read_all

    p = Path(path)
    if not p.exists():
        raise UsageError(f"{flag} {path}: no such file. Fix: give the path of a list of IDs")
    if p.is_dir():
        raise UsageError(f"{flag} {path} is a folder. Fix: give a file listing one ID per line")
    if not p.is_file():
        # a pipe (/dev/stdin, <(...), a FIFO) is read several times per run (the checks, the
        # checksum, the derived cohort) and would be empty, or block, after the first
        raise UsageError(
            f"{flag} {path} is not a regular file (a pipe or a device). Fix: save the list to "
            "a file and give its path"
        )
    if p.stat().st_size == 0:  # before the compression checks: an empty .zst is empty too
        raise InputError(
            path, "lists no IDs (the file is empty)", f"write one ID per line, or drop {flag}"
        )
    try:
        check_magic(p)
        data = read_all(p)
        sha256 = sha256_file(p)
    except OSError as exc:
        raise UsageError(
            f"{flag} {path}: cannot read it ({exc.strerror or exc}). Fix: check the path and "
            "its permissions"
        ) from None
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):  # UTF-16's byte-order marks
        raise InputError(
            path, "UTF-16 text (Windows 'Unicode')", "save the list as UTF-8 (one ID per line)"
        )
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    ids: dict[str, None] = {}
    for number, raw in enumerate(data.split(b"\n"), start=1):
        if b"\x00" in raw:
            raise InputError(path, "not a text file (a NUL byte)", "give a plain list of IDs")
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise InputError(
                path, "not UTF-8 text", "save the list as UTF-8 (one ID per line)", line=number
            ) from None
        line = line.split("#", 1)[0]
        for token in line.split():
            if any(c in token for c in ",;\"'"):
                raise InputError(
                    path,
                    f"{quote_id(token)} is not one ID (IDs are separated by spaces or line breaks)",
                    "write one ID per line, without commas, semicolons or quotes",
                    line=number,
                )
            ids.setdefault(token, None)
    if not ids:
        raise InputError(path, "lists no IDs", f"write one ID per line, or drop {flag}")
    return IdList(str(path), tuple(ids), sha256)


@dataclass(frozen=True, order=True)
class Range:
    """``chr:start-end``, 1-based and inclusive (``start`` 1 and ``end`` :data:`MAX_POSITION`
    for a whole chromosome)."""

    chr: str
    start: int
    end: int

    def __str__(self) -> str:
        if self.start == 1 and self.end == MAX_POSITION:
            return self.chr
        return f"{self.chr}:{self.start}-{self.end}"


_RANGE = re.compile(r"([^:\s]+)(?::(\d+)-(\d+))?")


def parse_ranges(text: str | None, flag: str = "--range") -> list[Range]:
    """``--range`` values (joined by commas when repeated) as sorted :class:`Range` objects,
    overlapping or adjacent ones merged; a one-line error naming the bad value otherwise."""
    if text is None:
        return []
    out = []
    for item in (part.strip() for part in str(text).split(",")):
        match = _RANGE.fullmatch(item)
        if not item or match is None:
            raise UsageError(
                f"{flag} {item!r} is not CHR:START-END. Fix: give a region such as "
                "chr5:1000000-2000000 (no thousands separators), or a chromosome such as chr5"
            )
        chrom = normalize_chromosome(match.group(1))
        if match.group(2) is None:
            out.append(Range(chrom, 1, MAX_POSITION))
            continue
        start, end = int(match.group(2)), int(match.group(3))
        if end > MAX_POSITION:
            raise UsageError(
                f"{flag} {item}: END is beyond any chromosome (at most {MAX_POSITION}). Fix: "
                f"give {chrom}:START-END with a real position, or {chrom} for all of it"
            )
        if start < 1 or start > end:
            raise UsageError(
                f"{flag} {item}: START must be at least 1 and at most END (positions are "
                f"1-based, both ends included). Fix: give {chrom}:START-END with START <= END"
            )
        out.append(Range(chrom, start, end))
    # overlapping or adjacent ranges are one: the same selection, the same derived cohort
    merged: list[Range] = []
    for r in sorted(set(out)):
        last = merged[-1] if merged else None
        if last is not None and last.chr == r.chr and r.start <= last.end + 1:
            merged[-1] = Range(r.chr, last.start, max(last.end, r.end))
        else:
            merged.append(r)
    return merged


__all__ = ["IdList", "MAX_POSITION", "Range", "parse_ranges", "quote_id", "read_id_list"]
