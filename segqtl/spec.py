"""The parameters of a run, as stored in ``run_parameters``.

:class:`RunSpec` is generated from the registry's parameter declarations
(:func:`segqtl.modes.params`): one field per parameter, with its declared default, after the
three fields every run has (``mode``, ``cohort``, ``chromosomes``).  Nothing else restates a
parameter or its default.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, field, fields, make_dataclass

from . import modes as _modes
from .chromosomes import normalize_chromosome


def _post_init(self) -> None:
    self.chromosomes = [normalize_chromosome(c) for c in self.chromosomes]
    # file parameters given as pathlib paths (the Python API): stored as text, like the CLI's
    for f in fields(self):
        value = getattr(self, f.name)
        if isinstance(value, os.PathLike):
            setattr(self, f.name, os.fspath(value))


def _unit_size(self) -> int:
    """Phenotypes per work unit (the mode's default unless set)."""
    return self.phenotypes_per_unit or _modes.get(self.mode).unit_size


def _to_rows(self) -> list[tuple[str, str]]:
    """The fields as ``(name, JSON value)`` rows for ``run_parameters``."""
    return [(k, json.dumps(v)) for k, v in asdict(self).items()]


def _from_rows(cls, rows):
    """Rebuild a spec from ``run_parameters`` rows.

    Keys that are not fields (provenance such as ``input:*``, ``version:*``) are ignored,
    and fields missing from the rows (a run recorded before the field existed) take their
    defaults.
    """
    known = {f.name for f in fields(cls)}
    values = {k: json.loads(v) for k, v in rows if k in known}
    return cls(**values)


def _annotation(p) -> object:
    if p.optional_value is not None:
        return bool | str
    return p.type | None if p.nullable else p.type


RunSpec = make_dataclass(
    "RunSpec",
    [("mode", str), ("cohort", str), ("chromosomes", list[str])]
    + [(p.name, _annotation(p), field(default=p.default)) for p in _modes.params().values()],
    namespace={
        "__doc__": (
            "Everything that decides a run's numbers (plus how it is executed).\n\n"
            "One field per run parameter of the registry (segqtl.modes.params()), with its "
            "declared default; ``all_variants`` is False (best variant per phenotype), True "
            "(every cis variant) or a phenotype ID (that phenotype's cis variants only).  Runs "
            "stored before a field existed read back with its default (:meth:`from_rows`)."
        ),
        "__post_init__": _post_init,
        "unit_size": property(_unit_size),
        "to_rows": _to_rows,
        "from_rows": classmethod(_from_rows),
    },
)
# make_dataclass takes ``module=`` only from Python 3.12; pickling needs the real module.
RunSpec.__module__ = __name__
