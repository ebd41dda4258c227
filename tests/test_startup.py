"""Start-up cost: which modules each command imports (a guard on imports, not a timer).

The command line starts in well under a second only if it does not load what it does not use:
``--help`` and ``--version`` need neither DuckDB nor the numerical stack, the read commands need
DuckDB and polars but not the engine, ``segqtl query`` of a SELECT of plain columns needs
DuckDB's engine alone (not even the duckdb package's Python layer: it prints DuckDB's rows as
polars would, byte for byte), and a nominal run never compiles finemap's kernels.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from types import SimpleNamespace

import pytest

from segqtl import api
from segqtl.output import FORMATS, format_frame
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

HEAVY = {
    "duckdb",
    "_duckdb",
    "polars",
    "numpy",
    "scipy",
    "numba",
    "llvmlite",
    "pyarrow",
    "sklearn",
    "tqdm",
}
COMPUTE = {"scipy", "numba", "llvmlite", "sklearn", "multiprocess"}


def _probe(*args: str) -> tuple[set[str], str]:
    """The modules loaded by ``segqtl ARGS``, and what it printed on stdout."""
    result = subprocess.run(
        [sys.executable, "-c", PROBE, *args], capture_output=True, text=True, check=True
    )
    return set(json.loads(result.stderr.strip().splitlines()[-1])), result.stdout


def _loaded(*args: str) -> set[str]:
    return _probe(*args)[0]


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
    # small fixed tables are built without Arrow (and numpy); query prints DuckDB's rows
    assert _top(loaded) & {"pyarrow", "numpy"} == set()


#: Plain columns of every kind, with the values whose text is easy to get wrong: doubles
#: around 1e-5 and 1e16 (where Python and polars switch to exponents), NaN, infinities, -0.0;
#: text with separators, quotes, line breaks, control characters, empty; NULLs; dates.
PLAIN_SQL = r"""
SELECT i::TINYINT AS "tiny", (i * 1000003)::BIGINT AS big, (i + 7)::UINTEGER AS u,
       i % 3 = 0 AS flag, NULL AS nothing,
       [0.1, '-0.0'::DOUBLE, 1e-5, -1.5e-5, 9.5e-6, 1.25e-7, 1e15, 1e16, 1.5e300, 5e-324,
        'nan'::DOUBLE, 'inf'::DOUBLE, '-inf'::DOUBLE, NULL][i % 14 + 1]::DOUBLE AS "x,y",
       ['', 'a,b', 'q"x', E'two\nlines', E'tab\there', E'bell\x07', ' pad ', 'é中', NULL]
           [i % 9 + 1] AS "text ""q"" t",
       DATE '2024-02-28' + i::INTEGER AS day,
       TIMESTAMP '2024-02-28 23:59:58.5' + to_seconds(i) AS at
