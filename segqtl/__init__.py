"""segqtl: segmentation-aware molecular QTL mapping in a DuckDB warehouse.

The public library API lives in :mod:`segqtl.api`; the command line in :mod:`segqtl.cli`.
"""

__version__ = "0.1.0"
