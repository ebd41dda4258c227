"""Plots and the per-run HTML report (``segqtl plot``, ``segqtl report``).

- :mod:`segqtl.plots.data`: the rows each plot draws, read-only from ``sql/plot_*.sql``;
- :mod:`segqtl.plots.figures`: pure functions from polars frames to matplotlib figures;
- :mod:`segqtl.plots.kinds`: the plot kinds (which runs each takes), building and saving;
- :mod:`segqtl.plots.report`: the self-contained HTML report of a run or a comparison.

The submodules import matplotlib, polars and scipy; import them where they are used (the
command line's start-up time does not pay for them).
"""
