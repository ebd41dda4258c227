"""Control files and bundles (issue 15): the golden cohort described by a YAML/JSON control
file or zipped as a bundle loads the plain tables; malformed ones are one-line errors that
write nothing; ``segqtl bundle`` writes a cohort that ingests back to the same checksum."""

from __future__ import annotations

import hashlib
import json
import shutil
import zipfile
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner

from segqtl import api
from segqtl.cli import cli
from segqtl.errors import InputError
from segqtl.ingest.control import KEYS

from .conftest import GOLDEN_MAIN
from .test_conventions import (
    GENOTYPES,
    ROLES,
    assert_same_cohort,
    file_rows,
    golden_paths,
    nominal_results,
    variant,
    with_missing,
)


def yaml_text(data: dict) -> str:
    import yaml

    return yaml.safe_dump(data, sort_keys=False)


def relative_control(folder: Path, **extra) -> dict:
    """A control mapping naming the golden layout's files relative to ``folder``."""
    return {
        "description": "golden discovery cohort",
        "genotypes": "genotypes",
        **{role: name for role, name in ROLES.items()},
        **extra,
    }


def state(db: Path) -> list:
    """Everything an ingest writes, to prove a failed one wrote nothing."""
    con = duckdb.connect(str(db), read_only=True)
    try:
        return [
            con.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
            for t in ("cohorts", "cohort_files", "samples", "variants", "cohort_control")
        ] + [con.execute("SELECT list(cohort ORDER BY cohort) FROM cohorts").fetchone()[0]]
    finally:
        con.close()


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory):
    """A copy of the golden cohort with missing cells, ingested plainly as 'plain'."""
    root = tmp_path_factory.mktemp("control")
    src = with_missing(GOLDEN_MAIN, root / "plain")
    db = root / "w.duckdb"
    api.ingest(db, "plain", **golden_paths(src))
    return src, db


def test_control__yaml_and_json_name_files_relative_to_their_folder(warehouse):
    src, db = warehouse
    data = relative_control(src)
    (src / "cohort.yaml").write_text(yaml_text(data))
    (src / "cohort.json").write_text(json.dumps(data, indent=2))
    res_yaml = api.ingest_control(db, "from_yaml", src / "cohort.yaml")
    res_json = api.ingest_control(db, "from_json", src / "cohort.json")
    assert_same_cohort(db, "plain", "from_yaml")
    assert_same_cohort(db, "plain", "from_json")
    plain = file_rows(db, "plain")
    # the same files: the same per-file sha256s and the same cohort checksum as the plain ingest
    assert file_rows(db, "from_yaml") == plain
    con = duckdb.connect(str(db), read_only=True)
    checksums = dict(con.execute("SELECT cohort, checksum FROM cohorts").fetchall())
    stored = con.execute(
        "SELECT format, control_text, control_sha256, checksum FROM cohort_control "
        "WHERE cohort = 'from_yaml'"
    ).fetchone()
    con.close()
    assert res_yaml.checksum == res_json.checksum == checksums["plain"]
    text = (src / "cohort.yaml").read_bytes()
    assert stored == ("yaml", text.decode(), hashlib.sha256(text).hexdigest(), checksums["plain"])


def test_control__conventions_transposed_files_and_per_chromosome_genotypes(warehouse, tmp_path):
    """Global tab separator and NA/- spellings, one file with its own conventions, '#'
    headers, transposed matrices and genotype files named per chromosome: the plain tables,
    and the plain nominal results."""
    src, db = warehouse
    folder = tmp_path / "qtl2"
    variant(
        src,
        folder,
        sep="\t",
        missing_as="-",
        head="# pyhegp summary file version 1\n# number-of-samples 120\n",
        transposed=("genotypes", "quantifications", "covariates"),
    )
    # copynumber: its own conventions (semicolons, NA) and not transposed
    cn_rows = [line.split(",") for line in (src / "copynumbers.csv").read_text().splitlines()]
    (folder / "cn.txt").write_text(
        "\n".join(";".join(c if c else "NA" for c in row) for row in cn_rows) + "\n"
    )
    (folder / "copynumbers.csv").unlink()
    geno = folder / "genotypes"
    for g in GENOTYPES:  # other names: the per-chromosome form names them
        (geno / g).rename(geno / g.lower().replace("_", "-").replace(".csv", ".tsv"))
    control = {
        "description": "qtl2-style",
        "sep": "\t",
        "na.strings": ["NA", "-"],
        "comment.char": "#",
        "genotypes": {
            c: {"altlr": f"genotypes/chr{c}-altlr.tsv", "reflr": f"genotypes/chr{c}-reflr.tsv"}
            for c in (1, 2)
        },
        "quantifications": "quantifications.csv",
        "covariates": "covariates.csv",
        "copynumber": {"file": "cn.txt", "sep": ";", "na.strings": ["NA"]},
        "segmentation": "segments.csv",
        "genotypes_transposed": True,
        "quantifications_transposed": True,
        "covariates_transposed": True,
        "copynumber_transposed": False,
    }
    assert set(control) == set(KEYS) - {"phenotype_covariate"}
    (folder / "control.yaml").write_text(yaml_text(control))
    api.ingest_control(db, "qtl2", folder / "control.yaml")
    assert_same_cohort(db, "plain", "qtl2")
    con = duckdb.connect(str(db), read_only=True)
    headers = con.execute(
        "SELECT role, line, key, value FROM cohort_file_headers WHERE cohort = 'qtl2' "
        "AND role = 'quantifications' ORDER BY line"
    ).fetchall()
    files = dict(
        con.execute("SELECT role, sha256 FROM cohort_files WHERE cohort = 'qtl2'").fetchall()
    )
    con.close()
    assert headers == [
        ("quantifications", 1, "pyhegp", "summary file version 1"),
        ("quantifications", 2, "number-of-samples", "120"),
    ]
    alt = hashlib.sha256((geno / "chr1-altlr.tsv").read_bytes()).hexdigest()
    assert files["genotypes_alt:chr1"] == alt
    assert nominal_results(db, "plain").equals(nominal_results(db, "qtl2"), null_equal=True)


