"""The parameters of a run, as stored in ``run_parameters``."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields

from .ingest.readers import normalize_chromosome

AUTOSOMES_X = [f"chr{i}" for i in range(1, 23)] + ["chrX"]


@dataclass
class RunSpec:
    """Everything that decides a run's numbers (plus how it is executed).

    ``all_variants`` is ``False`` (best variant per phenotype), ``True`` (every cis variant of
    every phenotype) or a phenotype ID (every cis variant of that phenotype only).
    """

    mode: str
    cohort: str
    chromosomes: list[str]
    window: int = 1_000_000
    min_samples: int = 30
    all_variants: bool | str = False
    record_aic: bool = False
    neg_control: bool = False
    neg_control_max_variants: int = 2000
    num_permutations: int = 5000
    perm_method: str = "beta"
    seed: int = 12345
    num_cores: int = 1
    phenotypes_per_unit: int = 25
    name: str | None = None

    def __post_init__(self):
        self.chromosomes = [normalize_chromosome(c) for c in self.chromosomes]

    def to_rows(self) -> list[tuple[str, str]]:
        return [(k, json.dumps(v)) for k, v in asdict(self).items()]

    @classmethod
    def from_rows(cls, rows) -> RunSpec:
        known = {f.name for f in fields(cls)}
        values = {k: json.loads(v) for k, v in rows if k in known}
        return cls(**values)


def trans_chromosome(chrom: str) -> str:
    """The negative-control chromosome: the next of chr1..chr22, chrX (wrapping)."""
    if chrom not in AUTOSOMES_X:
        raise ValueError(
            f"unknown chromosome {chrom!r} for --neg_control; expected chr1..chr22 or chrX"
        )
    return AUTOSOMES_X[(AUTOSOMES_X.index(chrom) + 1) % len(AUTOSOMES_X)]
