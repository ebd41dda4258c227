"""``segqtl report``: one self-contained HTML page per run or comparison, checked in Chromium.

The reports are rendered by the system's headless Chromium (``.ci/run`` installs Debian's
``chromium`` when missing; without it these tests fail, they are not skipped): a screenshot
that is not blank, and every ``<img>`` decoded (the page's own script sets
``<body data-images-loaded="N/M">`` on load; Chromium's ``--dump-dom`` shows it).  The page
itself is parsed to check that nothing in it points outside the file, and its tables are
compared with the warehouse.  The demo writes a report and checks its planted effects.
"""

from __future__ import annotations

import html.parser
import re
import shutil
import subprocess
import sys
from contextlib import closing
from pathlib import Path

import numpy as np
import pytest

from segqtl import api
from segqtl.cli import main
from segqtl.warehouse.db import connect
from tests.test_plots import PlotWarehouse, build_plot_warehouse

BROWSERS = ("chromium", "chromium-headless-shell", "chromium-browser")

REPORTS = {
    # name: (run key, run_b key or None)
    "nominal": ("all", None),
    "perm": ("perm", None),
    "finemap": ("finemap", None),
    "validate": ("validate", None),
    "comparison": ("perm", "perm_val"),
}


@pytest.fixture(scope="module")
def wh(tmp_path_factory) -> PlotWarehouse:
    return build_plot_warehouse(tmp_path_factory)


