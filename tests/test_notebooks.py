"""The notebooks in notebooks/ run end to end, show what they claim, and are rendered in docs/.

Each notebook is executed once per session with nbclient (``notebooks/render.py``'s
:func:`execute`), in a temporary working folder, on a kernel that is this interpreter (a
kernelspec written to a temporary JUPYTER_PATH, so another Jupyter installation or a missing
user kernelspec cannot change which Python runs it).  The tests then compare what the notebook
printed with the warehouse it wrote there.  They also run on a given warehouse
(``SEGQTL_NOTEBOOK_DB``), and the executed copies in docs/notebooks/ must come from the
current sources.
"""

from __future__ import annotations

import base64
import importlib.util
import re
import shutil
from contextlib import closing
from pathlib import Path

import nbformat
import pytest

from segqtl.warehouse.db import connect

NOTEBOOKS = Path(__file__).parents[1] / "notebooks"
RENDERED = Path(__file__).parents[1] / "docs" / "notebooks"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

pytestmark = pytest.mark.slow


def _render_module():
    spec = importlib.util.spec_from_file_location("notebook_render", NOTEBOOKS / "render.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


render = _render_module()


class Executed:
    """An executed notebook: its cells, its working folder and its printed text."""

    def __init__(self, nb, cwd: Path):
        self.nb = nb
        self.cwd = cwd
        self.code_cells = [c for c in nb.cells if c.cell_type == "code"]

    @property
    def text(self) -> str:
        """Everything the notebook printed (stdout and stderr streams)."""
        return "".join(
            o.get("text", "")
            for c in self.code_cells
            for o in c.outputs
            if o.output_type == "stream"
        )

    def printed(self, pattern: str) -> re.Match:
        """The one printed match of ``pattern`` (a regular expression)."""
        found = list(re.finditer(pattern, self.text))
        assert len(found) == 1, f"{pattern!r} printed {len(found)} times in:\n{self.text}"
        return found[0]

    def images(self) -> list[bytes]:
        """The PNG figures displayed by the notebook, decoded."""
        return [
            base64.b64decode(o["data"]["image/png"])
            for c in self.code_cells
            for o in c.outputs
            if "data" in o and "image/png" in o["data"]
        ]


@pytest.fixture(scope="session")
def kernel_env(tmp_path_factory) -> dict:
    return render.kernel_env(tmp_path_factory.mktemp("jupyter"))


@pytest.fixture(scope="session")
def run_notebook(tmp_path_factory, kernel_env):
    """Execute a notebook of notebooks/ (once per session, simulating) as :class:`Executed`."""
    done: dict[str, Executed] = {}

    def run(name: str) -> Executed:
        if name not in done:
            cwd = tmp_path_factory.mktemp(Path(name).stem)
            env = kernel_env | {"SEGQTL_NOTEBOOK_DB": None}
            done[name] = Executed(render.execute(NOTEBOOKS / name, cwd, env, timeout=300), cwd)
        return done[name]

    return run


def notebook_names() -> list[str]:
    return sorted(p.name for p in NOTEBOOKS.glob("*.ipynb"))


def test_notebooks__are_the_documented_ones():
    assert notebook_names() == ["01_quickstart.ipynb", "02_compare_runs.ipynb"]
    readme = (NOTEBOOKS / "README.md").read_text()
    for name in notebook_names():
        assert name in readme


@pytest.mark.parametrize("name", notebook_names())
def test_notebooks__stored_without_outputs(name):
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    nbformat.validate(nb)
    assert nb.metadata["kernelspec"]["name"] == "python3"
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code
    for cell in code:
        assert cell.outputs == [], cell.source[:80]
        assert cell.execution_count is None, cell.source[:80]
    # readable: opens with an explanation, and prose goes with the code
    assert nb.cells[0].cell_type == "markdown"
    assert sum(c.cell_type == "markdown" for c in nb.cells) >= len(code) // 2


@pytest.mark.parametrize("name", notebook_names())
def test_notebooks__execute_in_their_working_folder_only(name, run_notebook):
    ex = run_notebook(name)  # raises CellExecutionError on any failing cell
    for cell in ex.code_cells:
        assert cell.execution_count is not None
        assert not [o for o in cell.outputs if o.output_type == "error"]
    # everything went to nb_work/ under the working folder
    assert sorted(p.name for p in ex.cwd.iterdir()) == ["nb_work"]


def quickstart_db(ex: Executed) -> Path:
    db = ex.cwd / "nb_work" / "quickstart" / "segqtl.duckdb"
    assert db.is_file()
    return db


def test_quickstart__printed_numbers_match_the_warehouse(run_notebook):
    ex = run_notebook("01_quickstart.ipynb")
    db = quickstart_db(ex)
    with closing(connect(db, read_only=True)) as con:
        runs = con.execute("SELECT run_id, mode, status FROM runs ORDER BY run_id").fetchall()
        nominal_run, perm_run = (r[0] for r in runs)
        assert [r[1:] for r in runs] == [("nominal", "completed"), ("perm", "completed")]
        n_phen, n_samples, n_variants = con.execute(
            "SELECT (SELECT count(*) FROM phenotypes), (SELECT count(*) FROM samples), "
            "(SELECT count(*) FROM variants)"
        ).fetchone()
        n_hits, n_tests = con.execute(
            "SELECT count(*) FILTER (is_hit), count(*) FROM qvalues WHERE run_id = ?", [perm_run]
        ).fetchone()
        top = con.execute(
            "SELECT phenotype, variant, number_of_samples FROM perm_results "
            "WHERE run_id = ? AND status = 'tested' ORDER BY p_adj, nominal_p LIMIT 1",
            [perm_run],
        ).fetchone()
        n_statuses = con.execute(
            "SELECT count(DISTINCT status) FROM nominal_results WHERE run_id = ?", [nominal_run]
        ).fetchone()[0]

    m = ex.printed(r"ingested (\d+) samples, (\d+) phenotypes and (\d+) variants on chr1, chr2")
    assert tuple(map(int, m.groups())) == (n_samples, n_phen, n_variants) == (120, 40, 300)
    assert ex.printed(r"nominal run: (\d+), perm run: (\d+)").groups() == (
        str(nominal_run),
        str(perm_run),
    )
    assert int(ex.printed(r"runs in the warehouse: (\d+)")[1]) == len(runs) == 2
    m = ex.printed(r"perm run \d+: (\d+) of (\d+) phenotypes are hits at 5% FDR")
    assert (int(m[1]), int(m[2])) == (n_hits, n_tests) == (n_hits, n_phen)
    assert int(ex.printed(r"hits at 5% FDR: (\d+)")[1]) == n_hits
    # the simulation plants 20 effects; nearly all are found with the causal variant as lead
    m = ex.printed(r"planted effects: (\d+); found with the causal variant as lead: (\d+)")
    assert int(m[1]) == 20 and int(m[2]) >= 15
    assert n_hits >= 15
    # the many breakpoints leave some pairs untested: the status table has more than 'tested'
    assert n_statuses >= 2
    # the top association: the SQL segment mask reproduces the run's sample count
    m = ex.printed(r"top association: (\S+) ~ (\S+) \(p_adj")
    assert m.groups() == top[:2]
    m = ex.printed(r"samples used: (\d+) \(number_of_samples: (\d+)\)")
    assert int(m[1]) == int(m[2]) == top[2]


def test_quickstart__draws_its_figures_with_the_plot_functions(run_notebook):
    ex = run_notebook("01_quickstart.ipynb")
    images = ex.images()
    assert len(images) == 3  # QQ, Manhattan (segqtl's plot functions), the top association
    assert all(img.startswith(PNG_MAGIC) for img in images)
    for name in ("qq.png", "manhattan.png", "top_association.png"):
        png = ex.cwd / "nb_work" / "quickstart" / name
        assert png.read_bytes().startswith(PNG_MAGIC), name
        assert png.stat().st_size > 10_000  # a real plot, not an empty canvas
    db = quickstart_db(ex)
    with closing(connect(db, read_only=True)) as con:
        n_tested = con.execute(
            "SELECT count(*) FROM nominal_results AS r JOIN runs USING (run_id) "
            "WHERE mode = 'nominal' AND r.status = 'tested'"
        ).fetchone()[0]
    m = ex.printed(r"QQ plot: (\d+) points, (\d+) tested pairs")
    assert int(m[1]) == int(m[2]) == n_tested
    report = ex.cwd / "nb_work" / "quickstart" / "report_perm.html"
    assert report.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")


def test_compare_runs__printed_comparison_matches_the_stored_one(run_notebook):
    ex = run_notebook("02_compare_runs.ipynb")
    db = ex.cwd / "nb_work" / "compare_runs" / "segqtl.duckdb"
    with closing(connect(db, read_only=True)) as con:
        windows = dict(
            con.execute(
                "SELECT run_id, value FROM run_parameters WHERE key = 'window' ORDER BY run_id"
            ).fetchall()
        )
        (cid, run_a, run_b, n_both, hits_a, hits_b, gained, lost), *more = con.execute(
            "SELECT comparison_id, run_a, run_b, n_both, hits_a, hits_b, hits_gained, "
            "hits_lost FROM comparisons"
        ).fetchall()
        n_same, n_pairs = con.execute(
            "SELECT count(*) FILTER (same_variant), count(*) FROM comparison_pairs "
            "WHERE comparison_id = ? AND in_a AND in_b",
            [cid],
        ).fetchone()
    assert more == []  # one comparison stored
    assert windows == {run_a: "1000000", run_b: "500000"}
    m = ex.printed(r"run A = (\d+) \(window 1 Mb\), run B = (\d+) \(window 500 kb\)")
    assert (int(m[1]), int(m[2])) == (run_a, run_b)
    # format_comparison's summary is the stored row
    for key, value in {
        "comparison_id": cid,
        "n_both": n_both,
        "hits_a": hits_a,
        "hits_b": hits_b,
        "hits_gained": gained,
        "hits_lost": lost,
    }.items():
        assert int(ex.printed(rf"(?m)^\s*{key}[\s:=|]+(\d+)\s*$")[1]) == value, key
    m = ex.printed(
        r"comparison (\d+): (\d+) phenotypes in both runs, (\d+) with the same lead variant"
    )
    assert tuple(map(int, m.groups())) == (cid, n_pairs, n_same)
    assert n_pairs == n_both == 50  # 2 chromosomes x 25 phenotypes, all in both runs
    assert 0 < n_same < n_both  # the narrower window changes some leads, not all
    # a lead changes only where run A's lead lies outside the narrower window
    m = ex.printed(r"lead variant changed: (\d+); run A's lead outside the 500 kb window: (\d+)")
    assert int(m[1]) == int(m[2]) == n_both - n_same
    assert int(ex.printed(r"points in the scatter: (\d+)")[1]) == n_both


def test_compare_runs__draws_the_scatter_and_writes_the_report(run_notebook):
    ex = run_notebook("02_compare_runs.ipynb")
    images = ex.images()
    assert len(images) == 1 and images[0].startswith(PNG_MAGIC)
    png = ex.cwd / "nb_work" / "compare_runs" / "effects.png"
    assert png.read_bytes().startswith(PNG_MAGIC)
    assert png.stat().st_size > 10_000
    report = ex.cwd / "nb_work" / "compare_runs" / "comparison.html"
    assert "segqtl comparison 1:" in report.read_text(encoding="utf-8")


# ------------------------------------------------------------------- on a given warehouse
def test_notebooks__work_on_a_given_warehouse(tmp_path_factory, kernel_env):
    from tests.test_plots import build_plot_warehouse

    wh = build_plot_warehouse(tmp_path_factory)
    db = tmp_path_factory.mktemp("given") / "given.duckdb"
    shutil.copy(wh.db, db)  # the notebooks' own copy (02 stores a comparison in it)
    with closing(connect(db, read_only=True)) as con:
        nominal, perm = con.execute(
            "SELECT max(run_id) FILTER (mode = 'nominal'), max(run_id) FILTER (mode = 'perm') "
            "FROM runs WHERE status = 'completed'"
        ).fetchone()
        older_perm = con.execute(
            "SELECT max(run_id) FROM runs WHERE mode = 'perm' AND run_id < ?", [perm]
        ).fetchone()[0]
        n_runs, n_comparisons = con.execute(
            "SELECT (SELECT count(*) FROM runs), (SELECT count(*) FROM comparisons)"
        ).fetchone()
    env = kernel_env | {"SEGQTL_NOTEBOOK_DB": str(db)}
    for name in ("01_quickstart.ipynb", "02_compare_runs.ipynb"):
        cwd = tmp_path_factory.mktemp(f"given_{Path(name).stem}")
        ex = Executed(render.execute(NOTEBOOKS / name, cwd, env, timeout=300), cwd)
        assert ex.printed(r"warehouse: (\S+) \(given\)")[1] == str(db)
        assert not (cwd / "nb_work" / Path(name).stem / "segqtl.duckdb").exists()
        if name.startswith("01"):
            m = ex.printed(r"nominal run: (\d+), perm run: (\d+)")
            assert (int(m[1]), int(m[2])) == (nominal, perm)
            assert "planted effects" not in ex.text  # no truth file for a given warehouse
            assert len(ex.images()) == 3
        else:
            m = ex.printed(r"run A = (\d+) \(window [^)]*\), run B = (\d+)")
            assert (int(m[1]), int(m[2])) == (older_perm, perm)
            assert len(ex.images()) == 1
    with closing(connect(db, read_only=True)) as con:
        after = con.execute(
            "SELECT (SELECT count(*) FROM runs), (SELECT count(*) FROM comparisons)"
        ).fetchone()
    assert after == (n_runs, n_comparisons + 1)  # no run added; 02's comparison stored


# ------------------------------------------------------------------------- rendered in docs
@pytest.mark.parametrize("name", notebook_names())
def test_notebooks__rendered_copy_is_current(name):
    fix = f"Fix: re-render with '.venv/bin/python notebooks/render.py {name}'"
    rendered = RENDERED / name
    assert rendered.is_file(), f"docs/notebooks/{name} is missing. {fix}"
    source = nbformat.read(NOTEBOOKS / name, as_version=4)
    executed = nbformat.read(rendered, as_version=4)
    nbformat.validate(executed)
    meta = executed.metadata.get("segqtl", {})
    assert meta.get("source_sha256") == render.source_sha256(source), (
        f"docs/notebooks/{name} was rendered from another version of notebooks/{name}. {fix}"
    )
    assert [c.source for c in executed.cells] == [c.source for c in source.cells], fix
    code = [c for c in executed.cells if c.cell_type == "code"]
    assert all(c.execution_count is not None for c in code), fix
    assert not [o for c in code for o in c.outputs if o.output_type == "error"], fix
    assert any("image/png" in o.get("data", {}) for c in code for o in c.outputs)
