"""The SegmentQTL drop-in reads files in every convention 'segqtl ingest' reads (issue 15):
BOM + CRLF, tab, semicolon with quoted fields, '#' header lines, .gz and .zst, detected or
given by --sep / --na_strings / --comment_char, with output files byte-identical to the
drop-in's on the plain CSVs."""

from __future__ import annotations

import csv
import tempfile
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner

from segqtl.cli import dropin
from segqtl.ingest import CohortInputs

from .conftest import GOLDEN_MAIN
from .test_conventions import _compress as compress

#: The golden cohort's files (paths under GOLDEN_MAIN) by drop-in flag.
FILES = {
    "--quantifications": "quantifications.csv",
    "--covariates": "covariates.csv",
    "--copynumber": "copynumbers.csv",
    "--segmentation": "segments.csv",
}
GENOTYPES = ["chr1_ALTlr.csv", "chr1_REFlr.csv", "chr2_ALTlr.csv", "chr2_REFlr.csv"]

#: Conventions detected without flags (keyword arguments of :func:`write_cohort`).
DETECTED = {
    "bom_crlf": dict(bom=True, newline="\r\n"),
    "tab": dict(sep="\t"),
    "semicolon_quoted": dict(sep=";", quote=True),
    "hash_header_lines": dict(head="# pyhegp summary file version 1\n# number-of-samples 120\n"),
    "gz": dict(compress="gz"),
    "zst": dict(compress="zst"),
}


# ------------------------------------------------------------------------------------ helpers
def read_rows(path: Path) -> list[list[str]]:
    with open(path, newline="") as fh:
        return list(csv.reader(fh))


def write_rows(path: Path, rows, *, sep=",", quote=False, newline="\n", bom=False, head=""):
    def cell(v: str) -> str:
        return '"' + v.replace('"', '""') + '"' if quote else v

    text = head + "".join(sep.join(cell(v) for v in row) + "\n" for row in rows)
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.replace("\n", newline).encode())


def write_cohort(
    dst: Path, *, compress_as: str | None = None, edit=None, comment_inside=None, **style
) -> list[str]:
    """The golden cohort written to ``dst`` in other conventions; returns its input flags.

    ``edit(name, rows)`` may change a file's rows first; ``comment_inside`` adds a comment
    line after the third line of every file.
    """
    (dst / "genotypes").mkdir(parents=True)
    args = []
    for name in [*FILES.values(), *(f"genotypes/{g}" for g in GENOTYPES)]:
        rows = read_rows(GOLDEN_MAIN / name)
        if edit is not None:
            rows = edit(name, rows)
        if comment_inside is not None:
            rows = [*rows[:3], [comment_inside], *rows[3:]]
        path = dst / name
        write_rows(path, rows, **style)
        if compress_as:
            path = compress(path, compress_as)
        flag = next((f for f, n in FILES.items() if n == name), None)
        if flag:
            args += [flag, str(path)]
    return ["--genotypes", str(dst / "genotypes"), *args]


def plain_args() -> list[str]:
    args = ["--genotypes", str(GOLDEN_MAIN / "genotypes")]
    for flag, name in FILES.items():
        args += [flag, str(GOLDEN_MAIN / name)]
    return args


def run_dropin(out: Path, inputs: list[str], *flags: str, mode="nominal", chromosome="1"):
    args = ["--mode", mode, "--chromosome", chromosome, *inputs, "--out_dir", str(out), *flags]
    return CliRunner().invoke(dropin, args)


def outputs(out: Path) -> dict[str, bytes]:
    """The drop-in's output files (all but the warehouse) by name."""
    return {p.name: p.read_bytes() for p in sorted(out.iterdir()) if "duckdb" not in p.name}


def cohort_records(out: Path) -> tuple[list, list]:
    """(cohort, checksum) rows of the drop-in's warehouse and its cohort_control rows."""
    con = duckdb.connect(str(out / "segqtl.duckdb"), read_only=True)
    try:
        cohorts = con.execute("SELECT cohort, checksum FROM cohorts ORDER BY ALL").fetchall()
        control = con.execute(
            "SELECT cohort, format, control_text FROM cohort_control ORDER BY ALL"
        ).fetchall()
        return cohorts, control
    finally:
        con.close()


def one_line_error(result) -> str:
    """The drop-in failed with one 'segqtl: error: ... Fix: ...' line and nothing on stdout."""
    assert result.exit_code == 2, (result.exit_code, result.output)
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("segqtl: error: ") and "Fix: " in lines[0], lines[0]
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr
    return lines[0]