FROM range(30) t(i)
"""


@pytest.mark.parametrize("fmt", FORMATS)
def test_startup__query_of_plain_columns_imports_no_polars_numpy_or_arrow(golden_db, fmt):
    sql = "SELECT * FROM nominal_results ORDER BY phenotype LIMIT 20"  # the best pairs
    loaded, printed = _probe("query", "--db", str(golden_db), "--format", fmt, sql)
    assert _top(loaded) & {"polars", "numpy", "pyarrow", "pandas"} == set()
    # DuckDB's engine, not the package's Python relation layer (warehouse/db.py)
    assert "_duckdb" in loaded and "duckdb" not in loaded
    # the query did run, in this process: it printed the pairs
    assert printed.rstrip("\n") == api.query_text(golden_db, sql, fmt)
    assert "nominal_p" in printed and printed.count("chr1") >= 20


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize(
    "sql",
    [
        PLAIN_SQL,
        "SELECT * FROM nominal_results ORDER BY phenotype, variant LIMIT 200",
        "SELECT * FROM runs",
        "SELECT * FROM nominal_results WHERE false",
        # polars' path: decimals, HUGEINT sums, lists, intervals, a name twice
        "SELECT 1.50 AS d, sum(run_id) AS s, [1, 2] AS l, INTERVAL 3 DAY AS i, 1 AS a, 2 AS a "
        "FROM runs",
        # other statements of the SELECT kind, and forms of SELECT (the engine's own path)
        "DESCRIBE nominal_results",
        "SHOW TABLES",
        "SUMMARIZE SELECT run_id, mode FROM runs",
        "FROM runs SELECT run_id, mode",
        "VALUES (1, 'a'), (2, NULL)",
        "WITH t AS (SELECT 2 AS x) SELECT x, x * 1.5 AS y FROM t; -- a comment",
        # not of the SELECT kind: through the relation layer
        "PRAGMA version",
        "EXPLAIN SELECT 1",
    ],
    ids=[
        "plain-values",
        "nominal-results",
        "runs",
        "no-rows",
        "polars-path",
        "describe",
        "show",
        "summarize",
        "from-first",
        "values",
        "cte-comment",
        "pragma",
        "explain",
    ],
)
def test_startup__query_text_is_the_frame_as_format_frame_renders_it(golden_db, sql, fmt):
    assert api.query_text(golden_db, sql, fmt) == format_frame(api.query(golden_db, sql), fmt)


def test_startup__a_nominal_run_does_not_load_sklearn_or_finemap(golden_db):
    # (numba it does load: the nominal kernel's masked products and small solves are compiled)
    loaded = _loaded(
        "run", "--db", str(golden_db), "--cohort", "main", "--chromosome", "1", "--quiet"
    )
    assert "segqtl.engine.nominal" in loaded  # the run did happen, in this process
    assert _top(loaded) & {"sklearn"} == set()
    assert not any("finemap" in m or "validate" in m.split(".")[-1] for m in loaded
                   if m.startswith(("segqtl.engine", "segqtl.kernels")))  # fmt: skip


def test_startup__a_pool_run_parent_does_not_load_scipy(golden_db):
    # with worker processes the parent only reads, commits and waits: the kernels' scipy (half
    # a second of start-up) is the workers' to load
    loaded = _loaded(
        "run", "--db", str(golden_db), "--cohort", "main", "--chromosome", "1",
        "--num-cores", "2", "--quiet",
    )  # fmt: skip
    assert "segqtl.engine.runner" in loaded and "duckdb" in _top(loaded)
    assert _top(loaded) & {"scipy", "numba", "sklearn"} == set()


def test_startup__a_perm_pool_run_imports_its_finish_while_the_workers_start(
    golden_db, monkeypatch
):
    # perm's last step (q-values) needs scipy.stats, half a second to import: the parent imports
    # it (in a thread of its own) from when the workers start, not after the last unit
    import importlib

    from segqtl.engine import runner
    from segqtl.modes import get
    from segqtl.warehouse import runs

    events = []
    real_import, real_write = importlib.import_module, runs.write_unit

    def import_module(name, *args):
        events.append(("import", name, threading.current_thread() is threading.main_thread()))
        return real_import(name, *args)

    def write_unit(*args, **kwargs):
        events.append(("commit", args[3].unit_id))
        return real_write(*args, **kwargs)

    monkeypatch.setattr(runner, "importlib", SimpleNamespace(import_module=import_module))
    monkeypatch.setattr(runs, "write_unit", write_unit)
    spec = RunSpec(mode="perm", cohort="main", chromosomes=["1"], num_cores=2, num_permutations=20)
    api.run(golden_db, spec)
    assert get("perm").finish_preload == ("segqtl.warehouse.fdr",)
    assert events[0] == ("import", "segqtl.warehouse.fdr", False)  # not the run's own thread
    assert events[1:] and all(e[0] == "commit" for e in events[1:])


def _query_process(db, sql: str, before: str = "", middle: str = "", after: str = ""):
    """``segqtl query --db DB SQL`` run in a process of its own as that process's command line
    (``sys.argv``, so that the engine starts early), with the Python lines ``before`` (ahead of
    segqtl's import), ``middle`` (between the import and the command) and ``after``."""
    code = "\n".join(
        [
            "import sys",
            f"sys.argv = ['segqtl', 'query', '--db', sys.argv[1], {sql!r}]",
            before,
            "from segqtl.warehouse import engine_start",
            "from segqtl.cli import main",
            middle,
            "main()",
            after,
        ]
    )
    return subprocess.run(
        [sys.executable, "-c", code, str(db)], capture_output=True, text=True, check=True
    )


def test_startup__query_process_starts_the_engine_beside_the_imports(golden_db):
    # segqtl query (the process, as sys.argv names it) makes its in-memory database in a thread
    # while the command line loads, and the open takes that database
    done = _query_process(
        golden_db,
        "SELECT 41 + 1 AS answer",
        middle="assert engine_start._thread is not None",
        after="print('taken' if not engine_start._ready else 'unused', file=sys.stderr)",
    )
    assert done.stdout.split() == ["answer", "------", "42"]
    assert done.stderr.strip() == "taken"


@pytest.mark.parametrize("args", [["--bad-flag"], ["--help"], ["--db"]])
def test_startup__query_that_never_opens_closes_the_started_engine_quietly(args):
    # the database started for nothing is closed at exit: no DuckDB or nanobind noise
    done = subprocess.run(
        [sys.executable, "-m", "segqtl", "query", *args], capture_output=True, text=True
    )
    lines = done.stderr.strip().splitlines()
    assert len(lines) <= 1, done.stderr  # at most the one-line usage error
    assert "leak" not in done.stderr and "Traceback" not in done.stderr


def test_startup__engine_take_without_start_is_none():
    from segqtl.warehouse import engine_start

    assert engine_start._thread is None  # this test process is not a segqtl query process
    assert engine_start.take() is None


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize(
    "sql",
    [
        "SELECT * FROM nominal_results ORDER BY phenotype LIMIT 5",  # DuckDB's engine alone
        "SELECT 1.5 AS d, 2 AS i",  # polars' path, through duckdb's relation layer
        "EXPLAIN SELECT 1",
    ],
    ids=["engine", "relation-layer", "explain"],
)
def test_startup__query_process_ends_without_messages(golden_db, sql, fmt):
    # the query process skips its last garbage collection only where nothing needs it: no
    # message from DuckDB's bindings about objects left at exit, whichever path rendered
    done = subprocess.run(
        [sys.executable, "-m", "segqtl", "query", "--db", str(golden_db), "--format", fmt, sql],
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout.strip()
    assert done.stderr == ""


def test_startup__engine_started_in_vain_leaves_the_open_to_the_command(golden_db):
    # the background start fails: no traceback from its thread; the command opens on its own
    done = _query_process(
        golden_db,
        "SELECT 1 AS a",
        before=(
            "import _duckdb\nreal = _duckdb.connect\n"
            "def fail(*args, **kwargs):\n    raise RuntimeError('no engine')\n"
            "_duckdb.connect = fail"
        ),
        middle=(
            "engine_start._thread.join()\n_duckdb.connect = real\nassert not engine_start._ready"
        ),
    )
    assert done.stdout.split() == ["a", "-", "1"]
    assert done.stderr == ""


FORKSERVER_EXIT_PROBE = """
import atexit, os, sys
atexit.register(lambda: print("python's shutdown ran", flush=True))
import segqtl.engine.forkserver_exit  # its handler, registered last, runs first
pid = os.fork()
if pid == 0:  # a process forked from the server (a worker) leaves the normal way
    sys.exit(0)
os.waitpid(pid, 0)
print("server", flush=True)
"""


def test_forkserver_exit__the_server_skips_python_shutdown_its_children_do_not():
    done = subprocess.run(
        [sys.executable, "-c", FORKSERVER_EXIT_PROBE], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    # the child ran the other exit handler (once); the server process ended before it
    assert done.stdout.splitlines() == ["python's shutdown ran", "server"]


def test_end_run_process__a_run_ends_with_its_output_flushed_and_exit_handlers_run(
    golden_db, tmp_path
):
    # the run's process skips Python's shutdown: its stdout must still be complete, exit
    # handlers (here one a site hook registers) must run, and the code must be 0
    hook = tmp_path / "sitecustomize.py"
    hook.write_text(
        "import atexit\natexit.register(lambda: print('exit handler ran', flush=True))\n"
    )
    env = {**__import__("os").environ, "PYTHONPATH": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-m", "segqtl", "run", "--db", str(golden_db), "--cohort", "main",
         "--chromosome", "1", "--quiet", "--name", "exit-probe"],
        capture_output=True, text=True, env=env, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[-1] == "exit handler ran"
    assert lines[0].isdigit()  # the run id, written before the handlers


def test_end_run_process__closed_stdout_still_exits_0(golden_db):
    # a run started with stdout closed (``>&-``): nothing to flush, the run succeeded
    script = (
        "import os, sys; os.close(1); sys.stdout = None; sys.argv = ['segqtl', 'run', '--db', "
        f"{str(golden_db)!r}, '--cohort', 'main', '--chromosome', '1', '--quiet', "
        "'--name', 'closed-stdout']; from segqtl.cli import main; main()"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""


def test_end_run_process__an_idle_executor_does_not_hold_the_process():
    # an executor's worker thread waits for work until threading's shutdown hooks stop it:
    # the run's end must run them (Python's shutdown order), not wait for the thread
    script = (
        "import concurrent.futures as cf\n"
        "from segqtl.cli import _end_run_process\n"
        "pool = cf.ThreadPoolExecutor(1)\n"
        "pool.submit(print, 'work done', flush=True).result()\n"
        "_end_run_process()\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == "work done\n"
