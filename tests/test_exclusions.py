"""Per-run exclusions, ranges, --min-samples-observed and PCs (issue 15): every run equals a run
on input files with the listed rows removed, every exclusion is recorded, bad lists are one line.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner

from segqtl import api
from segqtl.cli import cli, dropin
from segqtl.errors import SegqtlError, UsageError
from segqtl.ingest.lists import parse_ranges, read_id_list
from segqtl.spec import RunSpec

from .conftest import cohort_kwargs

NOMINAL_SQL = (
    "SELECT chr, phenotype, variant, status, number_of_samples, beta_s, se_s, beta_d, se_d, "
    "t_stat_d, nominal_p, p_adj FROM nominal_results WHERE run_id = $r "
    "ORDER BY chr, phenotype, variant"
)


def _read(path: Path) -> list[list[str]]:
    with open(path, newline="") as fh:
        return list(csv.reader(fh))


def _write(path: Path, rows) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as fh:
        csv.writer(fh).writerows(rows)
    return path


def _cut_cohort(cohort, out: Path, samples=(), variants=(), phenotypes=()) -> dict:
    """The cohort's input files with those samples (columns; segment rows), variants (genotype
    rows) and phenotypes (quantification rows) removed: what a user would do by hand."""
    samples, variants, phenotypes = set(samples), set(variants), set(phenotypes)

    def columns(rows, first_data: int):
        keep = [i for i, name in enumerate(rows[0]) if i < first_data or name not in samples]
        return [[row[i] for i in keep] for row in rows]

    quant = columns(_read(cohort.quantifications), 4)
    quant = [quant[0]] + [r for r in quant[1:] if r[3] not in phenotypes]
    cov = _read(cohort.covariates)
    keep = [i for i, name in enumerate(cov[0]) if name not in samples]
    # the covariates file has a row label column without a header: one more field per row
    cov = [[cov[0][i] for i in keep]] + [[r[0]] + [r[i + 1] for i in keep] for r in cov[1:]]
    files = {
        "quantifications": _write(out / "quantifications.csv", quant),
        "covariates": _write(out / "covariates.csv", cov),
        "copynumber": _write(out / "copynumbers.csv", columns(_read(cohort.copynumber), 1)),
        "phenotype_covariate": _write(
            out / "phenotype_covariate.csv", columns(_read(cohort.phenotype_covariate), 1)
        ),
        "segmentation": _write(
            out / "segments.csv",
            [r for r in _read(cohort.segmentation) if r[0] not in samples],
        ),
    }
    for path in Path(cohort.genotypes).glob("*.csv"):
        rows = columns(_read(path), 1)
        if all(r[0] in variants for r in rows[1:]):
            continue  # a chromosome left without variants: no files, as a user would do
        _write(
            out / "genotypes" / path.name, [rows[0]] + [r for r in rows[1:] if r[0] not in variants]
        )
    files["genotypes"] = out / "genotypes"
    return files


@pytest.fixture(scope="module")
def picks(small_cohort):
    """Samples, variants and phenotypes to leave out of the small cohort."""
    header = _read(small_cohort.quantifications)[0]
    samples = header[4:][3:60:7]  # 9 of 60
    variants = [r[0] for r in _read(Path(small_cohort.genotypes) / "chr1_ALTlr.csv")[1:]][5:80:9]
    genes = [r[3] for r in _read(small_cohort.quantifications)[1:]]
    return {"samples": samples, "variants": variants, "phenotypes": [genes[2], genes[15]]}


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory, small_cohort, picks):
    """'full' as simulated; 'cut' from files with the picks removed; the lists as files."""
    out = tmp_path_factory.mktemp("exclusions")
    db = out / "wh.duckdb"
    api.ingest(db, "full", **cohort_kwargs(small_cohort))
    cut = _cut_cohort(
        small_cohort, out / "cut", picks["samples"], picks["variants"], picks["phenotypes"]
    )
    api.ingest(db, "cut", **cut)
    lists = {}
    for kind, ids in picks.items():
        path = out / f"{kind}.txt"
        path.write_text("# left out\n" + "\n".join(ids) + "\n")
        lists[kind] = path
    return db, lists, out


def _rows(db, run_id):
    return api.query(db, NOMINAL_SQL, {"r": run_id})


@pytest.mark.parametrize(
    "mode,extra",
    [
        ("nominal", {"all_variants": True}),
        ("perm", {"num_permutations": 40}),
        ("finemap", {"n_bootstrap": 8}),
    ],
)
def test_exclusions__run_equals_a_run_on_files_without_the_rows(warehouse, mode, extra):
    db, lists, _ = warehouse
    common = dict(mode=mode, chromosomes=["1", "2"], **extra)
    a = api.run(
        db,
        RunSpec(
            cohort="full",
            exclude_samples=str(lists["samples"]),
            exclude_variants=str(lists["variants"]),
            exclude_phenotypes=str(lists["phenotypes"]),
            **common,
        ),
    )
    b = api.run(db, RunSpec(cohort="cut", **common))
    if mode == "finemap":
        sql = (
            "SELECT * EXCLUDE (run_id, run_name, cohort) FROM finemap_results WHERE run_id = $r "
            "ORDER BY ALL"
        )
        got, want = api.query(db, sql, {"r": a}), api.query(db, sql, {"r": b})
    else:
        got, want = _rows(db, a), _rows(db, b)
    assert got.height == want.height > 10
    assert got.equals(want)  # bit for bit: the same numbers reach the same kernels
    counts = dict(
        api.query(
            db,
            "SELECT kind || ':' || reason, count(*) FROM run_exclusions WHERE run_id = $r "
            "GROUP BY ALL",
            {"r": a},
        ).rows()
    )
    assert counts == {"sample:excluded": 9, "variant:excluded": 9, "phenotype:excluded": 2}
    params = dict(
        api.query(db, "SELECT key, value FROM run_parameters WHERE run_id = $r", {"r": a}).rows()
    )
    sha = read_id_list(lists["samples"], "--exclude-samples").sha256
    assert json.loads(params["input:exclude_samples"]) == sha
    assert json.loads(params["exclude_samples"]) == str(lists["samples"])
    assert json.loads(params["cohort:source"]) == "full"


def test_exclusions__include_lists_equal_excluding_the_rest(warehouse, picks, small_cohort):
    db, _, out = warehouse
    header = _read(small_cohort.quantifications)[0][4:]
    kept = out / "kept_samples.txt"
    kept.write_text(" ".join(s for s in header if s not in picks["samples"]) + "\n")
    genes = [r[3] for r in _read(small_cohort.quantifications)[1:]]
    keep_genes = out / "kept_genes.txt.gz"
    import gzip

    keep_genes.write_bytes(
        gzip.compress("\n".join(g for g in genes if g not in picks["phenotypes"]).encode())
    )
    common = dict(mode="nominal", chromosomes=["1", "2"], all_variants=True)
    a = api.run(
        db,
        RunSpec(
            cohort="full",
            include_samples=str(kept),
            include_phenotypes=str(keep_genes),
            exclude_variants=str(out / "variants.txt"),
            **common,
        ),
    )
    b = api.run(db, RunSpec(cohort="cut", **common))
    assert _rows(db, a).equals(_rows(db, b))
    reasons = api.query(
        db,
        "SELECT DISTINCT kind, reason FROM run_exclusions WHERE run_id = $r ORDER BY ALL",
        {"r": a},
    ).rows()
    assert reasons == [
        ("phenotype", "not_included"),
        ("sample", "not_included"),
        ("variant", "excluded"),
    ]


def test_exclusions__same_selection_reuses_the_derived_cohort(warehouse):
    db, lists, _ = warehouse
    spec = dict(cohort="full", mode="nominal", chromosomes=["1"])
    a = api.run(db, RunSpec(exclude_samples=str(lists["samples"]), **spec))
    b = api.run(db, RunSpec(exclude_samples=str(lists["samples"]), **spec))
    cohorts = api.query(db, "SELECT cohort FROM runs WHERE run_id IN ($a, $b)", {"a": a, "b": b})[
        "cohort"
    ].to_list()
    assert len(set(cohorts)) == 1 and cohorts[0].startswith("full-x")
    record = api.query(
        db, "SELECT source_cohort, derivation FROM cohorts WHERE cohort = $c", {"c": cohorts[0]}
    ).row(0)
    assert record[0] == "full"
    assert set(json.loads(record[1])["lists"]) == {"exclude_samples"}


def test_range__keeps_variants_in_range_and_phenotypes_whose_window_overlaps(
    warehouse, small_cohort
):
    db, _, out = warehouse
    start, end, window = 1_500_000, 3_000_000, 200_000
    genes = _read(small_cohort.quantifications)
    drop_genes = [
        r[3]
        for r in genes[1:]
        if r[0] != "chr1" or int(r[1]) - window > end or int(r[2]) + window < start
    ]
    drop_variants = []
    for path in Path(small_cohort.genotypes).glob("*_ALTlr.csv"):
        for r in _read(path)[1:]:
            chrom, pos = r[0].split(":")[:2]
            if chrom != "chr1" or not start <= int(pos) <= end:
                drop_variants.append(r[0])
    cut = _cut_cohort(small_cohort, out / "cut_range", (), drop_variants, drop_genes)
    api.ingest(db, "cut_range", **cut)
    common = dict(mode="nominal", chromosomes=["1"], all_variants=True, window=window)
    a = api.run(db, RunSpec(cohort="full", ranges=f"chr1:{start}-{end}", **common))
    b = api.run(db, RunSpec(cohort="cut_range", **common))
    got = _rows(db, a)
    assert got.height > 0 and got.equals(_rows(db, b))
    n_outside = api.query(
        db,
        "SELECT count(*) AS n FROM run_exclusions WHERE run_id = $r AND reason = 'outside_range'",
        {"r": a},
    )["n"].item()
    assert n_outside == len(drop_genes) + len(drop_variants)


def test_range__parsing_and_errors():
    assert [str(r) for r in parse_ranges("5:10-20,chrX,chr5:1-4")] == [
        "chr5:1-4",
        "chr5:10-20",
        "chrX",
    ]
    for bad in ("chr5:20-10", "chr5:0-10", "chr5:1,000-2,000", "chr5:a-b", ""):
        with pytest.raises(UsageError, match="--range"):
            parse_ranges(bad)
    with pytest.raises(UsageError, match="END is beyond any chromosome"):
        parse_ranges("chr5:1-99999999999999999999")
    # overlapping and adjacent ranges are one (one derived cohort for one selection)
    assert parse_ranges("1:2000000-4000000,1:1-3000000,1:4000001-5000000,2:5-9") == parse_ranges(
        "chr1:1-5000000,chr2:5-9"
    )
    assert [str(r) for r in parse_ranges("1:5-9,1")] == ["chr1"]
    # the chr prefix in any case (CHR1, Chr1) is the prefix: the same chromosome
    assert parse_ranges("CHR1:5-9,Chr2,chrX") == parse_ranges("chr1:5-9,2,X")


def test_range__chromosome_without_a_range_is_refused(warehouse):
    db, _, _ = warehouse
    with pytest.raises(UsageError, match="no range is on it"):
        api.run(db, RunSpec(cohort="full", mode="nominal", chromosomes=["1", "2"], ranges="1"))


def test_range__with_a_negative_control_is_refused_naming_both_flags(warehouse):
    db, _, _ = warehouse
    with pytest.raises(UsageError, match="--range .*--neg-control") as err:
        api.run(
            db,
            RunSpec(
                cohort="full", mode="nominal", chromosomes=["1"], ranges="1:1-3000000",
                neg_control=True,
            ),
        )  # fmt: skip
    assert "\n" not in str(err.value)


def test_exclusions__reused_cohort_with_nothing_left_is_refused_before_the_run(
    warehouse, small_cohort, tmp_path
):
    # the derived cohort is made by a chromosome-1 run; a chromosome-2 run of the same list
    # reuses it, and must be refused as a fresh derivation is, before any run is recorded
    db, _, _ = warehouse
    chr2 = [r[0] for r in _read(Path(small_cohort.genotypes) / "chr2_ALTlr.csv")[1:]]
    lst = tmp_path / "all_chr2.txt"
    lst.write_text("\n".join(chr2))
    common = dict(cohort="full", mode="nominal", exclude_variants=str(lst))
    api.run(db, RunSpec(chromosomes=["1"], **common))
    before = api.query(db, "SELECT count(*) AS n FROM runs")["n"].item()
    with pytest.raises(UsageError, match="leaves no variant of cohort 'full' on chr2"):
        api.run(db, RunSpec(chromosomes=["2"], **common))
    # a chromosome the cohort never had is not the selection's doing
    with pytest.raises(UsageError, match="cohort 'full' has no phenotypes on chr9"):
        api.run(db, RunSpec(chromosomes=["9"], **common))
    assert api.query(db, "SELECT count(*) AS n FROM runs")["n"].item() == before


def test_exclusions__a_derived_cohort_cannot_be_replaced_by_an_ingest(warehouse, small_cohort):
    # its name is the hash of a selection, and its runs would then point at other data; the
    # list is given as a pathlib path, as Python users do
    db, lists, _ = warehouse
    run = api.run(
        db,
        RunSpec(
            cohort="full", mode="nominal", chromosomes=["1"], exclude_samples=Path(lists["samples"])
        ),
    )
    derived = api.query(db, "SELECT cohort FROM runs WHERE run_id = $r", {"r": run})["cohort"][0]
    assert derived.startswith("full-x")
    with pytest.raises(UsageError, match="derived cohort.*cannot be replaced"):
        api.ingest(db, derived, replace=True, **cohort_kwargs(small_cohort))
    assert (
        api.query(db, "SELECT source_cohort FROM cohorts WHERE cohort = $c", {"c": derived})[
            "source_cohort"
        ][0]
        == "full"
    )


def test_pcs__frozen_validation_is_refused_in_one_line(warehouse):
    # the PCs are covariates of the discovery cohort only; a frozen model needs the same
    # covariates in the validation cohort
    db, _, _ = warehouse
    spec = RunSpec(
        cohort="full", mode="validate", chromosomes=["1"], validation_cohort="cut",
        validation_mode="frozen", phenotype_pcs=2,
    )  # fmt: skip
    with pytest.raises(UsageError, match="--phenotype-pcs .*Fix: use --validation-mode") as err:
        api.run(db, spec)
    assert "\n" not in str(err.value)


def test_exclusions__conditional_with_other_flags_says_to_drop_them(warehouse):
    db, lists, _ = warehouse
    common = dict(cohort="full", chromosomes=["1"])
    perm = api.run(
        db, RunSpec(mode="perm", num_permutations=20, exclude_samples=str(lists["samples"]),
                    **common),
    )  # fmt: skip
    perm_cohort = api.query(db, "SELECT cohort FROM runs WHERE run_id = $r", {"r": perm})["cohort"][
        0
    ]
    with pytest.raises(UsageError) as err:
        api.run(
            db,
            RunSpec(mode="conditional", perm_run=perm, exclude_variants=str(lists["variants"]),
                    **common),
        )  # fmt: skip
    assert f"Fix: give --cohort {perm_cohort} and no --exclude-variants" in str(err.value)
    # what the fix says works
    api.run(db, RunSpec(mode="conditional", perm_run=perm, cohort=perm_cohort, chromosomes=["1"]))


def test_exclusions__a_named_phenotype_or_variant_left_out_says_so(warehouse, picks):
    db, lists, _ = warehouse
    gene = picks["phenotypes"][0]  # on chr1
    with pytest.raises(
        UsageError,
        match=f"phenotype '{gene}': the run's selection of cohort "
        "'full' left it out \\(listed in the exclude list phenotypes.txt\\)",
    ):
        api.run(db, RunSpec(cohort="full", mode="nominal", chromosomes=["1"], all_variants=gene,
                            exclude_phenotypes=str(lists["phenotypes"])))  # fmt: skip
    variant = picks["variants"][0]
    with pytest.raises(UsageError, match=f"variant '{variant}': the run's selection"):
        api.run(
            db,
            RunSpec(cohort="full", mode="nominal", chromosomes=["1"], condition_on=variant,
                    exclude_variants=str(lists["variants"])),
        )  # fmt: skip


def test_min_samples_observed__pairs_left_out_and_recorded(warehouse, small_cohort):
    db, _, _ = warehouse
    common = dict(cohort="full", mode="nominal", chromosomes=["1", "2"], all_variants=True)
    base = api.run(db, RunSpec(**common))
    # the small cohort has 3% missing genotypes: 59 of 60 drops the pairs missing any sample
    # whose phenotype is observed
    a = api.run(db, RunSpec(min_samples_observed=59, **common))
    excluded = api.query(
        db, "SELECT id, detail FROM run_exclusions WHERE run_id = $r AND kind = 'pair'", {"r": a}
    )
    assert excluded.height > 0
    assert all(int(d.split()[0]) < 59 for d in excluded["detail"])
    full, kept = _rows(db, base), _rows(db, a)
    assert kept.height + excluded.height == full.height
    dropped = set(excluded["id"])
    expected = full.filter(
        [f"{p} {v}" not in dropped for p, v in zip(full["phenotype"], full["variant"], strict=True)]
    )
    assert kept.equals(expected)  # nominal pairs are independent: the rest is unchanged
    # the count is that of the input files: phenotype and both genotype values present
    quant = {r[3]: r[4:] for r in _read(small_cohort.quantifications)[1:]}
    header = _read(small_cohort.quantifications)[0][4:]
    pid, detail = excluded["id"][0], excluded["detail"][0]
    gene, variant = pid.split(" ")
    chrom = variant.split(":")[0]
    alt = {r[0]: r[1:] for r in _read(Path(small_cohort.genotypes) / f"{chrom}_ALTlr.csv")[1:]}
    ref = {r[0]: r[1:] for r in _read(Path(small_cohort.genotypes) / f"{chrom}_REFlr.csv")[1:]}
    n = sum(
        quant[gene][i] not in ("", "NA")
        and alt[variant][i] not in ("", "NA")
        and ref[variant][i] not in ("", "NA")
        for i in range(len(header))
    )
    assert detail == f"{n} observed"


def test_min_samples_observed__perm_killed_resumes_to_identical_rows(warehouse, tmp_path):
    db, _, _ = warehouse
    args = ["--cohort", "full", "--mode", "perm", "--chromosome", "1,2", "--num-permutations",
            "30", "--min-samples-observed", "59", "--unit-size", "4", "--quiet"]  # fmt: skip
    whole = api.run(
        db,
        RunSpec(
            cohort="full",
            mode="perm",
            chromosomes=["1", "2"],
            num_permutations=30,
            min_samples_observed=59,
            phenotypes_per_unit=4,
        ),  # fmt: skip
    )
    env = {**os.environ, "SEGQTL_TEST_KILL_AT": "unit-committed"}
    killed = subprocess.run(
        [sys.executable, "-m", "segqtl", "run", "--db", str(db), *args],
        env=env,
        capture_output=True,
        text=True,
        check=False,  # fmt: skip
    )
    assert killed.returncode == -9, killed.stderr
    stopped = api.query(db, "SELECT max(run_id) AS r FROM runs")["r"].item()
    api.resume(db, stopped)
    assert _rows(db, stopped).equals(_rows(db, whole))
    count = "SELECT count(*) AS n FROM run_exclusions WHERE run_id = $r"
    n_whole = api.query(db, count, {"r": whole})["n"].item()
    assert n_whole > 0 and api.query(db, count, {"r": stopped})["n"].item() == n_whole


def test_id_list__a_pipe_is_refused_in_one_line_without_blocking(tmp_path):
    # a FIFO nobody writes to would block an open() forever; /dev/stdin and <(...) are pipes
    fifo = tmp_path / "ids.fifo"
    os.mkfifo(fifo)
    caught = []

    def read() -> None:
        try:
            read_id_list(fifo, "--exclude-samples")
        except SegqtlError as exc:
            caught.append(exc)

    reader = threading.Thread(target=read, daemon=True)  # a regression blocks, not fails
    reader.start()
    reader.join(timeout=10)
    assert not reader.is_alive(), "reading the FIFO blocked"
    assert len(caught) == 1 and "not a regular file" in str(caught[0])
    assert str(fifo) in str(caught[0]) and "Fix: save the list to a file" in str(caught[0])


def test_id_list__a_run_reads_each_list_once_while_it_is_unchanged(warehouse, tmp_path):
    # the checks, the derived cohort and the run's records all ask for the list
    from segqtl.ingest import lists as lists_module

    db, lists, _ = warehouse
    lst = tmp_path / "once.txt"
    lst.write_text(Path(lists["samples"]).read_text())
    reads = []
    real = lists_module._read_id_list

    def counting(*args):
        reads.append(args[0])
        return real(*args)

    lists_module._cached_id_list.cache_clear()
    spec = RunSpec(cohort="full", mode="nominal", chromosomes=["1"], exclude_samples=str(lst))
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(lists_module, "_read_id_list", counting)
        api.run(db, spec)
        assert reads == [str(lst)]
        lst.write_text(lst.read_text() + "\nNOT_A_SAMPLE\n")  # changed: read again
        with pytest.warns(UserWarning, match="1 of 10 IDs are not samples"):
            api.run(db, spec)
    assert reads == [str(lst), str(lst)]


@pytest.mark.parametrize(
    "content,match",
    [
        (b"", "lists no IDs"),
        (b"# only a comment\n", "lists no IDs"),
        (b"S001,S002\n", "line 1"),
        (b"S001\n\xff\xfe\n", "line 2"),
        ("S001\nS002\n".encode("utf-16"), "UTF-16"),
        (b"S001\n" + b"x" * 5000 + b",y\n", "line 2"),  # a huge token is cut in the message
    ],
)
def test_id_list__malformed_is_one_line_naming_the_file(tmp_path, content, match):
    path = tmp_path / "ids.txt"
    if content == b"":  # empty, also when named as compressed
        empty = tmp_path / "ids.txt.zst"
        empty.write_bytes(b"")
        with pytest.raises(SegqtlError, match="lists no IDs"):
            read_id_list(empty, "--exclude-samples")
    path.write_bytes(content)
    with pytest.raises(SegqtlError, match=match) as err:
        read_id_list(path, "--exclude-samples")
    assert str(path) in str(err.value) and "\n" not in str(err.value)
    assert len(str(err.value)) < 400


def test_exclusions__cli_errors_write_nothing(warehouse, tmp_path, small_cohort):
    db, lists, _ = warehouse
    before = api.query(db, "SELECT count(*) AS n FROM runs")["n"].item()
    header = _read(small_cohort.quantifications)[0][4:]
    (tmp_path / "all.txt").write_text("\n".join(header))
    chr2 = [r[0] for r in _read(Path(small_cohort.genotypes) / "chr2_ALTlr.csv")[1:]]
    (tmp_path / "chr2.txt").write_text("\n".join(chr2))
    runner = CliRunner()
    cases = [
        (["--exclude-samples", str(tmp_path / "missing.txt")], "no such file"),
        # click would keep the last one silently
        (["--exclude-samples", str(lists["variants"])] * 2, "--exclude-samples given 2 times"),
        (["--include-samples", str(lists["variants"])], "none of its 9 IDs are samples"),
        (["--exclude-samples", str(tmp_path / "all.txt")], "at least 3"),
        (["--range", "chr1:9-3"], "START must be"),
        # 24 phenotypes: 24 components would fit each one exactly
        (["--phenotype-pcs", "24"], "give at most 23"),
        # 5 covariates + 55 PCs + intercept, s, d: 63 terms for 60 samples
        (["--genotype-pcs", "55"], "has 63 terms and needs more samples"),
        (["--include-variants", str(tmp_path / "chr2.txt")], "leaves no variant"),
    ]
    for extra, match in cases:
        res = runner.invoke(
            cli,
            [
                "run",
                "--db",
                str(db),
                "--cohort",
                "full",
                "--mode",
                "nominal",
                "--chromosome",
                "1",
                *extra,
            ],
        )
        assert res.exit_code != 0, extra
        errors = [line for line in res.output.splitlines() if "error" in line]
        assert len(errors) == 1 and match in errors[0], res.output
    assert api.query(db, "SELECT count(*) AS n FROM runs")["n"].item() == before
    assert (
        api.query(
            db, "SELECT count(*) AS n FROM cohorts WHERE cohort LIKE 'full-x%' AND n_samples < 9"
        )["n"].item()
        == 0
    )


def _variant_list(tmp_path: Path, small_cohort, *chromosomes: str) -> Path:
    """A list file of every variant ID of ``chromosomes`` of the small cohort."""
    ids = [
        r[0]
        for c in chromosomes
        for r in _read(Path(small_cohort.genotypes) / f"chr{c}_ALTlr.csv")[1:]
    ]
    path = tmp_path / f"chr{'_'.join(chromosomes)}.txt"
    path.write_text("\n".join(ids))
    return path


def _nominal_cli(db, chromosome: str, *extra):
    """``segqtl run`` of cohort 'full' in nominal mode on ``chromosome`` with ``extra`` flags."""
    args = ["run", "--db", str(db), "--cohort", "full", "--mode", "nominal", "--chromosome"]
    return CliRunner().invoke(cli, [*args, chromosome, *map(str, extra)])


def _assert_one_error(res, text: str) -> None:
    """The command failed with exactly one error line, and it says ``text``."""
    assert res.exit_code != 0
    errors = [line for line in res.output.splitlines() if "error" in line]
    assert len(errors) == 1 and text in errors[0], res.output


@pytest.mark.parametrize("chromosome", ["all", "1-2", "ALL"])
def test_exclusions__all_chromosomes_skip_one_the_selection_empties(
    warehouse, tmp_path, small_cohort, chromosome
):
    # --include-variants of chromosome 2's variants leaves chromosome 1 without variants: asked
    # for by 'all' or a range, chromosome 1 is left out with a message and chromosome 2 runs
    db, _, _ = warehouse
    lst = _variant_list(tmp_path, small_cohort, "2")
    res = _nominal_cli(db, chromosome, "--all-variants", "--include-variants", lst)
    assert res.exit_code == 0, res.output
    assert "skipping chr1: the run's selection leaves no variant there" in res.output
    run_id = int(res.stdout.strip().splitlines()[-1])
    sql = "SELECT value FROM run_parameters WHERE run_id = $r AND key = 'chromosomes'"
    assert json.loads(api.query(db, sql, {"r": run_id})["value"].item()) == ["chr2"]
    alone = api.run(db, RunSpec(cohort="full", mode="nominal", chromosomes=["2"],
                                all_variants=True, include_variants=str(lst)))  # fmt: skip
    assert _rows(db, run_id).equals(_rows(db, alone))
    assert len(_rows(db, run_id)) > 0


def test_exclusions__named_chromosomes_the_selection_empties_are_refused(
    warehouse, tmp_path, small_cohort
):
    # a list names each chromosome: refused as before, in one line, nothing recorded
    db, _, _ = warehouse
    lst = _variant_list(tmp_path, small_cohort, "2")
    before = api.query(db, "SELECT count(*) AS n FROM runs")["n"].item()
    res = _nominal_cli(db, "1,2", "--include-variants", lst)
    _assert_one_error(res, "leaves no variant of cohort 'full' on chr1")
    assert api.query(db, "SELECT count(*) AS n FROM runs")["n"].item() == before
    # and when every chromosome is emptied, 'all' is refused too
    every = _variant_list(tmp_path, small_cohort, "1", "2")
    res = _nominal_cli(db, "all", "--exclude-variants", every)
    _assert_one_error(res, "leaves no variant of cohort 'full' on chr1")
    assert api.query(db, "SELECT count(*) AS n FROM runs")["n"].item() == before


def test_exclusions__shards_merge_to_the_unsharded_run(tmp_path, small_cohort, picks):
    base = tmp_path / "base.duckdb"
    api.ingest(base, "full", **cohort_kwargs(small_cohort))
    lists = tmp_path / "samples.txt"
    lists.write_text("\n".join(picks["samples"]))
    spec = dict(
        cohort="full", mode="perm", chromosomes=["1", "2"], num_permutations=30,
        exclude_samples=str(lists), phenotype_pcs=2, phenotypes_per_unit=5,
        min_samples_observed=59,
    )  # fmt: skip
    shards = []
    for k in (1, 2):
        shard = tmp_path / f"shard_{k}.duckdb"
        shutil.copy(base, shard)
        api.run(shard, RunSpec(shard=f"{k}/2", **spec))
        shards.append(shard)
    merged_db = tmp_path / "merged.duckdb"
    merged = api.merge(merged_db, shards)
    whole = api.run(base, RunSpec(**spec))
    sql = (
        "SELECT phenotype, variant, number_of_samples, beta_d, nominal_p, p_adj FROM "
        "perm_results WHERE run_id = $r ORDER BY chr, phenotype_idx"
    )
    assert api.query(merged_db, sql, {"r": merged}).equals(api.query(base, sql, {"r": whole}))
    # every exclusion of the unsharded run, the pairs --min-samples-observed left out included
    records = "SELECT kind, id, reason, detail FROM run_exclusions WHERE run_id = $r ORDER BY ALL"
    merged_records = api.query(merged_db, records, {"r": merged})
    assert merged_records.equals(api.query(base, records, {"r": whole}))
    assert merged_records.filter(pl.col("kind") == "pair").height > 0
    assert merged_records.filter(pl.col("kind") == "sample").height == 9
    # the derived cohort came with its source: its provenance names a cohort that is there,
    # and the same flags on the merged warehouse reuse it
    cohorts = api.query(merged_db, "SELECT cohort, source_cohort FROM cohorts ORDER BY cohort_id")
    derived = api.query(merged_db, "SELECT cohort FROM runs WHERE run_id = $r", {"r": merged})
    assert cohorts["cohort"].to_list() == ["full", derived["cohort"].item()]
    assert cohorts["source_cohort"].to_list() == [None, "full"]
    again = api.run(merged_db, RunSpec(**dict(spec, chromosomes=["1"])))
    assert api.query(merged_db, "SELECT cohort FROM runs WHERE run_id = $r", {"r": again}).equals(
        derived
    )
    assert api.query(merged_db, "SELECT count(*) AS n FROM cohorts")["n"].item() == 2


def test_exclusions__dropin_takes_the_flags_in_both_spellings(tmp_path):
    from .conftest import dropin_input_args, golden_inputs

    header = _read(golden_inputs()["quantifications"])[0][4:]
    lst = tmp_path / "drop.txt"
    lst.write_text("\n".join([*header[:5], "NOT_A_SAMPLE"]))
    out = tmp_path / "out"
    res = CliRunner().invoke(
        dropin,
        ["--mode", "nominal", "--chromosome", "chr1", *dropin_input_args(), "--out_dir",
         str(out), "--exclude_samples", str(lst), "--phenotype-pcs", "2", "--quiet"],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    # the warning names the flag as the drop-in spells it
    assert f"--exclude_samples {lst}: 1 of 6 IDs are not samples" in res.stderr
    db = out / "segqtl.duckdb"
    rows = api.query(db, "SELECT kind, reason, count(*) AS n FROM run_exclusions GROUP BY ALL")
    assert rows.rows() == [("sample", "excluded", 5)]
    n = api.query(db, "SELECT max(number_of_samples) AS n FROM nominal_results")["n"].item()
    assert n <= len(header) - 5


def test_min_samples_observed__finemap_designs_leave_the_pairs_out(warehouse):
    db, _, _ = warehouse
    run = api.run(
        db,
        RunSpec(
            cohort="full",
            mode="finemap",
            chromosomes=["1", "2"],
            n_bootstrap=6,
            min_samples_observed=59,
        ),  # fmt: skip
    )
    excluded = set(
        api.query(
            db, "SELECT id FROM run_exclusions WHERE run_id = $r AND kind = 'pair'", {"r": run}
        )["id"]
    )
    tested = api.query(
        db,
        "SELECT phenotype || ' ' || variant AS id FROM finemap_results WHERE run_id = $r "
        "AND variant IS NOT NULL",
        {"r": run},
    )["id"]
    assert excluded and tested.len() > 0 and not excluded & set(tested)