@pytest.fixture(scope="module")
def plain_nominal(tmp_path_factory):
    """The drop-in's nominal files for chr1 on the plain golden CSVs."""
    out = tmp_path_factory.mktemp("plain") / "out"
    res = run_dropin(out, plain_args(), "-q")
    assert res.exit_code == 0, res.output
    return outputs(out), cohort_records(out)


# -------------------------------------------------------------------------------------- tests
@pytest.mark.parametrize("case", sorted(DETECTED))
def test_dropin__detected_conventions_give_the_plain_files(plain_nominal, tmp_path, case):
    style = dict(DETECTED[case])
    codec = style.pop("compress", None)
    inputs = write_cohort(tmp_path / "in", compress_as=codec, **style)
    res = run_dropin(tmp_path / "out", inputs, "-q")
    assert res.exit_code == 0, res.output
    expected, _ = plain_nominal
    assert "nominal_chr1.csv" in expected
    assert outputs(tmp_path / "out") == expected
    # the cohort is named after the checksum of the files as given (their stored bytes)
    paths = dict(zip(inputs[::2], inputs[1::2], strict=True))
    checksum = CohortInputs(
        genotypes=paths["--genotypes"],
        quantifications=paths["--quantifications"],
        covariates=paths["--covariates"],
        copynumber=paths["--copynumber"],
        segmentation=paths["--segmentation"],
    ).checksums()[1]
    cohorts, control = cohort_records(tmp_path / "out")
    assert cohorts == [(f"cohort_{checksum[:12]}", checksum)]
    if case in ("gz", "zst"):  # compressed canonical CSV: read as it is, nothing to record
        assert control == []
    else:
        assert control == [
            (
                cohorts[0][0],
                "flags",
                '{"comment_char": null, "na_strings": [], "sep": null}',
            )
        ]


def test_dropin__plain_files_take_the_plain_ingest(plain_nominal):
    _, (cohorts, control) = plain_nominal
    checksum = CohortInputs(
        **{"genotypes": GOLDEN_MAIN / "genotypes"}
        | {f[2:]: GOLDEN_MAIN / n for f, n in FILES.items()}
    ).checksums()[1]
    assert cohorts == [(f"cohort_{checksum[:12]}", checksum)]
    assert control == []  # no conversion, no conventions record


def test_dropin__conventions_flags_reach_the_ingest(tmp_path):
    """--sep ';' --na_strings NA,- --comment_char % read '-' as missing and '%' lines as
    comments anywhere: the files equal the plain run's on the cohort with empty cells."""

    def blanks(name, rows, spelling=""):
        if name != "quantifications.csv":
            return rows
        rows = [list(r) for r in rows]
        for i in range(1, len(rows), 5):
            rows[i][4 + i % 50] = spelling
        return rows

    plain = write_cohort(tmp_path / "plain", edit=blanks)
    res = run_dropin(tmp_path / "out_plain", plain, "-q")
    assert res.exit_code == 0, res.output
    flagged = write_cohort(
        tmp_path / "flagged",
        edit=lambda name, rows: blanks(name, rows, "-"),
        comment_inside="% a note",
        sep=";",
    )
    flags = ["--sep", ";", "--na_strings", "NA,-", "--comment_char", "%"]
    res = run_dropin(tmp_path / "out", flagged, "-q", *flags)
    assert res.exit_code == 0, res.output
    assert outputs(tmp_path / "out") == outputs(tmp_path / "out_plain")
    (cohort, fmt, text), *_ = cohort_records(tmp_path / "out")[1]
    assert fmt == "flags" and '"sep": ";"' in text and '"-"' in text and '"%"' in text
    # kebab spellings are the same flags; without --na_strings a '-' is refused by name
    res = run_dropin(tmp_path / "out2", flagged, "-q", "--sep", ";", "--comment-char", "%")
    line = one_line_error(res)
    assert "quantifications.csv" in line and "'-'" in line
    assert not (tmp_path / "out2" / "segqtl.duckdb").exists()


def test_dropin__perm_on_tab_separated_files_gives_the_plain_files(tmp_path):
    flags = ["-q", "--perm_method", "direct", "--num_permutations", "50"]
    res = run_dropin(tmp_path / "plain", plain_args(), *flags, mode="perm")
    assert res.exit_code == 0, res.output
    inputs = write_cohort(tmp_path / "in", sep="\t", bom=True)
    res = run_dropin(tmp_path / "tab", inputs, *flags, mode="perm")
    assert res.exit_code == 0, res.output
    expected = outputs(tmp_path / "plain")
    assert "perm_chr1_50.csv" in expected
    assert outputs(tmp_path / "tab") == expected


