"""What a mode is: one declared object that every layer reads (see docs/adding-a-mode.md).

A mode module (``segqtl/modes/<name>.py``) declares its parameters (:class:`~.params.Param`)
and one :class:`Mode` instance ``MODE``.  The engine (units, worker, preload, payloads,
run-level finish), the warehouse (result tables, run records, exports, comparisons, q-values)
and both command lines take everything mode-specific from it; nothing outside a mode's module
asks which mode it is.

Mode modules hold declarations and small functions only: anything heavy (numba, scipy, the
kernels, DuckDB queries) is imported inside the functions that need it, so that reading the
registry costs nothing at start-up.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from ..errors import UsageError
from .parameters import Param

#: ``flag(name)`` spells a parameter's flag for messages (:func:`segqtl.modes.flag_name`).
FlagName = Callable[[str], str]


@dataclass(frozen=True)
class ExportFile:
    """One file of a run's export: the rows of ``sql`` (parameters ``$run_id``, ``$chr``)
    written under SegmentQTL's name ``csv_name`` (the format may change the extension).

    ``chunked``: ``sql`` also takes ``$first_phenotype`` and ``$last_phenotype`` (a range of
    phenotype_idx) and orders rows by phenotype first, so that a large file is written a
    stretch of units at a time (bounded memory, no sort of the whole file).
    """

    sql: str
    csv_name: str
    chrom: str
    chunked: bool = False


@dataclass(frozen=True)
class TensorqtlFile:
    """One file of ``segqtl export --layout tensorqtl``: the rows of ``sql/<sql_name>.sql``
    with ``params``, written as ``name`` with DuckDB COPY ``options``."""

    sql_name: str
    params: dict
    name: str
    options: str


#: COPY options of tensorQTL's text tables and parquet pair files.
TENSORQTL_TEXT = "(HEADER, DELIMITER '\t', COMPRESSION gzip)"
TENSORQTL_PARQUET = "(FORMAT parquet, COMPRESSION zstd)"


@dataclass(frozen=True)
class HitRule:
    """How ``segqtl compare`` decides that a result of one run is a hit.

    ``code`` selects the rule in ``sql/compare_pairs.sql``; ``label`` is stored with the
    comparison (``hit_rule_a``/``hit_rule_b``).
    """

    code: str
    threshold: float
    label: str


@dataclass(frozen=True)
class Mode:
    """One analysis mode.

    Parameters
    ----------
    name : str
        The ``--mode`` value.
    help : str
        One line for ``--mode``'s help.
    params : tuple of Param
        The parameters this mode declares (shared ones are in :mod:`.params`; a parameter is
        declared by one mode and may apply to others through ``Param.modes``).
    unit_size : int
        Phenotypes per work unit by default (one commit each).
    worker : str
        ``"module:function"`` computing one unit in a worker process:
        ``function(payload) -> (frame or {table: frame}, {status: count})``.
    preload : tuple of str
        Modules the worker pool's fork server imports once (e.g. to warm compiled kernels).
    result_table : str
        The table whose rows are a unit's ``n_rows``.
    tables : tuple of str
        Every table the mode's units fill (``result_table`` first): by the worker's frames,
        or by ``unit_sql``.
    migrations : tuple of str
        The ``sql/migrations`` files that create the mode's tables.
    views : tuple of str
        The mode's result views (``sql/views/<name>.sql``).
    tested_as : str
        What ``n_pairs_tested`` counts, in the closing line of ``segqtl run``.
    effect_column, p_column : str
        The result view's effect and significance columns that ``segqtl compare`` correlates.
    compare_source : str
        The ``sql/`` file selecting a run's results for ``segqtl compare`` (columns run_id,
        chr, phenotype, variant, effect, p, q, hit_value; see ``sql/compare_pairs.sql``).
    finish_preload : tuple of str
        Modules :meth:`finish` imports (perm: the q-values' scipy.stats, half a second).  The
        run's parent imports them in a background thread from the moment the worker pool
        starts, instead of after the last unit (and without holding back the first units).
    unit_sql : tuple of str
        ``sql/`` files run after a unit's rows are inserted, in the same transaction, with
        parameters ``$run_id``, ``$unit_id``, ``$chr`` and ``$variant_chr``, reading the unit's
        frame as ``unit_main`` (rows derived from the unit's, such as nominal's top hits:
        ``sql/unit_top_rows.sql``).  Only for modes whose units return a single frame.
    p_is_pvalue : bool
        Whether ``p_column`` is a p-value (compared on -log10 scale) or a score.
    has_variant : bool
        Whether a per-phenotype result names a lead variant.
    drops_redundant_covariates : bool
        Constant covariates and linear combinations of earlier ones are left out of the model
        (with a warning stored with the run) instead of making every fit singular.
    takes_over : (str, str) or None
        ``(mode, parameter)``: a run of that mode given this parameter runs as this mode
        (``--mode nominal --interaction FILE`` is an interaction run).
    """

    name: str
    help: str
    params: tuple[Param, ...]
    unit_size: int
    worker: str
    result_table: str
    tables: tuple[str, ...]
    migrations: tuple[str, ...]
    views: tuple[str, ...]
    tested_as: str
    effect_column: str
    p_column: str
    compare_source: str
    preload: tuple[str, ...] = ()
    finish_preload: tuple[str, ...] = ()
    unit_sql: tuple[str, ...] = ()
    p_is_pvalue: bool = True
    has_variant: bool = True
    takes_over: tuple[str, str] | None = None
    drops_redundant_covariates: bool = False

    # ------------------------------------------------------------------------------ checks
    def check(self, spec, flag: FlagName) -> None:
        """Cross-parameter checks that need no warehouse (ranges are checked per Param)."""

    def check_dropin_inputs(self, inputs, val_inputs, flag: FlagName) -> None:
        """The drop-in's input-file checks: only validate takes ``--val_*`` files."""
        given = [k for k, v in val_inputs.items() if v is not None]
        if given:
            name = f"--val_{given[0]}"
            raise UsageError(f"{name} is a validate option. Fix: use --mode validate, or drop it")

    def check_warehouse(self, con, spec, cohort: dict) -> None:
        """Checks against the warehouse when the run is created (``cohort``: its record)."""

    # ------------------------------------------------------------------------------ planning
    def only_phenotype(self, spec) -> str | None:
        """The one phenotype a run is restricted to, or None."""
        return None

    def unit_phenotypes(self, spec, unit) -> int:
        """Phenotypes a unit covers (its range, or 1 for a single-phenotype run)."""
        if self.only_phenotype(spec) is not None:
            return 1
        return unit.last_idx - unit.first_idx + 1

    def model_spec(self, con, spec):
        """``spec`` with the model parameters the run takes from elsewhere (a conditional
        run's from its perm run); ``spec`` itself by default."""
        return spec

    def variant_chromosome(self, spec, chrom: str) -> str:
        """The chromosome of the variants a unit of ``chrom`` tests."""
        return chrom

    def genotype_cohorts(self, spec) -> tuple[str, ...]:
        """The cohorts whose genotypes the units read (copied to scratch)."""
        return (spec.cohort,)

    def run_columns(self, spec) -> dict[str, object]:
        """Extra ``runs`` columns to fill when the run is created."""
        return {}

    def provenance(self, con, spec) -> list[tuple[str, str]]:
        """Extra ``(key, JSON value)`` provenance rows beyond the cohort's input checksums."""
        return []

    # ------------------------------------------------------------------------------ execution
    def before_execute(self, con, run_id: int, spec) -> None:
        """Checks before (re)starting the units, e.g. that inputs read at run time are intact."""

    def payloads(self, con, spec, units, info: dict, exports: dict, scratch: Path) -> Iterator:
        """Each unit's payload, copying genotypes to scratch files as the units need them.

        ``exports`` maps a key whose last element is the variants' chromosome to its
        :class:`~segqtl.warehouse.reads.GenotypeExport` (or None); the runner removes a
        chromosome's files once its last unit is committed.
        """
        from ..warehouse import reads

        covariates = reads.covariates_frame(con, spec.cohort, spec.mode)
        for unit in units:
            chrom = self.variant_chromosome(spec, unit.chr)
            key = ("main", chrom)
            if key not in exports:
                exports[key] = reads.GenotypeExport(
                    con, info, chrom, scratch, cache=reads.genotype_cache()
                )
            export = exports[key]
            payload = self.build_payload(con, spec, unit, info, covariates, export.files)
            rows = payload.main.rows
            export.ensure(-1 if rows is None else int(rows[-1]) if rows.size else 0)
            yield normalized(payload, spec)

    def build_payload(self, con, spec, unit, info, covariates, files):
        """One unit's payload (see :meth:`payloads`)."""
        raise NotImplementedError

    def finish(self, con, run_id: int, *, transaction: bool = True) -> None:
        """Run-level steps after the last unit (e.g. q-values over all chromosomes).

        ``transaction=False``: the caller holds a transaction, and the steps write inside it
        instead of in one of their own.  The runner (and ``segqtl merge``) always call it so,
        inside the run's last transaction with its status ``completed`` and its totals: a run
        is never ``completed`` without these results, and a run killed before that commit
        resumes to them (tests/test_faults.py kills runs at every step).
        """

    # ------------------------------------------------------------------------------ results
    def export_files(self, con, run_id: int, spec) -> list[ExportFile]:
        """The files ``segqtl export`` (and the drop-in) write, in order."""
        raise NotImplementedError

    def tensorqtl_files(self, spec, run_id: int, prefix: str) -> list[TensorqtlFile]:
        """The files of ``--layout tensorqtl`` (warehouse/export.py); refused by default."""
        raise UsageError(
            f"run {run_id} is a {self.name} run; tensorQTL's layout holds perm, all-variants "
            "nominal and conditional results. Fix: export it with --layout segmentqtl"
        )

    def by_variant(self, all_variants) -> bool:
        """Whether results are per (phenotype, variant) rather than per phenotype."""
        return False

    def hit_rule(self, side, fdr: float) -> HitRule:
        """The hit rule of one run in ``segqtl compare`` (``side``: what compare knows of it)."""
        raise NotImplementedError

    def check_fdr(self, run_id: int) -> None:
        """Refuse ``segqtl fdr`` on runs without association p-values."""
        raise UsageError(
            f"run {run_id} is a {self.name} run, which has no p-values for q-values. Fix: use a "
            "perm run (gene level) or an all-variants nominal run (pair level)"
        )

    def nominal_thresholds(self, spec) -> bool:
        """Whether q-values come with per-phenotype nominal thresholds (beta perm runs)."""
        return False


def normalized(payload, spec):
    """``payload`` with ``--normalize`` handed to its cohort slices (the workers transform each
    phenotype's values: docs/methods.md#phenotype-normalisation)."""
    if spec.normalize == "none":
        return payload
    from dataclasses import replace

    parts = {
        name: replace(part, normalize=spec.normalize)
        for name in ("main", "val")
        if (part := getattr(payload, name, None)) is not None
    }
    return replace(payload, **parts)


def planned_chromosomes(con, run_id: int, spec) -> list[str]:
    """The run's chromosomes that have units, in the run's order."""
    planned = {
        r[0]
        for r in con.execute(
            "SELECT DISTINCT chr FROM run_units WHERE run_id = ?", [run_id]
        ).fetchall()
    }
    return [c for c in spec.chromosomes if c in planned]
