"""The mode registry and the parameter declarations: one source for RunSpec, both command
lines, the checks and their messages."""

from __future__ import annotations

import ast
import dataclasses
import subprocess
import sys
from pathlib import Path

import click
import pytest

from segqtl import cli, modes
from segqtl.engine.pool import resolve
from segqtl.modes.parameters import Param
from segqtl.spec import RunSpec

from .conftest import dropin_input_args

ROOT = Path(__file__).parents[1]

#: Every flag of SegmentQTL's command line (its argparse options), which the drop-in must take.
SEGMENTQTL_FLAGS = (
    "--mode --chromosome --genotypes --quantifications --covariates --copynumber --segmentation "
    "--phenotype_covariate --out_dir --all_variants --record_aic --neg_control "
    "--neg_control_max_variants --window --num_cores --perm_method --num_permutations "
    "--alpha_en --coverage_tau --n_bootstrap --subsample_frac --n_lambda --lambda_ratio --cv_tau "
    "--min_obs_boot --compute_r2 --r2_stability_threshold --phenotype_id --val_genotypes "
    "--val_quantifications --val_covariates --val_copynumber --val_segmentation "
    "--val_phenotype_covariate --finemap_results_dir --validation_mode "
    "--validate_with_bootstrap --validation_stability_threshold "
    "--restrict_to_supported_phenotypes --support_definition --support_min_stability "
    "--bootstrap_ci --n_boot_ci --n_permutations --save_model_audit"
).split()


def _options(command: click.Command) -> dict[str, click.Option]:
    return {o: p for p in command.params if isinstance(p, click.Option) for o in p.opts}


def test_registry__runspec_fields_are_the_declared_parameters_in_order():
    names = [f.name for f in dataclasses.fields(RunSpec)]
    assert names[:3] == ["mode", "cohort", "chromosomes"]
    assert names[3:] == list(modes.params())
    defaults = {f.name: f.default for f in dataclasses.fields(RunSpec)[3:]}
    assert defaults == {p.name: p.default for p in modes.params().values()}


def test_registry__every_mode_is_complete():
    assert list(modes.modes()) == [
        "nominal",
        "perm",
        "finemap",
        "validate",
        "interaction",
        "conditional",
    ]
    for mode in modes.modes().values():
        assert mode.result_table == mode.tables[0]
        assert mode.unit_size >= 1 and mode.tested_as and mode.help
        assert callable(resolve(mode.worker))
        for name in mode.migrations:
            assert (ROOT / "sql" / "migrations" / name).is_file()
        for view in mode.views:
            assert (ROOT / "sql" / "views" / f"{view}.sql").is_file()
        assert (ROOT / "sql" / f"{mode.compare_source}.sql").is_file()


def test_registry__every_parameter_has_help_and_a_default_in_range():
    for p in modes.params().values():
        assert p.help.strip().endswith("."), p.name
        assert p.check(p.default, modes.flag_name) == p.default
        assert p.modes == modes.params_module.ALL_MODES or set(p.modes) <= set(modes.modes())


def test_registry__unknown_mode_is_a_one_line_error_listing_the_modes():
    with pytest.raises(
        modes.UsageError,
        match="available: nominal, perm, finemap, validate, interaction, conditional",
    ):
        modes.get("colocalise")


@pytest.mark.parametrize("style,command", [("native", cli.run), ("dropin", cli.dropin)])
def test_cli__every_parameter_has_both_spellings_and_help(style, command):
    options = _options(command)
    for p in modes.params().values():
        if not (p.native if style == "native" else p.dropin):
            assert p.kebab not in options and p.snake not in options
            continue
        for flag in p.flags:
            assert flag in options, (style, flag)
            assert options[flag].help == p.help
        assert options[p.flags[0]].opts[0] == (p.kebab if style == "native" else p.snake)


def test_dropin__help_lists_every_segmentqtl_flag_with_help_text():
    result = subprocess.run(
        [sys.executable, "-m", "segqtl", "--help"], capture_output=True, text=True, check=True
    )
    for flag in SEGMENTQTL_FLAGS:
        assert flag in result.stdout, flag
    options = _options(cli.dropin)
    for flag in SEGMENTQTL_FLAGS:
        assert options[flag].help, flag
    assert "when this version has its worker" not in result.stdout


def test_cli__segqtl_help_lists_the_commands():
    result = subprocess.run(
        [sys.executable, "-c", "from segqtl.cli import main; main(['--help'])"],
        capture_output=True,
        text=True,
        check=True,
    )
    for command in ("ingest", "run", "export", "query", "compare"):
        assert command in result.stdout


def _numeric_params() -> list[Param]:
    return [
        p
        for p in modes.params().values()
        if p.type in (int, float) and (p.low is not None or p.high is not None)
    ]


def _out_of_range(p: Param):
    if p.low is not None:
        return p.type(p.low) if p.low_open else p.type(p.low - 1)
    return p.type(p.high) if p.high_open else p.type(p.high + 1)


