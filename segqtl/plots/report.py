"""The per-run HTML report (``segqtl report``): one self-contained page.

Everything is inside the one file: the figures as base64 PNG ``<img>`` data URIs, the style
sheet and two small inline scripts (table sorting; a check that every figure decoded, which
sets ``<body data-images-loaded="N/M">`` and shows a banner when one did not).  Nothing is
fetched from the network: no external CSS, JavaScript, fonts or images.

A run's report: the run (name, mode, cohorts, status, timings, counts), its outcome (rows and
phenotypes by status, the q-value summary), the mode's plots (:data:`REPORT_PLOTS`), the top
results as a sortable table, the eGene list when the run has q-values (perm runs), then the
parameters and provenance (input checksums, versions) as :func:`segqtl.api.show` reports them.
A comparison's report: both runs, the stored comparison's summary, its plot, the largest
changes, the hits gained and lost, and the parameters that differ.
"""

from __future__ import annotations

import base64
import datetime as _dt
import html
import io
import json
import math

import polars as pl

from .. import __version__
from . import data
from .kinds import KINDS, build

#: The plots of a run's report, by mode (``locus`` is added for all-variants nominal runs,
#: on the top phenotype).
REPORT_PLOTS = {
    "nominal": ("qq", "pvalues", "manhattan"),
    "perm": ("qq", "pvalues", "manhattan"),
    "finemap": ("stability",),
    "validate": ("calibration",),
}

#: Rows of the top-results table, unless given.
DEFAULT_TOP = 50

_STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 0;
       color: #1d2330; background: #fff; line-height: 1.4; }
