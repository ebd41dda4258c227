"""Chromosome names: the one normalisation rule and the natural order (docs/methods.md#inputs)."""

from __future__ import annotations

#: chr1..chr22, chrX: the natural order, and the cycle of negative-control chromosomes.
AUTOSOMES_X = tuple(f"chr{i}" for i in range(1, 23)) + ("chrX",)


def normalize_chromosome(name: str) -> str:
    """``8`` / ``chr8`` -> ``chr8``; ``X`` -> ``chrX``."""
    name = str(name).strip()
    return name if name.startswith("chr") else f"chr{name}"


def natural_order(chromosomes) -> list[str]:
    """``chromosomes`` sorted chr1..chr22, chrX, then any others by name."""
    rank = {c: i for i, c in enumerate(AUTOSOMES_X)}
    return sorted(chromosomes, key=lambda c: (rank.get(c, len(rank)), c))