def bundle_of(folder: Path, out: Path, control: dict, prefix: str = "") -> Path:
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(f"{prefix}cohort.yaml", yaml_text(control))
        for path in sorted(folder.rglob("*")):
            if path.is_file() and path.suffix != ".yaml" and path.suffix != ".json":
                zf.write(path, prefix + path.relative_to(folder).as_posix())
    return out


def test_control__bundle_reads_members_without_unpacking(warehouse, tmp_path):
    src, db = warehouse
    folder = tmp_path / "files"
    variant(src, folder, sep=";", newline="\r\n", bom=True, compress="gz")
    control = {
        "genotypes": "genotypes",
        **{r: f"{n}.gz" for r, n in ROLES.items()},
        "sep": ";",
    }
    zipped = bundle_of(folder, tmp_path / "cohort.zip", control, prefix="cohort/")
    shutil.rmtree(folder)  # the bundle alone
    res = api.ingest_control(db, "zipped", zipped)
    assert_same_cohort(db, "plain", "zipped")
    rows = file_rows(db, "zipped")
    with zipfile.ZipFile(zipped) as zf:
        member = zf.read("cohort/quantifications.csv.gz")
    assert rows["quantifications"] == (
        f"{zipped.resolve()}:cohort/quantifications.csv.gz",
        hashlib.sha256(member).hexdigest(),
    )
    assert res.n_samples == 120
    assert list(tmp_path.iterdir()) == [zipped]  # nothing unpacked next to it


def test_control__bundle_round_trip_keeps_the_checksum(tmp_path):
    db = tmp_path / "w.duckdb"
    first = api.ingest(db, "golden", **golden_paths())
    runner = CliRunner()
    out = runner.invoke(
        cli, ["bundle", "--db", str(db), "--cohort", "golden", "--out", str(tmp_path / "a.zip")]
    )
    assert out.exit_code == 0, out.output
    again = runner.invoke(
        cli,
        ["ingest", "--db", str(db), "--cohort", "again", "--control", str(tmp_path / "a.zip")],
    )
    assert again.exit_code == 0, again.output
    assert_same_cohort(db, "golden", "again")
    con = duckdb.connect(str(db), read_only=True)
    checksums = dict(con.execute("SELECT cohort, checksum FROM cohorts").fetchall())
    con.close()
    # the golden files are written as the bundle writes them: the same bytes, the same checksum
    assert checksums["again"] == checksums["golden"] == first.checksum
    api.bundle(db, "again", tmp_path / "b.zip")
    with zipfile.ZipFile(tmp_path / "a.zip") as a, zipfile.ZipFile(tmp_path / "b.zip") as b:
        names = [n for n in a.namelist() if not n.endswith(".yaml")]
        assert names == [n for n in b.namelist() if not n.endswith(".yaml")]
        assert all(a.read(n) == b.read(n) for n in names)
        assert (
            a.read("genotypes/chr1_ALTlr.csv")
            == (GOLDEN_MAIN / "genotypes" / "chr1_ALTlr.csv").read_bytes()
        )


def test_control__bundle_of_a_cohort_with_missing_values_is_a_fixed_point(warehouse, tmp_path):
    src, db = warehouse
    api.bundle(db, "plain", tmp_path / "p.zip")
    one = api.ingest_control(db, "bundled_once", tmp_path / "p.zip")
    api.bundle(db, "bundled_once", tmp_path / "q.zip")
    two = api.ingest_control(db, "bundled_twice", tmp_path / "q.zip")
    assert one.checksum == two.checksum
    assert_same_cohort(db, "plain", "bundled_twice")


