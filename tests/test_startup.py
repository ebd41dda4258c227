"""Start-up cost: which modules each command imports (a guard on imports, not a timer).

The command line starts in well under a second only if it does not load what it does not use:
``--help`` and ``--version`` need neither DuckDB nor the numerical stack, the read commands need
DuckDB and polars but not the engine, and a nominal run never compiles finemap's kernels.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from segqtl import api
from segqtl.spec import RunSpec

from .conftest import golden_inputs

#: Prints the top-level packages and segqtl modules loaded by one command line.
PROBE = """
import json, sys
from segqtl.cli import main
try:
    main(sys.argv[1:])
except SystemExit:
    pass
print(json.dumps(sorted(sys.modules)), file=sys.stderr)
"""

HEAVY = {"duckdb", "polars", "numpy", "scipy", "numba", "llvmlite", "pyarrow", "sklearn", "tqdm"}
COMPUTE = {"scipy", "numba", "llvmlite", "sklearn", "multiprocess"}


def _loaded(*args: str) -> set[str]:
    result = subprocess.run(
        [sys.executable, "-c", PROBE, *args], capture_output=True, text=True, check=True
    )
    return set(json.loads(result.stderr.strip().splitlines()[-1]))


def _top(modules: set[str]) -> set[str]:
    return {m.split(".")[0] for m in modules}


@pytest.fixture(scope="module")
def golden_db(tmp_path_factory):
    db = tmp_path_factory.mktemp("startup") / "wh.duckdb"
    api.ingest(db, "main", **golden_inputs())
    api.run(db, RunSpec(mode="nominal", cohort="main", chromosomes=["1"]))
    return db


@pytest.mark.parametrize("args", [["--version"], ["--help"], ["run", "--help"]])
def test_startup__help_and_version_import_no_database_or_numerics(args):
    assert _top(_loaded(*args)) & HEAVY == set()


@pytest.mark.parametrize(
    "args",
    [["runs"], ["show", "1"], ["cohorts"], ["query", "SELECT count(*) FROM nominal_results"]],
)
def test_startup__read_commands_import_no_engine_or_compiled_kernels(golden_db, args):
    loaded = _loaded(args[0], "--db", str(golden_db), *args[1:])
    assert _top(loaded) & COMPUTE == set()
    assert not any(m.startswith(("segqtl.engine", "segqtl.kernels")) for m in loaded)
    if args[0] != "query":  # small fixed tables are built without Arrow (and numpy)
        assert _top(loaded) & {"pyarrow", "numpy"} == set()


def test_startup__a_nominal_run_does_not_load_numba_or_finemap(golden_db):
    loaded = _loaded(
        "run", "--db", str(golden_db), "--cohort", "main", "--chromosome", "1", "--quiet"
    )
    assert "segqtl.engine.nominal" in loaded  # the run did happen, in this process
    assert _top(loaded) & {"numba", "llvmlite", "sklearn"} == set()
    assert not any("finemap" in m or "validate" in m.split(".")[-1] for m in loaded
                   if m.startswith(("segqtl.engine", "segqtl.kernels")))  # fmt: skip