@pytest.mark.parametrize("p", _numeric_params(), ids=lambda p: p.name)
def test_check_spec__every_numeric_parameter_refuses_out_of_range(p):
    mode = "validate" if p.applies_to("validate") and not p.applies_to("perm") else "perm"
    spec = RunSpec(mode=mode, cohort="c", chromosomes=["1"], validation_cohort="v")
    if mode != "validate":
        spec.validation_cohort = None
    setattr(spec, p.name, _out_of_range(p))
    with pytest.raises(modes.UsageError) as err:
        modes.check_spec(spec)
    assert str(err.value).startswith(p.kebab + " must be")
    assert "\n" not in str(err.value) and "Fix:" in str(err.value)


def test_check_spec__nan_and_huge_integers_are_refused():
    spec = RunSpec(mode="finemap", cohort="c", chromosomes=["1"], alpha_en=float("nan"))
    with pytest.raises(modes.UsageError, match="--alpha-en must be in"):
        modes.check_spec(spec)
    spec = RunSpec(mode="nominal", cohort="c", chromosomes=["1"], window=2**70)
    with pytest.raises(modes.UsageError, match=r"--window must be in \[0, 10000000000\]"):
        modes.check_spec(spec)


@pytest.mark.parametrize(
    ("text", "size"),
    [("2GB", 2e9), ("512MB", 512e6), ("1.5GiB", 1.5 * 2**30), ("3000000000", 3e9), ("4 gb", 4e9)],
)
def test_parse_size__units_and_binary_prefixes(text, size):
    assert modes.params_module.parse_size(text, modes.flag_name) == int(size)


@pytest.mark.parametrize("text", ["lots", "2XB", "-1GB", "0", "100MB"])
def test_check_spec__bad_or_tiny_max_memory_is_one_line(text):
    spec = RunSpec(mode="nominal", cohort="c", chromosomes=["1"], max_memory=text)
    with pytest.raises(modes.UsageError, match="^--max-memory must be") as err:
        modes.check_spec(spec)
    assert "\n" not in str(err.value) and "Fix: give --max-memory 2GB" in str(err.value)


def test_check_spec__an_option_of_another_mode_is_refused_or_ignored_with_a_warning():
    spec = RunSpec(mode="nominal", cohort="c", chromosomes=["1"], phenotype_id="G1")
    with pytest.raises(modes.UsageError, match="--phenotype-id is a finemap and validate option"):
        modes.check_spec(spec)
    spec = RunSpec(mode="nominal", cohort="c", chromosomes=["1"], num_permutations=100)
    with pytest.warns(UserWarning, match="--num-permutations is a perm and conditional option"):
        modes.check_spec(spec)


def _dropin(tmp_path, *flags) -> subprocess.CompletedProcess:
    args = ["--chromosome", "1", *dropin_input_args(), "--out_dir", str(tmp_path / "o"), *flags]
    return subprocess.run(
        [sys.executable, "-m", "segqtl", *args], capture_output=True, text=True, cwd=tmp_path
    )


@pytest.mark.parametrize(
    "flags,named",
    [
        (["--mode", "perm", "--num_permutations", "0"], "--num_permutations"),
        (["--mode", "perm", "--num-permutations", "0"], "--num-permutations"),
        (["--mode", "perm", "--perm_method", "x"], "--perm_method"),
        (["--mode", "finemap", "--alpha-en", "2"], "--alpha-en"),
        (["--mode", "perm", "--num_cores", "two"], "--num_cores"),
        (["--mode", "perm", "--num-cores", "two"], "--num-cores"),
    ],
)
def test_dropin__messages_name_the_flag_as_typed(tmp_path, flags, named):
    result = _dropin(tmp_path, *flags)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert (
        len(lines) == 1
        and lines[0].startswith(f"segqtl: error: {named}")
        or (f"invalid value for {named}:" in lines[0])
    )
    assert "Fix:" in lines[0]
    assert not (tmp_path / "o").exists()  # nothing ingested or written