# ------------------------------------------------------------------------------------- errors
def _plain_control(src: Path) -> dict:
    return {"genotypes": f"{src}/genotypes", **{r: f"{src}/{n}" for r, n in ROLES.items()}}


BAD_YAML = {
    # name: (control text given the source folder, text expected in the message)
    "typo": (
        lambda s: yaml_text({**_plain_control(s), "quantification": "q.csv"}),
        "unknown key 'quantification' (did you mean 'quantifications'?)",
    ),
    "duplicate": (
        lambda s: yaml_text(_plain_control(s)) + f"segmentation: {s}/segments.csv\n",
        "duplicate key 'segmentation'",
    ),
    "syntax": (lambda s: "genotypes: [a, b\nquantifications: q\n", "not valid YAML"),
    "not_mapping": (lambda s: "- a\n- b\n", "not a mapping of keys"),
    "missing_key": (
        lambda s: yaml_text({k: v for k, v in _plain_control(s).items() if k != "segmentation"}),
        "no 'segmentation' key",
    ),
    "missing_file": (
        lambda s: yaml_text({**_plain_control(s), "covariates": "nope.csv"}),
        "covariates: file 'nope.csv' not found",
    ),
    "bad_sep": (
        lambda s: yaml_text({**_plain_control(s), "sep": "|"}),
        "sep '|' is not a separator",
    ),
    "bad_na": (
        lambda s: yaml_text({**_plain_control(s), "na.strings": {"a": 1}}),
        "na.strings must be a list",
    ),
    "bad_comment": (
        lambda s: yaml_text({**_plain_control(s), "comment.char": "##"}),
        "comment.char must be one character",
    ),
    "bad_transposed": (
        lambda s: yaml_text({**_plain_control(s), "covariates_transposed": "yes"}),
        "covariates_transposed must be true or false",
    ),
    "per_file_key": (
        lambda s: yaml_text(
            {**_plain_control(s), "copynumber": {"file": f"{s}/copynumbers.csv", "seperator": ";"}}
        ),
        "unknown key 'seperator' in copynumber",
    ),
    "chromosome": (
        lambda s: yaml_text({**_plain_control(s), "genotypes": {1: {"altlr": "a.csv"}}}),
        "genotypes.1 has no 'reflr'",
    ),
    "phenotype_covariate_transposed": (
        lambda s: yaml_text({**_plain_control(s), "phenotype_covariate_transposed": True}),
        "unknown key 'phenotype_covariate_transposed'",
    ),
    "altlr_is_reflr": (  # the same file under two spellings
        lambda s: yaml_text(
            {
                **_plain_control(s),
                "genotypes": {
                    1: {
                        "altlr": f"{s}/genotypes/chr1_ALTlr.csv",
                        "reflr": f"{s}/genotypes/../genotypes/chr1_ALTlr.csv",
                    }
                },
            }
        ),
        "genotypes.1.altlr and genotypes.1.reflr name the same file",
    ),
    # YAML is JSON's superset: a nesting deep enough to exhaust the parser's recursion
    "nested_too_deeply": (
        lambda s: "a: " + "[" * 100_000 + "]" * 100_000 + "\n",
        "nested too deeply",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_YAML))
def test_control__malformed_control_file_is_one_line_and_writes_nothing(warehouse, tmp_path, case):
    src, db = warehouse
    text, expected = BAD_YAML[case]
    control = tmp_path / "bad.yaml"
    control.write_text(text(src))
    before = state(db)
    result = CliRunner().invoke(
        cli, ["ingest", "--db", str(db), "--cohort", "bad", "--control", str(control)]
    )
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert expected in lines[0] and "Fix:" in lines[0]
    assert str(control) in lines[0]
    assert state(db) == before
    # a new warehouse is not even created
    fresh = tmp_path / "fresh.duckdb"
    with pytest.raises(InputError):
        api.ingest_control(fresh, "bad", control)
    assert not fresh.exists()


def test_control__errors_name_the_line_of_the_key(warehouse, tmp_path):
    src, _ = warehouse
    control = tmp_path / "c.yaml"
    control.write_text(yaml_text({**_plain_control(src), "sep": ",", "na_strings": ["-"]}))
    with pytest.raises(InputError) as err:
        api.ingest_control(tmp_path / "x.duckdb", "c", control)
    line = control.read_text().splitlines().index("na_strings:") + 1
    assert err.value.line == line and "unknown key 'na_strings'" in str(err.value)
    bad_json = tmp_path / "c.json"
    bad_json.write_text('{\n  "genotypes": "g",\n  "quantifications": "q.csv",\n}\n')
    with pytest.raises(InputError) as err:
        api.ingest_control(tmp_path / "x.duckdb", "c", bad_json)
    assert err.value.line == 4 and "not valid JSON" in str(err.value)