def test_dropin__converted_cohort_is_reused_and_leaves_no_copies(tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    inputs = write_cohort(tmp_path / "in", sep=";", quote=True, newline="\r\n")
    before = sorted(p for p in (tmp_path / "in").rglob("*"))
    first = run_dropin(tmp_path / "out", inputs)
    assert first.exit_code == 0, first.output
    assert "ingested cohort" in first.stderr
    second = run_dropin(tmp_path / "out", inputs, chromosome="2")
    assert second.exit_code == 0, second.output
    assert "reusing cohort" in second.stderr
    cohorts, control = cohort_records(tmp_path / "out")
    assert len(cohorts) == 1 and len(control) == 1
    # the canonical copies went to $TMPDIR and were removed; nothing was added to the inputs
    assert not any(p.name.startswith("segqtl-ingest-") for p in (tmp_path / "tmp").iterdir())
    assert sorted(p for p in (tmp_path / "in").rglob("*")) == before
    assert sorted(p.name for p in (tmp_path / "out").iterdir() if "duckdb" not in p.name) == [
        "nominal_chr1.csv",
        "nominal_chr2.csv",
    ]


def _bad_cell(file: str, line: int):
    """An ``edit`` that spoils one value cell of ``file`` on ``line`` (1-based, of the rows)."""

    def edit(name, rows):
        if name == file:
            rows = [list(r) for r in rows]
            rows[line - 1][-1] = "x1"
        return rows

    return edit


@pytest.mark.parametrize(
    "file", ["quantifications.csv", "genotypes/chr1_REFlr.csv"], ids=["quant", "genotypes"]
)
def test_dropin__bad_cell_in_a_converted_file_names_the_file_and_line(tmp_path, file):
    head = "# written by hand\n"  # the header moves to line 2: the line is the file's own
    inputs = write_cohort(tmp_path / "in", edit=_bad_cell(file, 7), sep="\t", head=head)
    res = run_dropin(tmp_path / "out", inputs)
    line = one_line_error(res)
    assert line.startswith(f"segqtl: error: {tmp_path / 'in' / file}, line 8"), line
    assert "segqtl-ingest-" not in line  # named as given, not by its canonical copy
    assert not (tmp_path / "out" / "segqtl.duckdb").exists()  # no warehouse left behind


@pytest.mark.parametrize(
    ("flags", "named"),
    [
        (["--sep", "|"], "--sep"),
        (["--comment_char", "##"], "--comment_char"),  # named as typed
        # every sample ID starts with a letter: each data line would be taken for a comment
        (["--comment_char", "S"], "can start a data line"),
        (["--sep", ";", "--comment_char", ";"], "can start a data line"),
        # --sep applies to every file: comma-separated files are not read as one column
        (["--sep", ";"], "has no semicolon (the separator given) but is comma-separated"),
    ],
)
def test_dropin__bad_conventions_flag_is_one_line_before_any_ingest(tmp_path, flags, named):
    res = run_dropin(tmp_path / "out", plain_args(), *flags)
    assert named in one_line_error(res)
    assert not (tmp_path / "out").exists()


def test_dropin__reused_cohort_read_with_other_conventions_is_warned(tmp_path):
    # the conventions never change which cohort is reused (its files' checksum): a corrected
    # flag would otherwise have no effect, silently
    db = str(tmp_path / "wh.duckdb")
    first = run_dropin(tmp_path / "a", plain_args(), "--na_strings", "-999", "--db", db, "-q")
    assert first.exit_code == 0, first.output
    again = run_dropin(tmp_path / "b", plain_args(), "--na_strings", "-999", "--db", db, "-q")
    assert again.exit_code == 0 and "other conventions" not in again.stderr
    other = run_dropin(tmp_path / "c", plain_args(), "--db", db, "-q")
    assert other.exit_code == 0, other.output
    warned = [line for line in other.stderr.splitlines() if "other conventions" in line]
    assert len(warned) == 1 and "na_strings ['-999'] then, [] now" in warned[0]
    assert warned[0].startswith("segqtl: warning: ") and "Fix: " in warned[0]
    # the same reading, spelled otherwise (order; a spelling the readers know anyway): no warning
    same = run_dropin(tmp_path / "d", plain_args(), "--na_strings", "NA,-999", "--db", db, "-q")
    assert same.exit_code == 0 and "other conventions" not in same.stderr, same.stderr