def test_cli_run__snake_spelling_works_natively_and_messages_use_it(tmp_path, small_db):
    result = subprocess.run(
        [sys.executable, "-m", "segqtl", "run", "--db", str(small_db), "--cohort", "small",
         "--chromosome", "1", "--mode", "perm", "--num_permutations", "0"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert result.returncode == 2
    assert result.stderr.startswith("segqtl: error: --num_permutations must be in [1, 10000000]")
    result = subprocess.run(
        [sys.executable, "-m", "segqtl", "run", "--db", str(small_db), "--cohort", "small",
         "--chromosome", "1", "--mode", "perm", "--seed", "-1"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert result.stderr.startswith("segqtl: error: --seed must be at least 0")


# ------------------------------------------------------------------------------ architecture
MODE_NAMES = set(modes.MODULES)


def _mode_comparisons(path: Path) -> list[int]:
    """Lines of ``path`` that compare a mode name with something called ``mode``."""

    def is_mode(node) -> bool:
        return (isinstance(node, ast.Name) and node.id == "mode") or (
            isinstance(node, ast.Attribute) and node.attr == "mode"
        )

    def names_a_mode(node) -> bool:
        if isinstance(node, ast.Constant):
            return node.value in MODE_NAMES
        if isinstance(node, ast.Tuple | ast.List | ast.Set):
            return any(names_a_mode(e) for e in node.elts)
        return False

    hits = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Compare):
            sides = [node.left, *node.comparators]
            if any(is_mode(s) for s in sides) and any(names_a_mode(s) for s in sides):
                hits.append(node.lineno)
    return hits


def test_architecture__no_mode_branches_outside_the_mode_modules():
    offenders = {}
    for path in (ROOT / "segqtl").rglob("*.py"):
        if "modes" in path.relative_to(ROOT / "segqtl").parts:
            continue
        if lines := _mode_comparisons(path):
            offenders[str(path.relative_to(ROOT))] = lines
    assert offenders == {}


def test_architecture__no_comment_points_outside_the_repository():
    shared, spec = "../" + "shared", "SPEC_" + "FINEMAP"  # split: this file is scanned too
    offenders = []
    for folder in ("segqtl", "sql", "tests", "benchmarks"):
        for path in (ROOT / folder).rglob("*"):
            if path.suffix in (".py", ".sql"):
                text = path.read_text()
                if shared in text or spec in text:
                    offenders.append(str(path.relative_to(ROOT)))
    assert offenders == []


def test_architecture__method_anchors_cited_in_code_exist():
    import re

    text = (ROOT / "docs" / "methods.md").read_text()
    anchors = set(re.findall(r'<a id="([^"]+)"', text))
    for heading in re.findall(r"^#+ (.+)$", text, flags=re.M):
        slug = re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
        anchors.add(slug)
    cited = set()
    for folder in ("segqtl", "sql", "tests", "benchmarks"):
        for path in (ROOT / folder).rglob("*"):
            if path.suffix in (".py", ".sql"):
                cited |= set(re.findall(r"docs/methods\.md#([\w\-]+)", path.read_text()))
    assert cited, "no code cites docs/methods.md"
    assert cited - anchors == set()


def _sample_value(p: Param) -> tuple[list[str], object]:
    """A valid, non-default value of ``p``: (the words after the flag, the RunSpec value)."""
    if p.type is bool:
        return [], True
    if p.optional_value is not None:
        return ["G1"], "G1"
    if p.choices is not None:
        value = next(c for c in p.choices if c != p.default)
    elif p.type is int:
        value = (p.default or 0) + 1
        if p.high is not None and value > p.high:
            value = p.default - 1
    elif p.type is float:
        value = p.default / 2 if p.default else 0.5
    else:
        value = "x"
    return [str(value)], value


@pytest.mark.parametrize("spelling", ["kebab", "snake"])
@pytest.mark.parametrize("style", ["native", "dropin"])
def test_cli__every_flag_value_reaches_its_runspec_field(style, spelling, monkeypatch):
    from click.testing import CliRunner

    from segqtl import api

    captured = []
    monkeypatch.setattr(api, "validate", lambda spec: None)
    monkeypatch.setattr(api, "run", lambda db, spec, **kw: captured.append(spec) or 1)
    monkeypatch.setattr(
        api,
        "ensure_cohort",
        lambda db, inputs: type("R", (), {"cohort": "c", "reused": True})(),
    )
    monkeypatch.setattr(api, "export", lambda *a, **k: [])
    monkeypatch.setattr(cli, "_report", lambda db, run_id: None)
    for p in modes.params().values():
        if not (p.native if style == "native" else p.dropin):
            continue
        words, value = _sample_value(p)
        flag = p.kebab if spelling == "kebab" else p.snake
        if style == "native":
            args = ["run", "--db", "wh.duckdb", "--cohort", "c", "--chromosome", "1", flag, *words]
            result = CliRunner().invoke(cli.cli, args)
        else:
            args = ["--mode", "nominal", "--chromosome", "1", *dropin_input_args()]
            args += ["--out_dir", "o", flag, *words]
            result = CliRunner().invoke(cli.dropin, args)
        assert result.exit_code == 0, (flag, result.output)
        spec = captured.pop()
        assert getattr(spec, p.name) == value, flag
        others = [q for q in modes.params().values() if q.name != p.name]
        assert all(getattr(spec, q.name) == q.default for q in others), flag


def test_cli__every_option_of_every_command_has_help():
    commands = [cli.dropin, *cli.cli.commands.values()]
    missing = [
        f"{command.name} {param.opts[0]}"
        for command in commands
        for param in command.params
        if isinstance(param, click.Option) and not (param.help or "").strip()
    ]
    assert missing == []


def test_check_spec__an_option_of_other_modes_lists_them_readably():
    from segqtl.modes import check_spec

    spec = RunSpec(
        mode="validate", cohort="c", chromosomes=["1"], validation_cohort="v",
        min_samples_observed=5,
    )  # fmt: skip
    with pytest.warns(UserWarning) as caught:
        check_spec(spec)
    texts = [str(w.message) for w in caught]
    assert any(
        "--min-samples-observed is a nominal, perm, finemap, interaction and conditional option"
        in t
        for t in texts
    ), texts
