"""The interaction term file of ``--interaction FILE``: ``sample,<term name>`` per line.

A two-column CSV (``.gz``/``.zst`` too): a header naming the sample column and the term, then
one row per sample with a number (empty, ``NA`` or ``NaN`` = missing).  Samples of the cohort
that the file does not list are missing (left out of every interaction fit); a sample the
cohort does not have, a repeated sample or a value that is not a number is an error naming the
line.
"""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path

from ..errors import InputError
from . import textio

MISSING = {"", "NA", "NaN", "nan", "N/A", "null", "NULL", "."}


def read_term(
    path: str | Path, sample_ids: list[str], left_out: frozenset[str] = frozenset()
) -> tuple[str, list[float]]:
    """The term's name and its value for each of the cohort's samples.

    Parameters
    ----------
    path : str or Path
        The term file.
    sample_ids : list of str, length n
        The cohort's samples, in the cohort's order.
    left_out : frozenset of str
        Samples the run's selection left out of the cohort (``--exclude-samples``, ...): their
        rows are skipped, not refused as samples the cohort does not have.

    Returns
    -------
    name : str
        The term's column header.
    values : list of float, length n
        The value per sample; NaN where missing or not listed.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(
            path, "the interaction term file does not exist (or is not a file)",
            "give --interaction a CSV with the columns sample,<term name>",
        )  # fmt: skip
    try:
        text = (textio.read_all(path) if textio.codec_of(path) else path.read_bytes()).decode(
            "utf-8-sig"
        )
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise InputError(
            path, f"cannot be read as text ({type(exc).__name__})",
            "give a UTF-8 CSV (optionally .gz or .zst) with the columns sample,<term name>",
        ) from None  # fmt: skip
    rows = csv.reader(io.StringIO(text))
    header = next(rows, None)
    if header is None or len(header) != 2 or not header[1].strip():
        raise InputError(
            path, "the header must name two columns: the sample and the term",
            "start the file with a line such as 'sample,purity'", line=1,
        )  # fmt: skip
    name = header[1].strip()
    position = {s: i for i, s in enumerate(sample_ids)}
    values = [math.nan] * len(sample_ids)
    seen: set[str] = set()
    for line, row in enumerate(rows, start=2):
        if not row or (len(row) == 1 and not row[0].strip()):
            continue
        if len(row) != 2:
            raise InputError(
                path, f"{len(row)} fields where the header has 2",
                "give one sample and one value per line", line=line,
            )  # fmt: skip
        sample, raw = row[0].strip(), row[1].strip()
        if sample in left_out and sample not in position:
            continue
        if sample not in position:
            raise InputError(
                path, f"sample {sample!r} is not in the cohort",
                "use the sample names of the quantification file's header", line=line,
            )  # fmt: skip
        if sample in seen:
            raise InputError(
                path, f"sample {sample!r} is listed twice", "list each sample once", line=line
            )
        seen.add(sample)
        if raw in MISSING:
            continue
        try:
            value = float(raw)
        except ValueError:
            raise InputError(
                path, f"{raw!r} is not a number", "give a number, or leave the cell empty "
                "(or NA) for a missing value", line=line, column=name,
            ) from None  # fmt: skip
        if not math.isfinite(value):
            raise InputError(
                path, f"{raw!r} is not a finite number", "give a finite number or NA",
                line=line, column=name,
            )  # fmt: skip
        values[position[sample]] = value
    if not any(math.isfinite(v) for v in values):
        raise InputError(
            path, "no sample of the cohort has a value",
            "list the cohort's samples (the quantification file's header) with their values",
        )  # fmt: skip
    return name, values
