"""Shared fixtures: golden inputs, small simulated cohorts, ingested warehouses."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from segqtl import api
from segqtl.simulate import simulate_cohort

DATA = Path(__file__).parent / "data"
GOLDEN = DATA / "golden"
GOLDEN_MAIN = GOLDEN / "main"


@pytest.fixture(autouse=True, scope="session")
def _genotype_cache(tmp_path_factory):
    """Runs keep their genotype copies in this session's folder, not the system's temp."""
    os.environ["SEGQTL_CACHE"] = str(tmp_path_factory.mktemp("genotype_cache"))


def run_params(cls, mode: str = "finemap", **overrides):
    """A kernel parameter dataclass (``FinemapParams``, ``ValidateOptions``) with the registry's
    defaults, as a run fills it, except ``overrides``."""
    from segqtl.engine.units import params_from_spec
    from segqtl.spec import RunSpec

    return params_from_spec(cls, RunSpec(mode=mode, cohort="", chromosomes=["1"], **overrides))


def golden_inputs() -> dict:
    """Keyword arguments of the golden discovery cohort for ingest/ensure_cohort."""
    return {
        "genotypes": GOLDEN_MAIN / "genotypes",
        "quantifications": GOLDEN_MAIN / "quantifications.csv",
        "covariates": GOLDEN_MAIN / "covariates.csv",
        "copynumber": GOLDEN_MAIN / "copynumbers.csv",
        "segmentation": GOLDEN_MAIN / "segments.csv",
    }


def dropin_input_args() -> list[str]:
    """SegmentQTL's input flags for the golden discovery cohort."""
    g = golden_inputs()
    return [
        "--genotypes",
        str(g["genotypes"]),
        "--quantifications",
        str(g["quantifications"]),
        "--covariates",
        str(g["covariates"]),
        "--copynumber",
        str(g["copynumber"]),
        "--segmentation",
        str(g["segmentation"]),
    ]


@pytest.fixture(scope="session")
def small_cohort(tmp_path_factory):
    """A simulated cohort with missing genotypes: 60 samples, 2 chromosomes, 12 phenotypes each."""
    out = tmp_path_factory.mktemp("small_cohort")
    return simulate_cohort(
        out,
        seed=7,
        n_samples=60,
        chromosomes=("1", "2"),
        n_phenotypes=12,
        n_variants=80,
        chromosome_length=6_000_000,
        missing_rate=0.03,
        phenotype_covariate=True,
    )


def cohort_kwargs(cohort) -> dict:
    return {
        "genotypes": cohort.genotypes,
        "quantifications": cohort.quantifications,
        "covariates": cohort.covariates,
        "copynumber": cohort.copynumber,
        "segmentation": cohort.segmentation,
        "phenotype_covariate": cohort.phenotype_covariate,
    }


@pytest.fixture()
def small_db(tmp_path, small_cohort):
    """A fresh warehouse with the small cohort ingested as 'small'."""
    db = tmp_path / "wh.duckdb"
    api.ingest(db, "small", **cohort_kwargs(small_cohort))
    return db


def as_segqtl_of_schema(monkeypatch, version: int) -> None:
    """Make this process a segqtl that knew migrations 001..``version`` only: it creates
    warehouses of that schema, and its units fill only the tables those migrations make
    (no ``unit_sql`` of a later migration, such as 010's top hits)."""
    import dataclasses

    from segqtl import modes
    from segqtl.warehouse import db as wdb

    all_migrations = wdb.migrations()
    monkeypatch.setattr(wdb, "migrations", lambda: all_migrations[:version])
    monkeypatch.setattr(wdb, "SCHEMA_VERSION", version)
    registry = modes.modes()  # the cached dict that modes.get reads
    for name, mode in list(registry.items()):
        later = [m for m in mode.migrations if int(m.partition("_")[0]) > version]
        if mode.unit_sql and later:
            monkeypatch.setitem(registry, name, dataclasses.replace(mode, unit_sql=()))