header { background: #1d3557; color: #fff; padding: 1rem 2rem; }
header h1 { margin: 0 0 .3rem 0; font-size: 1.5rem; }
header p { margin: 0; opacity: .9; }
nav { padding: .5rem 2rem; background: #eef2f7; font-size: .9rem; }
nav a { margin-right: 1rem; color: #1d3557; }
main { padding: 0 2rem 2rem 2rem; max-width: 1200px; }
h2 { border-bottom: 2px solid #1d3557; padding-bottom: .2rem; margin-top: 2rem; }
table { border-collapse: collapse; font-size: .85rem; margin: .5rem 0; }
th, td { border: 1px solid #cfd6e0; padding: .2rem .5rem; text-align: left;
         vertical-align: top; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
th { background: #eef2f7; }
table.sortable th { cursor: pointer; user-select: none; }
table.sortable th[data-dir="asc"]::after { content: " \\25B2"; }
table.sortable th[data-dir="desc"]::after { content: " \\25BC"; }
figure { display: inline-block; margin: .5rem 1rem 1rem 0; vertical-align: top; }
figure img { max-width: 100%; border: 1px solid #cfd6e0; }
figcaption { font-size: .8rem; color: #4a5568; max-width: 560px; }
.banner { background: #c53030; color: #fff; padding: .5rem 2rem; }
.note { color: #4a5568; font-size: .85rem; }
.scroll { overflow-x: auto; }
"""

_SCRIPT = """
(function () {
  function key(cell) {
    var v = cell.getAttribute("data-v");
    if (v === null) v = cell.textContent;
    if (v === "") return null;
    var n = Number(v);
    return isNaN(n) ? v : n;
  }
  document.querySelectorAll("table.sortable").forEach(function (table) {
    var heads = table.tHead.rows[0].cells;
    Array.prototype.forEach.call(heads, function (th, i) {
      th.addEventListener("click", function () {
        var dir = th.getAttribute("data-dir") === "asc" ? "desc" : "asc";
        Array.prototype.forEach.call(heads, function (h) { h.removeAttribute("data-dir"); });
        th.setAttribute("data-dir", dir);
        var body = table.tBodies[0];
        var rows = Array.prototype.slice.call(body.rows);
        rows.sort(function (a, b) {
          var x = key(a.cells[i]), y = key(b.cells[i]);
          if (x === null || y === null) return (x === null) - (y === null);  // empty last
          var c = (typeof x === "number" && typeof y === "number")
            ? x - y : String(x).localeCompare(String(y));
          return dir === "asc" ? c : -c;
        });
        rows.forEach(function (r) { body.appendChild(r); });
      });
    });
  });
  window.addEventListener("load", function () {
    var imgs = Array.prototype.slice.call(document.images);
    var ok = imgs.filter(function (i) { return i.complete && i.naturalWidth > 0; }).length;
    document.body.setAttribute("data-images-loaded", ok + "/" + imgs.length);
    if (ok < imgs.length) {
      var b = document.getElementById("image-banner");
      b.textContent = (imgs.length - ok) + " of " + imgs.length + " figures failed to load";
      b.hidden = false;
    }
  });
})();
"""


# ------------------------------------------------------------------------------ HTML pieces
def _esc(value) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _cell_text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        return f"{value:.4g}"
    if isinstance(value, (list, dict)):
        return json.dumps(value, default=str)
    return str(value)


def _td(value) -> str:
    text = _esc(_cell_text(value))
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        raw = "" if isinstance(value, float) and math.isnan(value) else repr(value)
        return f'<td class="num" data-v="{_esc(raw)}">{text}</td>'
    if value is None:
        return '<td data-v=""></td>'
    return f"<td>{text}</td>"


def table(frame: pl.DataFrame, *, sortable: bool = False, table_id: str | None = None) -> str:
    """A polars frame as an HTML table (numbers right-aligned, sortable by a header click)."""
    if frame.height == 0:
        return '<p class="note">(none)</p>'
    attrs = ' class="sortable"' if sortable else ""
    if table_id:
        attrs += f' id="{_esc(table_id)}"'
    head = "".join(f"<th>{_esc(c)}</th>" for c in frame.columns)
    body = "\n".join("<tr>" + "".join(_td(v) for v in row) + "</tr>" for row in frame.iter_rows())
    return (
        f'<div class="scroll"><table{attrs}><thead><tr>{head}</tr></thead>'
        f"<tbody>\n{body}\n</tbody></table></div>"
    )


def key_values(values: dict, *, key: str = "key", value: str = "value") -> str:
    """A ``{key: value}`` section as a two-column table."""
    if not values:
        return '<p class="note">(none)</p>'
    rows = "\n".join(
        f"<tr><th>{_esc(k)}</th>{_td(v if not isinstance(v, (list, dict)) else _cell_text(v))}</tr>"
        for k, v in values.items()
    )
    return (
        f"<table><thead><tr><th>{_esc(key)}</th><th>{_esc(value)}</th></tr></thead>"
        f"<tbody>\n{rows}\n</tbody></table>"
    )


def figure_html(fig, alt: str, caption: str, *, dpi: int = 100) -> str:
    """A figure as an inline base64 PNG ``<figure>`` (the figure is closed afterwards)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    encoded = base64.b64encode(buf.getvalue()).decode("ascii")
    return (
        f'<figure><img alt="{_esc(alt)}" src="data:image/png;base64,{encoded}">'
        f"<figcaption>{_esc(caption)}</figcaption></figure>"
    )


def page(title: str, subtitle: str, sections: list[tuple[str, str, str]]) -> str:
    """The whole document: ``sections`` are ``(anchor, heading, inner HTML)``."""
    nav = "".join(f'<a href="#{_esc(a)}">{_esc(h)}</a>' for a, h, _ in sections)
    body = "\n".join(
        f'<section id="{_esc(a)}"><h2>{_esc(h)}</h2>\n{inner}\n</section>'
        for a, h, inner in sections
    )
    made = _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="segqtl {_esc(__version__)}">
<title>{_esc(title)}</title>
<style>{_STYLE}</style>
</head>
<body>
<div id="image-banner" class="banner" hidden></div>
<header><h1>{_esc(title)}</h1><p>{_esc(subtitle)}</p></header>
<nav>{nav}</nav>
<main>
{body}
<p class="note">Made by segqtl {_esc(__version__)} on {made}. Self-contained: figures are
inline, nothing is loaded from the network. Click a column heading to sort a table.</p>
</main>
<script>{_SCRIPT}</script>
</body>
</html>
"""


# ---------------------------------------------------------------------------------- reports
def _figures(con, run: data.RunInfo, db, top: pl.DataFrame | None) -> list[str]:
    out = []
    for kind in REPORT_PLOTS.get(run.mode, ()):
        fig = build(con, kind, run.run_id, db=db)
        out.append(figure_html(fig, f"{kind} plot of run {run.run_id}", KINDS[kind].help))
    # one phenotype in detail: the locus of an all-variants run's strongest association, the
    # stability of finemap's most stable phenotype
    if top is not None and top.height and "phenotype" in top.columns:
        gene = top["phenotype"][0]
        detail = {"nominal": "locus", "finemap": "stability"}.get(run.mode)
        if detail == "locus" and not run.all_variants:
            detail = None
        if detail is not None:
            fig = build(con, detail, run.run_id, phenotype=gene, db=db)
            out.append(
                figure_html(fig, f"{detail} plot of {gene}", f"{gene}: {KINDS[detail].help}")
            )
    return out


def run_report(con, shown: dict, run_id: int, *, db: object = "DB", top: int = DEFAULT_TOP):
    """The HTML report of one run.

    Parameters
    ----------
    con : duckdb.DuckDBPyConnection
        A read-only connection.
    shown : dict
        :func:`segqtl.api.show` of the run (its sections become tables).
    top : int
        Rows of the top-results table.
    """
    run = data.run_info(con, run_id, db)
    info = dict(shown.get("run", {}))
    top_rows = data.top_results(con, run, top)
    summary = data.fdr_summary(con, run_id)
    run_table = {k: v for k, v in info.items() if v is not None and v != ""}
    sections = [("run", "Run", key_values(run_table))]
    outcome = ["<h3>Rows and phenotypes by status</h3>", table(data.status_counts(con, run_id))]
    if shown.get("outcome"):  # what segqtl show reports as the run's outcome
        outcome += ["<h3>Summary (as segqtl show reports it)</h3>", key_values(shown["outcome"])]
    elif summary is not None:
        outcome += ["<h3>q-values (Storey)</h3>", key_values(summary)]
    sections.append(("outcome", "Outcome", "\n".join(outcome)))
    figs = _figures(con, run, db, top_rows)
    if figs:
        sections.append(("plots", "Plots", "\n".join(figs)))
    if top_rows is not None:  # a mode without sql/plot_top_<mode>.sql has no such table
        sections.append(
            (
                "top",
                f"Top {top_rows.height} results",
                f'<p class="note">sql/plot_top_{_esc(run.mode)}.sql; click a heading to '
                "sort.</p>" + table(top_rows, sortable=True, table_id="top-results"),
            )
        )
    if summary is not None:
        genes = data.egenes(con, run_id)
        sections.append(
            (
                "egenes",
                f"eGenes at FDR {summary['fdr']:g} ({genes.height})",
                table(genes, sortable=True, table_id="egenes"),
            )
        )
    sections.append(("parameters", "Parameters", key_values(shown.get("parameters", {}))))
    timings = [
        f"<h3>{_esc(name)}</h3>" + key_values(values)
        for name, values in shown.items()
        if name not in ("run", "outcome", "parameters", "provenance") and values
    ]
    if timings:
        sections.append(("timings", "Units and timings", "\n".join(timings)))
    sections.append(
        (
            "provenance",
            "Provenance",
            key_values(shown.get("provenance", {}))
            + '<p class="note">Input checksums (sha256) and library versions recorded with '
            "the run.</p>",
        )
    )
    title = f"segqtl report: {run.label}"
    subtitle = (
        f"cohort {run.cohort}"
        + (f", validation cohort {run.validation_cohort}" if run.validation_cohort else "")
        + f"; {info.get('chromosomes', '')}; status {run.status}; warehouse {db}"
    )
    return page(title, subtitle, sections)


def comparison_report(
    con,
    shown_a: dict,
    shown_b: dict,
    run_a: int,
    run_b: int,
    *,
    db: object = "DB",
    top: int = DEFAULT_TOP,
) -> str:
    """The HTML report of the stored comparison of ``run_a`` with ``run_b``."""
    from ..warehouse.compare import load_comparison

    a, b = data.run_info(con, run_a, db), data.run_info(con, run_b, db)
    cid = data.comparison_id(con, run_a, run_b, db)
    comparison = load_comparison(con, cid, top=top)
    info_a, info_b = shown_a.get("run", {}), shown_b.get("run", {})
    fields = [k for k in info_a if info_a[k] not in (None, "") or info_b.get(k) not in (None, "")]
    both = pl.DataFrame(
        {
            "field": fields,
            f"run {run_a}": [_cell_text(info_a[k]) for k in fields],
            f"run {run_b}": [_cell_text(info_b.get(k)) for k in fields],
        }
    )
    params_a, params_b = shown_a.get("parameters", {}), shown_b.get("parameters", {})
    keys = sorted(set(params_a) | set(params_b))
    differ = [k for k in keys if params_a.get(k) != params_b.get(k)]
    diff = pl.DataFrame(
        {
            "parameter": differ,
            f"run {run_a}": [_cell_text(params_a.get(k)) for k in differ],
            f"run {run_b}": [_cell_text(params_b.get(k)) for k in differ],
        },
        schema={"parameter": pl.String, f"run {run_a}": pl.String, f"run {run_b}": pl.String},
    )
    changes = data.frame(con, "plot_comparison", comparison_id=cid)
    gained = changes.filter(pl.col("hit_change") == "gained")
    lost = changes.filter(pl.col("hit_change") == "lost")
    fig = build(con, "compare", run_a, run_b=run_b, db=db)
    sections = [
        ("runs", "The two runs", table(both)),
        ("summary", f"Comparison {cid}", key_values(comparison.summary())),
        ("plots", "Plots", figure_html(fig, f"comparison {cid}", KINDS["compare"].help)),
        (
            "changes",
            f"Largest effect changes (top {comparison.largest_changes.height})",
            table(comparison.largest_changes, sortable=True, table_id="top-results"),
        ),
        ("gained", f"Hits gained in run {run_b} ({gained.height})", table(gained, sortable=True)),
        ("lost", f"Hits lost in run {run_b} ({lost.height})", table(lost, sortable=True)),
        ("parameters", "Parameters that differ", table(diff)),
    ]
    title = f"segqtl comparison {cid}: {a.label} vs {b.label}"
    subtitle = f"cohorts {a.cohort} and {b.cohort}; matched on {comparison.match_key}; {db}"
    return page(title, subtitle, sections)