def test_control__malformed_bundles_are_one_line_and_write_nothing(warehouse, tmp_path):
    src, db = warehouse
    control = relative_control(src)
    cases = {}
    none = tmp_path / "none.zip"
    with zipfile.ZipFile(none, "w") as zf:
        zf.write(src / "segments.csv", "segments.csv")
    cases["none"] = (none, "exactly one control file")
    two = bundle_of(src, tmp_path / "two.zip", control)
    with zipfile.ZipFile(two, "a") as zf:
        zf.writestr("other.json", "{}")
    cases["two"] = (two, "exactly one control file")
    outside = bundle_of(src, tmp_path / "outside.zip", {**control, "covariates": "../c.csv"})
    cases["outside"] = (outside, "points outside the bundle")
    missing = bundle_of(src, tmp_path / "missing.zip", {**control, "covariates": "cov.csv"})
    cases["missing"] = (missing, "covariates: file 'cov.csv' not found")
    notzip = tmp_path / "notzip.zip"
    notzip.write_text("hello")
    cases["notzip"] = (notzip, "not a zip file")
    before = state(db)
    for name, (path, expected) in cases.items():
        result = CliRunner().invoke(
            cli, ["ingest", "--db", str(db), "--cohort", "b", "--control", str(path)]
        )
        lines = result.output.strip().splitlines()
        assert result.exit_code == 2 and len(lines) == 1, (name, result.output)
        assert expected in lines[0] and str(path) in lines[0] and "Fix:" in lines[0], name
    assert state(db) == before


def test_control__bad_cell_in_a_bundle_member_names_the_member_and_line(warehouse, tmp_path):
    src, db = warehouse
    folder = tmp_path / "files"
    variant(src, folder, sep="\t", head="# a header line\n")
    q = folder / "quantifications.csv"
    lines = q.read_text().split("\n")
    lines[4] = lines[4].replace("\t", "\tbad", 1)  # line 5: the start column
    q.write_text("\n".join(lines))
    zipped = bundle_of(folder, tmp_path / "c.zip", relative_control(folder))
    before = state(db)
    with pytest.raises(InputError) as err:
        api.ingest_control(db, "bad", zipped)
    assert err.value.path == f"{zipped}:quantifications.csv" and err.value.line == 5
    assert state(db) == before


def test_control__cli_takes_control_or_files_not_both(warehouse):
    src, db = warehouse
    runner = CliRunner()
    both = runner.invoke(
        cli,
        [
            "ingest",
            "--db",
            str(db),
            "--cohort",
            "x",
            "--control",
            str(src / "c.yaml"),
            "--quantifications",
            str(src / "quantifications.csv"),
        ],
    )
    neither = runner.invoke(cli, ["ingest", "--db", str(db), "--cohort", "x"])
    for result, text in ((both, "not both"), (neither, "missing --genotypes")):
        assert result.exit_code == 2
        assert result.output.count("\n") == 1 and text in result.output and "Fix:" in result.output


def test_control__replace_replaces_the_control_record(warehouse, tmp_path):
    src, db = warehouse
    control = tmp_path / "r.yaml"
    control.write_text(yaml_text(_plain_control(src)))
    api.ingest_control(db, "replaced", control)
    control.write_text(yaml_text({**_plain_control(src), "description": "second"}))
    api.ingest_control(db, "replaced", control, replace=True)
    con = duckdb.connect(str(db), read_only=True)
    texts = con.execute(
        "SELECT control_text FROM cohort_control WHERE cohort = 'replaced'"
    ).fetchall()
    con.close()
    assert len(texts) == 1 and "second" in texts[0][0]


def test_control__error_in_a_genotype_file_names_it_as_given(warehouse, tmp_path):
    """Canonical files named per chromosome are linked under the readers' names; an error
    in one names the file the control file gave, and its line."""
    src, db = warehouse
    for g in GENOTYPES:
        shutil.copy(src / "genotypes" / g, tmp_path / g.replace("_", "."))
    bad = tmp_path / "chr2.REFlr.csv"
    lines = bad.read_text().split("\n")
    lines[4] = lines[4].replace(",", ",oops", 1)
    bad.write_text("\n".join(lines))
    control = tmp_path / "c.yaml"
    genotypes = {
        c: {"altlr": f"chr{c}.ALTlr.csv", "reflr": f"chr{c}.REFlr.csv"} for c in ("1", "2")
    }
    files = {r: str(src / n) for r, n in ROLES.items()}
    control.write_text(yaml_text({"genotypes": genotypes, **files}))
    before = state(db)
    with pytest.raises(InputError) as err:
        api.ingest_control(db, "g", control)
    assert err.value.path == str(bad) and err.value.line == 5
    assert "non-numeric value" in err.value.problem
    assert state(db) == before
