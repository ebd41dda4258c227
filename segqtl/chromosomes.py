"""Chromosome names: the one normalisation rule and the natural order (docs/methods.md#inputs)."""

from __future__ import annotations

#: chr1..chr22, chrX: the natural order, and the cycle of negative-control chromosomes.
AUTOSOMES_X = tuple(f"chr{i}" for i in range(1, 23)) + ("chrX",)


def normalize_chromosome(name: str) -> str:
    """``8`` / ``chr8`` / ``CHR8`` / ``Chr8`` -> ``chr8``; ``X`` -> ``chrX``."""
    name = str(name).strip()
    if name[:3].lower() == "chr":  # the prefix in any case is the prefix, not part of a name
        return "chr" + name[3:]
    return f"chr{name}"


def natural_order(chromosomes) -> list[str]:
    """``chromosomes`` sorted chr1..chr22, chrX, then any others by name."""
    rank = {c: i for i, c in enumerate(AUTOSOMES_X)}
    return sorted(chromosomes, key=lambda c: (rank.get(c, len(rank)), c))


def parse_chromosomes(
    values, available, *, flag: str = "--chromosome", where: str = "the cohort"
) -> list[str]:
    """The chromosomes a ``--chromosome`` list names, checked against ``available``.

    Each value may be ``all`` (every chromosome of ``available``), one chromosome (``8``,
    ``chr8``, ``X``), a comma-separated list (``1,2``) or a range of chr1..chr22, chrX
    (``1-5``: those of chr1..chr5 that ``available`` has); the flag may be repeated.  The
    result keeps the order of first mention, without repeats.

    Parameters
    ----------
    values : iterable of str
        The flag's values as typed.
    available : list of str
        The chromosomes there are (normalised names, natural order).
    flag, where : str
        The flag as typed and what holds the chromosomes, for messages.

    Raises
    ------
    UsageError
        One line naming the value, what ``where`` has and the fix.
    """
    from .errors import UsageError

    have = set(available)
    shown = ", ".join(natural_order(available)) or "none"
    fix = f"Fix: give {flag} with one or more of {shown} (or 'all')"
    out: list[str] = []
    pieces = chromosome_pieces(values)
    if not any(pieces):
        raise UsageError(f"{flag} is empty. {fix}")
    for piece in pieces:
        if not piece:
            continue
        if piece.lower() == "all":
            chosen = natural_order(available)
        elif (span := _range(piece)) is not None:
            chosen = [c for c in span if c in have]
            if not chosen:
                raise UsageError(f"{flag} {piece}: {where} has none of {piece}. {fix}")
        else:
            chrom = normalize_chromosome(piece)
            if chrom not in have:
                raise UsageError(f"{flag} {piece}: {where} has no {chrom}. {fix}")
            chosen = [chrom]
        out += [c for c in chosen if c not in out]
    return out


def chromosome_pieces(values) -> list[str]:
    """``--chromosome`` values split at commas, each piece stripped."""
    return [p.strip() for v in values for p in str(v).split(",")]


def _range(piece: str) -> list[str] | None:
    """``1-5`` / ``chr1-chr5`` as chr1..chr5 (natural order), or None if not such a range."""
    first, sep, last = piece.partition("-")
    if not sep:
        return None
    a, b = normalize_chromosome(first), normalize_chromosome(last)
    if a not in AUTOSOMES_X or b not in AUTOSOMES_X:
        return None
    i, j = AUTOSOMES_X.index(a), AUTOSOMES_X.index(b)
    return list(AUTOSOMES_X[min(i, j) : max(i, j) + 1])


def plain_chromosomes(values) -> list[str] | None:
    """``--chromosome`` values that name single chromosomes only (no ``all``, list or range),
    normalised and without repeats; None if any value needs the chromosomes there are
    (:func:`parse_chromosomes`)."""
    out: list[str] = []
    for value in values:
        text = str(value).strip()
        if not text or "," in text or text.lower() == "all" or _range(text) is not None:
            return None
        chrom = normalize_chromosome(text)
        if chrom not in out:
            out.append(chrom)
    return out or None


def asks_for_many(values) -> bool:
    """Whether ``--chromosome`` values ask for chromosomes by ``all`` or a range (``1-5``)
    rather than naming each one: a run may then leave out the chromosomes its selection
    empties."""
    pieces = chromosome_pieces(values)
    return any(p.lower() == "all" or _range(p) is not None for p in pieces if p)
