"""The mode registry: every analysis mode and every run parameter, declared once.

``MODES`` maps a mode's name to its :class:`~.base.Mode` (declared in
``segqtl/modes/<name>.py``); :func:`params` lists every run parameter (:class:`~.params.Param`)
in :class:`~segqtl.spec.RunSpec` field order.  The run planner, the engine, the warehouse
writer, the exporter, the comparer and both command lines read these; adding a mode means
adding its module to :data:`MODULES` (see docs/adding-a-mode.md).

:func:`check_spec` is the one place run parameters are checked: each value against its
declared range or choices, parameters that do not apply to the run's mode, then the mode's own
cross-parameter checks.  Messages name a flag as the user typed it (:func:`flag_name`).
"""

from __future__ import annotations

import importlib
import warnings
from functools import cache

from ..errors import UsageError
from . import parameters as params_module
from .base import ExportFile, HitRule, Mode
from .parameters import (
    ALL_MODES,
    CLUSTER,
    EXECUTOR,
    JOB_PARAMS,
    MAX_MEMORY,
    MIN_SAMPLES,
    NAME,
    NORMALIZE,
    NUM_CORES,
    SCHEDULER,
    SELECTION_PARAMS,
    SHARD,
    SHARED_SCRATCH,
    UNIT_SIZE,
    WINDOW,
    WORKERS,
    Param,
    check_execution,
)

#: The mode modules, in the order ``--help`` lists them.
MODULES = ("nominal", "perm", "finemap", "validate", "interaction", "conditional")

#: Parameters of every mode's model (first in RunSpec) and of how a run executes (last).
MODEL_PARAMS = (WINDOW, MIN_SAMPLES, NORMALIZE, *SELECTION_PARAMS)
EXECUTION_PARAMS = (
    NUM_CORES,
    UNIT_SIZE,
    NAME,
    EXECUTOR,
    SCHEDULER,
    CLUSTER,
    WORKERS,
    SHARED_SCRATCH,
    MAX_MEMORY,
    *JOB_PARAMS,
    SHARD,
)

__all__ = [
    "UsageError",
    "params_module",
    "ExportFile",
    "HitRule",
    "Mode",
    "Param",
    "MODULES",
    "modes",
    "get",
    "params",
    "param",
    "check_spec",
    "flag_name",
    "offered",
    "set_cli",
]


@cache
def _modules() -> tuple:
    return tuple(importlib.import_module(f"{__name__}.{m}") for m in MODULES)


@cache
def modes() -> dict[str, Mode]:
    """Every registered mode by name, in :data:`MODULES` order."""
    return {module.MODE.name: module.MODE for module in _modules()}


def get(name: str) -> Mode:
    """The mode called ``name``; a one-line error listing the modes otherwise."""
    try:
        return modes()[name]
    except KeyError:
        raise UsageError(
            f"mode {name!r} is not available in this version of segqtl "
            f"(available: {', '.join(modes())})"
        ) from None


@cache
def params() -> dict[str, Param]:
    """Every run parameter by name, in RunSpec field order.

    Raises ``RuntimeError`` when two declarations share a name (a parameter is declared once).
    """
    ordered: list[Param] = list(MODEL_PARAMS)
    for module in _modules():
        ordered += module.PARAMS
    ordered += EXECUTION_PARAMS
    out: dict[str, Param] = {}
    for p in ordered:
        if p.name in out:
            raise RuntimeError(f"run parameter {p.name!r} is declared twice")
        out[p.name] = p
    return out


def param(name: str) -> Param:
    """The declaration of parameter ``name``."""
    return params()[name]


@cache
def strict_params() -> frozenset[str]:
    """Parameters refused (not ignored) when given to a mode they do not apply to."""
    return frozenset(n for m in _modules() for n in getattr(m, "STRICT", ()))


# ---------------------------------------------------------------------------- flag spelling
# The command line in use ("native": segqtl run, "dropin": python -m segqtl --mode) and the
# arguments the user typed, so that messages name a flag as typed (--num-cores or --num_cores).
_CLI: dict = {"style": "native", "argv": ()}


def set_cli(style: str, argv) -> None:
    """Record which command line is parsing ``argv`` (``"native"`` or ``"dropin"``)."""
    _CLI["style"] = style
    _CLI["argv"] = tuple(argv)


def offered(name: str) -> bool:
    """Whether the command line in use has parameter ``name``'s flag (from Python: always)."""
    p = params().get(name)
    if p is None:
        return False
    return p.dropin if _CLI["style"] == "dropin" else p.native


def flag_name(name: str) -> str:
    """Parameter ``name``'s flag as the user typed it, else as the command line in use spells
    it (``--num-cores`` natively and from Python, ``--num_cores`` in the drop-in)."""
    p = params().get(name)
    if p is None:
        return f"--{name}"
    for arg in _CLI["argv"]:
        typed = arg.split("=", 1)[0]
        if typed in p.flags:
            return typed
    return p.snake if _CLI["style"] == "dropin" else p.kebab


def typed_flag(name: str) -> str:
    """An option that is not a run parameter (``comment_char``), as the user typed it, else
    as the command line in use spells it (as :func:`flag_name` does for parameters)."""
    kebab, snake = f"--{name.replace('_', '-')}", f"--{name.replace('-', '_')}"
    for arg in _CLI["argv"]:
        typed = arg.split("=", 1)[0]
        if typed in (kebab, snake):
            return typed
    return snake if _CLI["style"] == "dropin" else kebab


# ------------------------------------------------------------------------------------ checks
def check_spec(spec) -> None:
    """Reject run parameters that cannot work, with a one-line message saying why.

    In order: the mode exists; every parameter is in its declared range or choices; the
    executor's parameters fit together (:func:`~.parameters.check_execution`); the mode's own
    cross-parameter checks (:meth:`Mode.check`); then a parameter that does not apply to the
    mode is refused if it would change what the run covers (``STRICT`` in the mode modules),
    and otherwise ignored with a warning.
    """
    for other in modes().values():  # e.g. nominal given --interaction runs as interaction
        if other.takes_over and other.takes_over[0] == spec.mode:
            if getattr(spec, other.takes_over[1]) not in (None, False):
                spec.mode = other.name
    mode = get(spec.mode)
    if not spec.chromosomes:
        raise UsageError("give at least one --chromosome")
    for p in params().values():
        p.check(getattr(spec, p.name), flag_name)
    check_execution(spec, flag_name)
    from ..warehouse.derive import check_selection  # reads the lists: only when checking

    check_selection(spec, flag_name)
    mode.check(spec, flag_name)
    for p in params().values():
        if p.applies_to(spec.mode) or getattr(spec, p.name) == p.default:
            continue
        flag = flag_name(p.name)
        if p.modes == ALL_MODES:
            owner = "every"
        else:  # "nominal, perm and finemap"
            owner = " and ".join(
                [", ".join(p.modes[:-1]), p.modes[-1]] if len(p.modes) > 1 else p.modes
            )
        if p.name in strict_params():
            raise UsageError(
                f"{flag} is a {owner} option, not a {spec.mode} one. Fix: use --mode "
                f"{p.modes[0]}, or drop {flag}"
            )
        warnings.warn(f"{flag} is a {owner} option; --mode {spec.mode} ignores it", stacklevel=2)
