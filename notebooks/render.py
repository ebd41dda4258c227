"""Execute the notebooks and store the executed copies, with their outputs, in docs/notebooks/.

    .venv/bin/python notebooks/render.py            # both notebooks
    .venv/bin/python notebooks/render.py 01_quickstart.ipynb

Each notebook runs with nbclient in a temporary working folder, on a kernel that is this
interpreter (a kernelspec written to a temporary JUPYTER_PATH), simulating its own cohort
(``SEGQTL_NOTEBOOK_DB`` is unset for it).  The executed copy records the sha256 of the source
notebook's cells in its metadata (``segqtl.source_sha256``): tests/test_notebooks.py checks
that every rendered copy was made from the current source.  tests/test_notebooks.py executes
the notebooks with the same :func:`execute`.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import tempfile
from pathlib import Path

import nbformat

NOTEBOOKS = Path(__file__).resolve().parent
RENDERED = NOTEBOOKS.parent / "docs" / "notebooks"
KERNEL = "segqtl-notebook-python"


def source_sha256(nb) -> str:
    """sha256 of a notebook's cells (type and source), whatever their outputs."""
    cells = [[c.cell_type, c.source] for c in nb.cells]
    return hashlib.sha256(json.dumps(cells, ensure_ascii=False).encode()).hexdigest()


def kernel_env(folder: Path) -> dict[str, str]:
    """Write a kernelspec for this interpreter under ``folder``; the environment to use it."""
    spec_dir = folder / "kernels" / KERNEL
    spec_dir.mkdir(parents=True, exist_ok=True)
    spec = {
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "segqtl (this interpreter)",
        "language": "python",
    }
    (spec_dir / "kernel.json").write_text(json.dumps(spec))
    return {
        "JUPYTER_PATH": str(folder),
        "JUPYTER_PLATFORM_DIRS": "1",  # no jupyter_core migration warning
        # headless: the inline backend renders with Agg into image/png outputs
        "MPLBACKEND": "module://matplotlib_inline.backend_inline",
        "PYDEVD_DISABLE_FILE_VALIDATION": "1",
    }


def execute(path: Path, cwd: Path, env: dict[str, str | None], timeout: int = 600):
    """Execute notebook ``path`` in ``cwd`` with ``env`` set (None: unset); return it.

    Raises nbclient's CellExecutionError on a failing cell.
    """
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    saved = {k: os.environ.get(k) for k in env}
    try:
        for key, value in env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        NotebookClient(
            nb, timeout=timeout, kernel_name=KERNEL, resources={"metadata": {"path": str(cwd)}}
        ).execute()
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    return nb


def render(names: list[str] | None = None) -> list[Path]:
    """Execute the named notebooks (default: all) and write them to docs/notebooks/."""
    names = names or sorted(p.name for p in NOTEBOOKS.glob("*.ipynb"))
    RENDERED.mkdir(parents=True, exist_ok=True)
    written = []
    with tempfile.TemporaryDirectory(prefix="segqtl-render-") as tmp:
        env = kernel_env(Path(tmp) / "jupyter") | {"SEGQTL_NOTEBOOK_DB": None}
        for name in names:
            source = nbformat.read(NOTEBOOKS / name, as_version=4)
            cwd = Path(tmp) / Path(name).stem
            cwd.mkdir()
            nb = execute(NOTEBOOKS / name, cwd, env)
            nb.metadata["kernelspec"] = source.metadata["kernelspec"]
            nb.metadata["segqtl"] = {
                "source": f"notebooks/{name}",
                "source_sha256": source_sha256(source),
                "rendered_by": "notebooks/render.py",
            }
            out = RENDERED / name
            nbformat.write(nb, out)
            written.append(out)
            print(out)
    return written


if __name__ == "__main__":
    render(sys.argv[1:] or None)
