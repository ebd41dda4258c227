"""Run parameters: each declared once, with its default, range, help and both flag spellings.

A :class:`Param` is the single source of a run parameter.  From the declarations the registry
builds :class:`segqtl.spec.RunSpec` (one field per parameter, in declaration order), both
command lines (:mod:`segqtl.cli`: ``--num-cores`` and ``--num_cores`` in each) and the range and
choice checks (:meth:`Param.check`).  The parameters every mode shares are declared here; a
mode's own parameters are declared in its module (``segqtl/modes/<mode>.py``).
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable
from dataclasses import dataclass

from ..errors import UsageError
from ..paths import nearest_existing

#: ``Param.modes`` value of a parameter that every mode uses.
ALL_MODES = ("*",)

#: A 64-bit signed integer's range: the bound of every integer parameter without a tighter one.
INT64_MAX = 2**63 - 1


@dataclass(frozen=True)
class Param:
    """One run parameter.

    Parameters
    ----------
    name : str
        The :class:`~segqtl.spec.RunSpec` field and the snake_case flag (``--num_cores``, the
        drop-in's spelling); the kebab-case flag (``--num-cores``) is derived from it.
    type : type
        ``bool``, ``int``, ``float`` or ``str``.
    default : object
        The value when the flag is not given (SegmentQTL's default where it has the parameter).
    help : str
        One sentence for ``--help``.
    modes : tuple of str
        The modes whose runs use the parameter (:data:`ALL_MODES`: every mode).
    low, high : float, optional
        Inclusive bounds, unless ``low_open``/``high_open`` make them exclusive.
    choices : tuple of str, optional
        The allowed values of a text parameter.
    fix : str
        What to give instead of a bad value ("give a fraction such as 0.8").
    nullable : bool
        ``None`` is a valid value (the default of an optional parameter).
    metavar : str, optional
        The value's placeholder in ``--help``.
    optional_value : object
        For flags whose value is optional (``--all_variants [GENE]``): the value stored when the
        flag is given without one.
    native, dropin : bool
        Whether ``segqtl run`` / the SegmentQTL drop-in offer the flag.
    cli_name : str, optional
        The kebab-case flag when it is not derived from ``name`` (``--unit-size`` for
        ``phenotypes_per_unit``); its snake_case twin is derived from it.
    multiple : bool
        The flag may be repeated (``str`` parameters): the values are joined by commas.
    """

    name: str
    type: type
    default: object
    help: str
    modes: tuple[str, ...] = ALL_MODES
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    choices: tuple[str, ...] | None = None
    fix: str = ""
    nullable: bool = False
    metavar: str | None = None
    optional_value: object = None
    native: bool = True
    dropin: bool = True
    cli_name: str | None = None
    multiple: bool = False
    #: For text parameters: ``text_rule(value)`` is what is wrong with the value, or None.
    text_rule: Callable[[str], str | None] | None = None

    @property
    def kebab(self) -> str:
        """The flag as ``segqtl run`` spells it: ``--num-cores``."""
        return "--" + (self.cli_name or self.name).replace("_", "-")

    @property
    def snake(self) -> str:
        """The flag as SegmentQTL's drop-in spells it: ``--num_cores``."""
        return "--" + (self.cli_name or self.name).replace("-", "_")

    @property
    def flags(self) -> tuple[str, ...]:
        """Both spellings (one when they are the same, ``--window``)."""
        return (self.kebab,) if self.kebab == self.snake else (self.kebab, self.snake)

    def applies_to(self, mode: str) -> bool:
        """Whether runs of ``mode`` use this parameter."""
        return self.modes == ALL_MODES or mode in self.modes

    def bounds(self) -> tuple[float | None, float | None]:
        """The inclusive/exclusive bounds in force: integers are at most 64-bit."""
        lo, hi = self.low, self.high
        if self.type is int:
            lo = -INT64_MAX if lo is None else lo
            hi = INT64_MAX if hi is None else hi
        return lo, hi

    def rule(self) -> str:
        """The allowed values in words: ``in (0, 1]``, ``at least 1``, ``one of beta, direct``.

        The 64-bit limit of integers is left out unless it is the only bound.
        """
        if self.choices is not None:
            return "one of " + ", ".join(self.choices)
        lo, hi = self.low, self.high
        if lo is not None and hi is not None:
            opening = "(" if self.low_open else "["
            closing = ")" if self.high_open else "]"
            return f"in {opening}{_num(lo)}, {_num(hi)}{closing}"
        if lo is not None:
            return f"{'greater than' if self.low_open else 'at least'} {_num(lo)}"
        if hi is not None:
            return f"{'less than' if self.high_open else 'at most'} {_num(hi)}"
        lo, hi = self.bounds()
        return "valid" if lo is None else f"in [{_num(lo)}, {_num(hi)}]"

    def check(self, value: object, flag: Callable[[str], str]) -> object:
        """Return ``value`` if it is allowed, else raise a one-line :class:`UsageError`.

        ``flag(name)`` spells the flag as the user typed it (:func:`segqtl.modes.flag_name`).
        Integers are checked against the 64-bit range too, and NaN is never in range.
        """
        if value is None:
            if self.nullable:
                return value
            raise self._bad(value, flag, "must be given")
        if self.type is bool or self.optional_value is not None:
            return value
        if self.choices is not None:
            if value not in self.choices:
                raise self._bad(value, flag, f"is not one of {', '.join(self.choices)}")
            return value
        if self.text_rule is not None and isinstance(value, str):
            problem = self.text_rule(value)
            if problem is not None:
                raise self._bad(value, flag, problem)
            return value
        if self.type in (int, float):
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise self._bad(value, flag, "must be a number")
            if isinstance(value, float) and math.isnan(value):
                raise self._bad(value, flag, f"must be {self.rule()}")
            lo, hi = self.bounds()
            below = lo is not None and (value <= lo if self.low_open else value < lo)
            above = hi is not None and (value >= hi if self.high_open else value > hi)
            if below or above:
                rule = self.rule()
                if self.type is int and (value > INT64_MAX or value < -INT64_MAX):
                    rule += f" (a 64-bit integer, at most {INT64_MAX})"
                raise self._bad(value, flag, f"must be {rule}")
        return value

    def _bad(self, value, flag: Callable[[str], str], problem: str) -> UsageError:
        fix = f" Fix: {self.fix}" if self.fix else ""
        return UsageError(f"{flag(self.name)} {problem} (got {value!r}).{fix}")


def _num(x: float) -> str:
    """A bound as people write it: ``1000000``, ``0.5``."""
    return str(int(x)) if float(x).is_integer() else f"{x:g}"


def convert_all_variants(value: object) -> bool | str:
    """The command lines' ``--all_variants [GENE]`` value as a RunSpec value.

    Not given: ``False``; given alone: ``True``; given with a gene: the gene ID.
    """
    if value is None or value is False:
        return False
    if value is True or value == "__all__":
        return True
    return str(value)


#: The parameters of every mode's model and execution, in RunSpec order.  (The modes' own
#: parameters follow them in RunSpec: see segqtl/modes/__init__.py for the order.)
WINDOW = Param(
    "window",
    int,
    1_000_000,
    "cis window (bp): variants within this distance of the phenotype's start/end.",
    low=0,
    high=10_000_000_000,  # beyond any chromosome; keeps start - window inside 64 bits
    fix="give a distance in base pairs such as 1000000",
)
MIN_SAMPLES = Param(
    "min_samples",
    int,
    30,
    "Fewest usable samples for a variant to be tested.",
    modes=("nominal", "perm"),
    low=1,
    fix="give a number of samples such as 30",
)
NORMALIZE = Param(
    "normalize",
    str,
    "none",
    "Transform each phenotype over its observed samples before the scan: none, or "
    "rank-inverse-normal (Blom).",
    choices=("none", "rank-inverse-normal"),
    fix="select none or rank-inverse-normal",
)


def _list_param(action: str, kind: str, ids: str) -> Param:
    """``--include-<kind>`` / ``--exclude-<kind>`` FILE (docs/inputs.md#exclusions-and-ranges)."""
    keep = "Analyse only the" if action == "include" else "Leave out the"
    return Param(
        f"{action}_{kind}",
        str,
        None,
        f"{keep} {kind} whose {ids} FILE lists (whitespace-separated; '#' starts a comment); "
        "recorded in run_exclusions.",
        nullable=True,
        metavar="FILE",
    )


#: Per-run selection of the cohort's rows (SNPTEST's -include/-exclude lists and -range;
#: segqtl/warehouse/derive.py): a run given any of these analyses the cohort with those rows
#: removed, and the view run_exclusions lists each one and why.
INCLUDE_SAMPLES = _list_param("include", "samples", "sample IDs")
EXCLUDE_SAMPLES = _list_param("exclude", "samples", "sample IDs")
INCLUDE_VARIANTS = _list_param("include", "variants", "variant IDs")
EXCLUDE_VARIANTS = _list_param("exclude", "variants", "variant IDs")
INCLUDE_PHENOTYPES = _list_param("include", "phenotypes", "gene IDs")
EXCLUDE_PHENOTYPES = _list_param("exclude", "phenotypes", "gene IDs")
RANGES = Param(
    "ranges",
    str,
    None,
    "Analyse only the variants in CHR:START-END (1-based, inclusive; CHR alone: the whole "
    "chromosome) and the phenotypes whose cis window overlaps it; repeatable.",
    nullable=True,
    metavar="CHR:START-END",
    cli_name="range",
    multiple=True,
)
MIN_SAMPLES_OBSERVED = Param(
    "min_samples_observed",
    int,
    0,
    "Leave untested each pair with fewer samples whose phenotype and genotype are both "
    "observed (0: no such rule); recorded in run_exclusions.",
    modes=("nominal", "perm", "finemap", "interaction", "conditional"),
    low=0,
    fix="give a number of samples such as 50, or 0",
)
PHENOTYPE_PCS = Param(
    "phenotype_pcs",
    int,
    0,
    "Add the first K principal components of the phenotypes (after --normalize) as "
    "covariates; stored in the table cohort_pcs.",
    low=0,
    high=1000,
    fix="give a number of components such as 10, or 0",
)
GENOTYPE_PCS = Param(
    "genotype_pcs",
    int,
    0,
    "Add the first K principal components of the genotypes (REF - ALT log ratios of every "
    "variant) as covariates; stored in the table cohort_pcs.",
    low=0,
    high=1000,
    fix="give a number of components such as 5, or 0",
)
#: The parameters that make a run analyse a derived cohort, in RunSpec order.
SELECTION_PARAMS = (
    INCLUDE_SAMPLES,
    EXCLUDE_SAMPLES,
    INCLUDE_VARIANTS,
    EXCLUDE_VARIANTS,
    INCLUDE_PHENOTYPES,
    EXCLUDE_PHENOTYPES,
    RANGES,
    MIN_SAMPLES_OBSERVED,
    PHENOTYPE_PCS,
    GENOTYPE_PCS,
)

#: The chromosome whose variants a negative-control run tests (segqtl/modes/nominal.py adds it to
#: the nominal and perm parameters; docs/methods.md#negative-control).
NEG_CONTROL_CHROMOSOME = Param(
    "neg_control_chromosome",
    str,
    None,
    "With --neg-control: take the trans variants from this chromosome instead of the next one "
    "in chr1..chr22, chrX (SegmentQTL's rule).",
    modes=("nominal", "perm"),
    nullable=True,
    metavar="CHR",
)
NUM_CORES = Param(
    "num_cores",
    int,
    1,
    "Worker processes.",
    low=1,
    high=4096,
    fix="give the number of worker processes, such as 2",
)
UNIT_SIZE = Param(
    "phenotypes_per_unit",
    int,
    None,
    "Phenotypes per work unit (default: the mode's; each unit is one commit).",
    low=1,
    high=1_000_000,
    nullable=True,
    metavar="N",
    fix="give a number of phenotypes such as 25",
    cli_name="unit-size",
)


def run_name_problem(name: str) -> str | None:
    """What keeps ``name`` from being a run's label, or None: commands take a run by id, by
    name, ``last`` or ``last-MODE``, so a name must not read as one of the others."""
    if not name.strip():
        return "is empty"
    if name.strip().isdigit():
        return "is a number, which commands read as a run id"
    low = name.strip().lower()
    if low == "last" or low.startswith("last-"):
        return "reads as the run reference 'last' or 'last-MODE'"
    if not name.isprintable():  # control characters, line and paragraph separators
        return "contains a control character (a line break or tab)"
    return None


NAME = Param(
    "name",
    str,
    None,
    "A label for the run (SNPTEST's analysis_name), shown by 'runs' and in exports.",
    nullable=True,
    metavar="TEXT",
    fix="give a label with a letter in it, on one line, such as 'scan1'",
    text_rule=run_name_problem,
)

#: Where the units are computed (segqtl/engine/executors.py).  None of these changes a number:
#: every executor runs the same worker on the same payloads and the parent commits the results
#: in unit order, so a run's tables are the same on the pool and on any Dask cluster.
EXECUTOR = Param(
    "executor",
    str,
    "pool",
    "Where the work units are computed: pool (worker processes on this machine) or dask "
    "(a Dask cluster: give --scheduler or --cluster; needs the dask extra).",
    choices=("pool", "dask"),
    fix="select pool or dask",
)
SCHEDULER = Param(
    "scheduler",
    str,
    None,
    "dask: address of a running 'dask scheduler' (such as tcp://10.0.0.5:8786) whose workers "
    "compute the units.",
    nullable=True,
    metavar="ADDRESS",
)
#: The batch systems a run can start its Dask cluster on (dask-jobqueue's cluster classes).
BATCH_CLUSTERS = ("slurm", "pbs", "lsf", "sge")

CLUSTER = Param(
    "cluster",
    str,
    None,
    "dask: start a cluster for the run: local (a Dask LocalCluster of --workers processes on "
    "this machine) or slurm, pbs, lsf, sge (batch jobs through dask-jobqueue, configured by "
    "its jobqueue.yaml and the --job-* flags).",
    choices=("local", *BATCH_CLUSTERS),
    nullable=True,
    fix="select local, slurm, pbs, lsf or sge",
)
WORKERS = Param(
    "workers",
    int,
    None,
    "dask: with --cluster local, single-threaded worker processes (default: --num-cores); "
    "with slurm, pbs, lsf or sge, jobs submitted for the run (default: 1).",
    low=1,
    high=4096,
    nullable=True,
    metavar="N",
    fix="give the number of worker processes (or batch jobs), such as 2",
)
# The batch jobs' settings (--cluster slurm|pbs|lsf|sge).  Each defaults to None: the value of
# dask-jobqueue's configuration (jobqueue.<cluster>.* in ~/.config/dask/jobqueue.yaml or
# $DASK_CONFIG), which dask-jobqueue reads by itself; a flag given overrides it.
JOB_CORES = Param(
    "job_cores",
    int,
    None,
    "dask batch jobs: cores per job, each running one single-threaded worker process "
    "(default: jobqueue.<cluster>.cores of the Dask config).",
    low=1,
    high=4096,
    nullable=True,
    metavar="N",
    fix="give the cores per job, such as 8",
)
JOB_MEMORY = Param(
    "job_memory",
    str,
    None,
    "dask batch jobs: memory per job, such as 16GB, shared equally by its worker processes "
    "(default: jobqueue.<cluster>.memory of the Dask config).",
    nullable=True,
    metavar="SIZE",
)
WALLTIME = Param(
    "walltime",
    str,
    None,
    "dask batch jobs: each job's time limit in the batch system's format, such as 02:00:00 "
    "(LSF: 02:00) (default: jobqueue.<cluster>.walltime of the Dask config).",
    nullable=True,
    metavar="TIME",
)
QUEUE = Param(
    "queue",
    str,
    None,
    "dask batch jobs: the queue (SLURM: partition) the jobs are submitted to "
    "(default: jobqueue.<cluster>.queue of the Dask config).",
    nullable=True,
    metavar="NAME",
)
ACCOUNT = Param(
    "account",
    str,
    None,
    "dask batch jobs: the account (LSF, SGE: project) the jobs are charged to "
    "(default: jobqueue.<cluster>.account, or .project for LSF and SGE, of the Dask config).",
    nullable=True,
    metavar="NAME",
)
JOB_EXTRA = Param(
    "job_extra",
    str,
    None,
    "dask batch jobs: more directives for each job's header, separated by ';', such as "
    "'--qos=high;--exclusive' (default: jobqueue.<cluster>.job-extra-directives of the Dask "
    "config, which the flag replaces).",
    nullable=True,
    metavar="DIRECTIVES",
)
ADAPT_MIN = Param(
    "adapt_min",
    int,
    None,
    "dask batch jobs: adapt the number of jobs to the work, keeping at least this many "
    "(needs --adapt-max; default 0).",
    low=0,
    high=4096,
    nullable=True,
    metavar="JOBS",
    fix="give a number of jobs such as 0",
)
ADAPT_MAX = Param(
    "adapt_max",
    int,
    None,
    "dask batch jobs: adapt the number of jobs to the work, running at most this many at "
    "once (instead of a fixed --workers).",
    low=1,
    high=4096,
    nullable=True,
    metavar="JOBS",
    fix="give a number of jobs such as 10",
)

#: One shard of a run, for workflow managers without a long-lived parent (SLURM arrays,
#: Snakemake, Nextflow): the run's planned units split into N contiguous blocks, of which the
#: run computes block K; 'segqtl merge' joins the N shard runs (sql/migrations/009_shards.sql).
SHARD = Param(
    "shard",
    str,
    None,
    "Compute only shard K of N of the run's work units (such as 2/10), in a warehouse of its "
    "own; 'segqtl merge' joins the N shards into one run (and computes its q-values).",
    nullable=True,
    metavar="K/N",
    dropin=False,
    fix="give K/N with 1 <= K <= N, such as 2/10",
)


def parse_shard(text: str, flag: Callable[[str], str]) -> tuple[int, int]:
    """``--shard``'s ``K/N`` as ``(K, N)``; a one-line :class:`UsageError` unless 1 <= K <= N."""
    match = re.fullmatch(r"\s*(\d{1,9})\s*/\s*(\d{1,9})\s*", str(text))
    if match is None:
        raise SHARD._bad(text, flag, "must be K/N, the shard K of N shards")
    k, n = int(match.group(1)), int(match.group(2))
    if not 1 <= k <= n:
        raise SHARD._bad(text, flag, "must have 1 <= K <= N")
    return k, n


SHARED_SCRATCH = Param(
    "shared_scratch",
    str,
    None,
    "dask: a folder every worker sees at the same path (such as a cluster file system's "
    "scratch): the run's genotype copies go there and workers read them in place, instead of "
    "each unit's genotype rows being sent with it.",
    nullable=True,
    metavar="DIR",
)
MAX_MEMORY = Param(
    "max_memory",
    str,
    "2GB",
    "Memory budget of the run's parent process, such as 2GB: DuckDB's buffers get a quarter "
    "of it (larger reads and sorts spill to disk), and the parent holds at most a few units' "
    "inputs and results.  The workers hold one unit each (see docs/large-cohorts.md).",
    metavar="SIZE",
)

_SIZE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([kmgt]?i?b?)\s*", re.IGNORECASE)


def parse_size(text: str, flag: Callable[[str], str], name: str = "max_memory") -> int:
    """Bytes of a size such as ``2GB``, ``512MB``, ``1.5GiB`` or ``3000000000``; a one-line
    error naming the flag otherwise."""
    match = _SIZE.fullmatch(str(text))
    if match is None or float(match.group(1)) <= 0:
        raise UsageError(
            f"{flag(name)} must be a size such as 2GB or 512MB (got {text!r}). "
            f"Fix: give {flag(name)} 2GB"
        )
    unit = match.group(2).lower()
    base = 1024 if unit.endswith("ib") else 1000
    power = "bkmgt".index(unit[0]) if unit and unit[0] != "b" else 0
    return int(float(match.group(1)) * base**power)


#: The parameters that configure a batch-system cluster's jobs, in RunSpec order.
JOB_PARAMS = (JOB_CORES, JOB_MEMORY, WALLTIME, QUEUE, ACCOUNT, JOB_EXTRA, ADAPT_MIN, ADAPT_MAX)


def check_execution(spec, flag: Callable[[str], str]) -> None:
    """Refuse executor parameters that do not fit together, with a one-line message.

    ``--executor dask`` needs exactly one of ``--scheduler`` and ``--cluster`` (and the dask
    extra installed); ``--scheduler``, ``--cluster``, ``--workers`` and the batch jobs' flags
    (:data:`JOB_PARAMS`) need ``--executor dask``; ``--workers`` sizes a cluster segqtl starts,
    so it is refused with ``--scheduler`` (that cluster's workers are started with
    ``dask worker``).  The job flags need a batch-system cluster (``--cluster slurm``, ...);
    adaptive jobs need ``--adapt-max``, at least ``--adapt-min`` and without ``--workers``;
    the job settings (flags over the Dask config) must name the cores and memory per job
    (:func:`segqtl.engine.executors.jobqueue_settings`), and the batch system's submit command
    must be on ``PATH``.
    """
    if spec.shard is not None:
        parse_shard(spec.shard, flag)  # K/N with 1 <= K <= N
    check_scratch_env()
    if parse_size(spec.max_memory, flag) < 256e6:
        raise UsageError(
            f"{flag('max_memory')} must be at least 256MB (got {spec.max_memory!r}). "
            f"Fix: give {flag('max_memory')} 2GB"
        )
    job_flags = [p.name for p in JOB_PARAMS if getattr(spec, p.name) is not None]
    given = [
        n
        for n in ("scheduler", "cluster", "workers", "shared_scratch")
        if getattr(spec, n, None) is not None
    ]
    if spec.executor != "dask":
        if given or job_flags:
            first = (given + job_flags)[0]
            raise UsageError(
                f"{flag(first)} is a dask option. Fix: add {flag('executor')} dask, or drop "
                f"{flag(first)}"
            )
        return
    if spec.scheduler is not None and spec.cluster is not None:
        raise UsageError(
            f"give {flag('scheduler')} or {flag('cluster')}, not both. Fix: drop one of them"
        )
    if spec.scheduler is None and spec.cluster is None:
        raise UsageError(
            f"{flag('executor')} dask needs a cluster. Fix: add {flag('scheduler')} ADDRESS "
            f"(a running 'dask scheduler') or {flag('cluster')} local"
        )
    if spec.scheduler is not None and spec.workers is not None:
        raise UsageError(
            f"{flag('workers')} sizes a cluster segqtl starts, not one at {flag('scheduler')}. "
            f"Fix: drop {flag('workers')} (start that cluster's workers with 'dask worker')"
        )
    if job_flags and spec.cluster not in BATCH_CLUSTERS:
        raise UsageError(
            f"{flag(job_flags[0])} configures batch jobs, which {flag('cluster')} slurm, pbs, "
            f"lsf or sge submit. Fix: add {flag('cluster')} slurm (or pbs, lsf, sge), or drop "
            f"{flag(job_flags[0])}"
        )
    if spec.adapt_min is not None and spec.adapt_max is None:
        raise UsageError(
            f"{flag('adapt_min')} needs {flag('adapt_max')}. Fix: add {flag('adapt_max')} "
            "JOBS (the most jobs at once)"
        )
    if spec.adapt_max is not None:
        if spec.adapt_min is not None and spec.adapt_min > spec.adapt_max:
            raise UsageError(
                f"{flag('adapt_min')} must be at most {flag('adapt_max')} (got "
                f"{spec.adapt_min} > {spec.adapt_max}). Fix: lower {flag('adapt_min')} or "
                f"raise {flag('adapt_max')}"
            )
        if spec.workers is not None:
            raise UsageError(
                f"give {flag('workers')} (a fixed number of jobs) or {flag('adapt_max')} "
                f"(adaptive), not both. Fix: drop one of them"
            )
    if spec.job_extra is not None and not job_extra_directives(spec.job_extra):
        raise UsageError(
            f"{flag('job_extra')} has no directive (got {spec.job_extra!r}). Fix: give "
            f"directives separated by ';', such as '--qos=high;--exclusive', or drop "
            f"{flag('job_extra')}"
        )
    if spec.shared_scratch is not None and not os.path.isdir(spec.shared_scratch):
        raise UsageError(
            f"{flag('shared_scratch')} {spec.shared_scratch} is not a folder. Fix: create it "
            "where every worker sees it at the same path, or drop the flag"
        )
    # Imported here: the registry is read by every command, and only dask runs need this.
    from ..engine.executors import check_submit_command, jobqueue_settings, require_dask

    require_dask()
    if spec.cluster in BATCH_CLUSTERS:
        jobqueue_settings(spec, flag)  # dask-jobqueue installed, cores and memory known
        check_submit_command(spec.cluster, flag)


def check_scratch_env() -> None:
    """Refuse, before a run is recorded, scratch folders named by the environment that a run
    cannot use: ``$SEGQTL_TMPDIR`` (the runs' scratch: an existing folder) and
    ``$SEGQTL_CACHE`` (the genotype copies: a folder, created if missing; ``off`` disables),
    and ``$SEGQTL_CACHE_MAX`` (the cache's size limit); also the lock settings
    ``$SEGQTL_LOCK_WAIT`` and ``$SEGQTL_LOCK_NOTICE`` (a run reads them only once it is
    recorded, so a bad value would otherwise leave it marked ``running``).
    """
    from pathlib import Path

    from ..warehouse.db import lock_notice, lock_wait

    lock_wait()
    lock_notice()

    limit = os.environ.get("SEGQTL_CACHE_MAX", "")
    if limit:
        from ..warehouse.reads import parse_cache_max

        try:
            parse_cache_max(limit)
        except ValueError:
            raise UsageError(
                f"SEGQTL_CACHE_MAX={limit} is not a size. Fix: give bytes with an optional unit "
                "(500M, 20G, 1.5T) or a share of the cache's disk (10%), or unset it"
            ) from None

    for name in ("SEGQTL_TMPDIR", "SEGQTL_CACHE"):
        raw = os.environ.get(name, "")
        if not raw or (name == "SEGQTL_CACHE" and raw.lower() in ("off", "0", "no", "false")):
            continue
        path = Path(raw)
        if name == "SEGQTL_TMPDIR" and not path.exists():
            raise UsageError(
                f"{name}={raw} does not exist. Fix: create the folder (mkdir -p {raw}), or "
                f"unset {name}"
            )
        existing = nearest_existing(path) or path
        if not existing.is_dir():
            what = "is a file" if existing == path else f"is under {existing}, a file"
            raise UsageError(
                f"{name}={raw} {what}, not a folder. Fix: set {name} to a folder, or unset it"
            )
        try:
            import tempfile

            tempfile.TemporaryFile(dir=existing).close()
        except OSError as exc:
            raise UsageError(
                f"{name}={raw}: cannot write in {existing} ({exc.strerror or exc}). Fix: set "
                f"{name} to a folder you can write, or unset it"
            ) from None


def job_extra_directives(text: str) -> list[str]:
    """``--job-extra``'s directives: the ``;``-separated parts, stripped, empty ones dropped.

    ``"--qos=high; --exclusive"`` gives ``["--qos=high", "--exclusive"]``.
    """
    return [part.strip() for part in text.split(";") if part.strip()]