@pytest.fixture(scope="module")
def reports(wh, tmp_path_factory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("reports")
    made = {}
    for name, (run, run_b) in REPORTS.items():
        made[name] = api.report(
            wh.db,
            wh.runs[run],
            out / f"{name}.html",
            run_b=None if run_b is None else wh.runs[run_b],
        )
    return made


def chromium() -> str:
    """The headless browser: fails (never skips) when it is missing."""
    for name in BROWSERS:
        path = shutil.which(name)
        if path:
            return path
    pytest.fail(
        "no Chromium found (tried: " + ", ".join(BROWSERS) + "). The report tests render in a "
        "real browser. Fix: apt-get install -y chromium (.ci/run does this before make test)"
    )


def browse(page: Path, tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    """Run headless Chromium on ``page`` (as root it needs --no-sandbox; no network)."""
    cmd = [
        chromium(),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-extensions",
        "--hide-scrollbars",
        # any host name resolves to nothing: a page that tried the network would show it
        "--host-resolver-rules=MAP * ~NOTFOUND",
        f"--user-data-dir={tmp_path / 'chromium-profile'}",
        *args,
        page.resolve().as_uri(),
    ]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    return result


class _Page(html.parser.HTMLParser):
    """Everything in a page that could load something, and its images and tables."""

    def __init__(self):
        super().__init__()
        self.tags: list[tuple[str, dict]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def parse(path: Path) -> _Page:
    page = _Page()
    page.feed(path.read_text(encoding="utf-8"))
    return page


def table_rows(text: str, table_id: str) -> list[list[str]]:
    """The body rows of table ``table_id`` as cell texts."""
    body = re.search(rf'<table[^>]*id="{table_id}".*?<tbody>(.*?)</tbody>', text, re.S)
    assert body, table_id
    return [
        [re.sub(r"<[^>]+>", "", c) for c in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]
        for row in re.findall(r"<tr>(.*?)</tr>", body[1], re.S)
    ]


# ------------------------------------------------------------------------- the page itself
@pytest.mark.parametrize("name", list(REPORTS))
def test_report__is_self_contained(reports, name):
    page = parse(reports[name])
    images = [a for t, a in page.tags if t == "img"]
    assert images
    for attrs in images:
        assert attrs["src"].startswith("data:image/png;base64,"), attrs["src"][:40]
        assert attrs.get("alt")
    for tag, attrs in page.tags:
        assert tag not in ("link", "iframe", "object", "embed"), tag
        if tag == "script":
            assert "src" not in attrs
        for key in ("src", "href", "action", "poster", "srcset"):
            value = attrs.get(key) or ""
            assert value.startswith(("data:", "#")) or not value, (tag, key, value[:60])
    text = reports[name].read_text(encoding="utf-8")
    assert "url(" not in text and "@import" not in text and "@font-face" not in text


def test_report__perm_run_lists_its_egenes_parameters_and_provenance(wh, reports):
    text = reports["perm"].read_text(encoding="utf-8")
    run = wh.runs["perm"]
    with closing(connect(wh.db, read_only=True)) as con:
        egenes = [
            r[0]
            for r in con.execute(
                "SELECT phenotype FROM qvalues WHERE run_id = ? AND is_hit "
                "ORDER BY qvalue, p_value, phenotype",
                [run],
            ).fetchall()
        ]
        top = con.execute(
            "SELECT phenotype FROM perm_results WHERE run_id = ? AND status = 'tested' "
            "ORDER BY p_adj, nominal_p, phenotype",
            [run],
        ).fetchall()
        checksums = [
            r[0]
            for r in con.execute(
                "SELECT value FROM run_parameters WHERE run_id = ? AND key LIKE '%:%'", [run]
            ).fetchall()
        ]
    assert egenes
    assert [r[0] for r in table_rows(text, "egenes")] == egenes
    assert f"eGenes at FDR 0.05 ({len(egenes)})" in text
    assert [r[0] for r in table_rows(text, "top-results")] == [r[0] for r in top][:50]
    assert checksums and all(c.strip('"') in text for c in checksums)  # provenance
    assert "num_permutations" in text  # parameters
    assert re.search(r"<td>tested</td><td[^>]*>24</td><td[^>]*>24</td>", text)  # by status


def test_report__comparison_lists_hits_gained_and_lost(wh, reports):
    text = reports["comparison"].read_text(encoding="utf-8")
    with closing(connect(wh.db, read_only=True)) as con:
        gained, lost = con.execute(
            "SELECT hits_gained, hits_lost FROM comparisons WHERE comparison_id = ?",
            [wh.comparison_id],
        ).fetchone()
    assert f"Hits gained in run {wh.runs['perm_val']} ({gained})" in text
    assert f"Hits lost in run {wh.runs['perm_val']} ({lost})" in text
    assert f"segqtl comparison {wh.comparison_id}: run {wh.runs['perm']}" in text


# ---------------------------------------------------------------------- in a real browser
@pytest.mark.parametrize("name", list(REPORTS))
def test_report__renders_in_chromium_with_every_image_loaded(reports, tmp_path, name):
    from PIL import Image

    page = reports[name]
    n_images = sum(t == "img" for t, _ in parse(page).tags)
    dom = browse(page, tmp_path, "--virtual-time-budget=10000", "--dump-dom").stdout
    loaded = re.search(r'data-images-loaded="(\d+)/(\d+)"', dom)
    assert loaded, "the page's load script did not run"
    assert (int(loaded[1]), int(loaded[2])) == (n_images, n_images)
    shot = tmp_path / "shot.png"
    browse(page, tmp_path, "--window-size=1280,2000", f"--screenshot={shot}")
    pixels = np.asarray(Image.open(shot).convert("L"), dtype=float)
    assert pixels.shape == (2000, 1280)
    # not blank: the header band, text and figures give contrast all over the page
    assert pixels.std() > 20
    assert (pixels < 128).mean() > 0.02  # dark pixels: header, text, plot lines
    rows_with_ink = (pixels.std(axis=1) > 5).mean()
    assert rows_with_ink > 0.3


def test_report__a_broken_image_is_reported_by_the_page(reports, tmp_path):
    # the check the browser test relies on: a figure that cannot decode is counted and shown
    text = reports["perm"].read_text(encoding="utf-8")
    broken = tmp_path / "broken.html"
    broken.write_text(text.replace("data:image/png;base64,iVBOR", "data:image/png;base64,AAAA", 1))
    dom = browse(broken, tmp_path, "--virtual-time-budget=10000", "--dump-dom").stdout
    n = sum(t == "img" for t, _ in parse(broken).tags)
    assert f'data-images-loaded="{n - 1}/{n}"' in dom
    assert f"1 of {n} figures failed to load" in dom


def test_report__tables_sort_on_a_heading_click(reports, tmp_path):
    # a click on the top-results table's p_adj heading, twice: descending p_adj first
    text = reports["perm"].read_text(encoding="utf-8")
    heads = re.search(r'id="top-results"><thead><tr>(.*?)</tr>', text)[1]
    names = re.findall(r"<th>(.*?)</th>", heads)
    column = names.index("p_adj")
    probe = f"""<script>window.addEventListener("load", function () {{
      var t = document.getElementById("top-results");
      var th = t.tHead.rows[0].cells[{column}];
      th.click(); th.click();
      var first = t.tBodies[0].rows[0].cells[{column}].getAttribute("data-v");
      document.body.setAttribute("data-first", first + "|" + th.getAttribute("data-dir"));
    }});</script></body>"""
    clicked = tmp_path / "clicked.html"
    clicked.write_text(text.replace("</body>", probe))
    dom = browse(clicked, tmp_path, "--virtual-time-budget=10000", "--dump-dom").stdout
    values = [float(r[column]) for r in table_rows(text, "top-results")]
    first = re.search(r'data-first="([^"|]*)\|(\w+)"', dom)
    assert first and first[2] == "desc"
    assert values[0] != max(values)  # the table starts in ascending p_adj
    assert float(first[1]) == pytest.approx(max(values), rel=1e-3)  # cells show 4 digits


# ------------------------------------------------------------------------------ command line
def test_report_cli__prints_the_path(wh, tmp_path, capsys):
    out = tmp_path / "r.html"
    main(["report", "--db", str(wh.db), "--run", str(wh.runs["finemap"]), "--out", str(out)])
    assert capsys.readouterr().out == f"{out}\n"
    assert out.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert [p.name for p in tmp_path.iterdir()] == ["r.html"]  # no temporary left


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--out", "r.pdf"], "--out r.pdf: unknown file type '.pdf'. Fix: end the file name"),
        (["--out", "no/r.html"], "--out no/r.html: folder no does not exist. Fix:"),
        (["--run-b", "best"], "have not been compared. Fix: run 'segqtl compare"),
        (["--top", "-1"], "invalid value for --top: -1 is not in the range 0<=x<=1000000000"),
    ],
)
def test_report_cli__mistakes_are_one_line_with_the_fix(
    wh, tmp_path, capsys, monkeypatch, args, message
):
    monkeypatch.chdir(tmp_path)
    args = [str(wh.runs[a]) if i and args[i - 1] == "--run-b" else a for i, a in enumerate(args)]
    if "--out" not in args:
        args += ["--out", "r.html"]
    with pytest.raises(SystemExit) as exc:
        main(["report", "--db", str(wh.db), "--run", str(wh.runs["perm"]), *args])
    out, err = capsys.readouterr()
    assert exc.value.code == 2 and out == ""
    assert len(err.splitlines()) == 1 and message in err, err
    assert list(tmp_path.iterdir()) == []


# -------------------------------------------------------------------------------------- demo
@pytest.mark.slow
def test_demo__writes_reports_and_checks_planted_effects(tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "segqtl.demo",
            "--out",
            str(tmp_path / "demo"),
            "--samples",
            "120",
            "--num-cores",
            "1",
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    lines = result.stdout.splitlines()
    # nothing before the Results heading: the drop-in's file list is shown under Results
    assert lines[0] == "" and lines[1] == "Results", lines[:3]
    reports = [Path(m[1]) for m in (re.match(r"  report    : (\S+)", x) for x in lines) if m]
    assert len(reports) == 5
    for path in reports:
        assert path.is_file() and path.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    dropin = [x for x in lines if x.startswith("  drop-in   : ")]
    assert dropin == [f"  drop-in   : {tmp_path / 'demo' / 'dropin' / 'nominal_chr1.csv'}"]
    verdict = re.search(
        r"Planted effects recovered: (\d+) of (\d+) as eGenes at 5% FDR.*at least (\d+), at this "
        r"power.*checked against the simulated truth: OK",
        result.stdout,
    )
    assert verdict, result.stdout[-1500:]
    recovered, planted, minimum = map(int, verdict.groups())
    assert planted == 60 and minimum <= recovered <= planted  # half of 2 x 60 genes


def test_demo__recovery_check_counts_against_the_truth(tmp_path):
    from segqtl.demo import recovery_text

    r = {"planted": 10, "recovered": 6, "causal_lead": 5, "egenes": 7, "false_egenes": 1,
         "fdr": 0.05, "expected": 8.4, "minimum": 7}  # fmt: skip
    text, ok = recovery_text(r)
    assert not ok and text.endswith("FEWER THAN EXPECTED")
    text, ok = recovery_text(r | {"recovered": 7})
    assert ok and "recovered: 7 of 10" in text and text.endswith("truth: OK")


def test_chromium__missing_browser_fails_with_the_fix(monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(pytest.fail.Exception, match=r"apt-get install -y chromium"):
        chromium()
