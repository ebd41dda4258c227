"""The layers' borders, read from the source with ``ast`` (nothing is imported).

``segqtl/kernels/`` is pure maths: numpy, scipy and numba on arrays, no I/O and no knowledge of
how work is scheduled or stored.  So a kernel module imports none of the I/O or orchestration
libraries and nothing from the layers above it (engine, warehouse, ingest, cli, api, and the
mode registry); relative imports count.  scikit-learn is a test-only reference: no runtime
module imports it.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "segqtl"
KERNELS = sorted((PACKAGE / "kernels").glob("*.py"))
RUNTIME = sorted(PACKAGE.rglob("*.py"))

#: Libraries a kernel must not import: storage, data frames, CLI, process pools.
KERNEL_FORBIDDEN_LIBRARIES = ("duckdb", "polars", "pyarrow", "click", "multiprocess")
#: segqtl layers above the kernels (segqtl.modes: the mode registry the engine reads).
KERNEL_FORBIDDEN_LAYERS = (
    "segqtl.engine",
    "segqtl.warehouse",
    "segqtl.ingest",
    "segqtl.cli",
    "segqtl.api",
    "segqtl.modes",
)
#: Runtime modules that may import scikit-learn: the principal components of --phenotype-pcs /
#: --genotype-pcs (elsewhere it is the test reference of the compiled elastic net).
SKLEARN_USERS: frozenset[str] = frozenset({"segqtl.kernels.pcs"})


def _module_name(path: Path, root: Path = PACKAGE.parent) -> str:
    parts = path.relative_to(root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path, root: Path = PACKAGE.parent) -> list[tuple[int, str]]:
    """Every module a source file imports, as absolute dotted names, with line numbers.

    ``from X import y`` yields both ``X`` and ``X.y`` (y may be a submodule); relative imports
    are resolved against the file's package (named from its path below ``root``);
    ``importlib.import_module("X")`` and ``__import__("X")`` with a literal name count too.
    """
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = _module_name(path, root).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    out: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base_parts = package[: len(package) - (node.level - 1)]
                base = ".".join(base_parts + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            out.append((node.lineno, base))
            out += [(node.lineno, f"{base}.{alias.name}") for alias in node.names]
        elif isinstance(node, ast.Call) and node.args:
            fn = node.func
            name = fn.attr if isinstance(fn, ast.Attribute) else getattr(fn, "id", None)
            arg = node.args[0]
            if name in ("import_module", "__import__") and isinstance(arg, ast.Constant):
                out.append((node.lineno, str(arg.value)))
    return out


def _within(module: str, roots: tuple[str, ...]) -> bool:
    return any(module == r or module.startswith(r + ".") for r in roots)


def _rel(path: Path) -> str:
    return str(path.relative_to(PACKAGE.parent))


# ----------------------------------------------------------------------------- the parser


def test_imported_modules__resolves_relative_and_dynamic_imports(tmp_path):
    pkg = tmp_path / "segqtl" / "kernels"
    pkg.mkdir(parents=True)
    src = pkg / "probe.py"
    src.write_text(
        "import numpy as np, polars\n"
        "from . import finemap\n"
        "from ..engine import units\n"
        "from .. import api\n"
        "def f():\n"
        "    import duckdb.typing\n"
        "    importlib.import_module('pyarrow')\n"
    )
    got = {m for _, m in imported_modules(src, root=tmp_path)}
    assert {"numpy", "polars", "duckdb.typing", "pyarrow"} <= got
    assert {"segqtl.kernels.finemap", "segqtl.engine", "segqtl.engine.units", "segqtl.api"} <= got


def test_kernels__modules_are_found():
    names = {p.name for p in KERNELS}
    assert {"finemap.py", "finemap_compiled.py", "segments.py", "nominal.py"} <= names
    assert {"validate_metrics.py", "validate_pipeline.py"} <= names


# ----------------------------------------------------------------------------- the borders


@pytest.mark.parametrize("path", KERNELS, ids=[p.name for p in KERNELS])
def test_kernel_module__imports_no_io_or_orchestration_library(path):
    bad = [
        f"{_rel(path)}:{line}: {m}"
        for line, m in imported_modules(path)
        if _within(m, KERNEL_FORBIDDEN_LIBRARIES)
    ]
    msg = "kernels are pure maths; move this import to engine/warehouse:\n"
    assert not bad, msg + "\n".join(bad)


@pytest.mark.parametrize("path", KERNELS, ids=[p.name for p in KERNELS])
def test_kernel_module__imports_nothing_from_the_layers_above(path):
    bad = [
        f"{_rel(path)}:{line}: {m}"
        for line, m in imported_modules(path)
        if _within(m, KERNEL_FORBIDDEN_LAYERS)
    ]
    msg = "kernels must not depend on engine/warehouse/ingest/cli/api/modes:\n"
    assert not bad, msg + "\n".join(bad)


def test_runtime_modules__import_sklearn_only_where_listed():
    users = {
        _module_name(path)
        for path in RUNTIME
        for _, m in imported_modules(path)
        if _within(m, ("sklearn",))
    }
    assert users == SKLEARN_USERS, (
        "scikit-learn is a test-only reference; a runtime user must be listed in SKLEARN_USERS "
        f"(and scikit-learn be a runtime dependency): {sorted(users)}"
    )
