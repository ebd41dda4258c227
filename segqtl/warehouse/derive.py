"""Derived cohorts: a run's exclusions, ranges and principal components (issue 15).

A run given ``--include-/--exclude-samples|variants|phenotypes FILE``, ``--range``,
``--phenotype-pcs K`` or ``--genotype-pcs K`` analyses a *derived cohort*: the source cohort's
rows minus those left out, renumbered as if they had been removed from the input files, with
the principal components added as covariates.  Its results therefore equal those of a run on
inputs with those rows removed (and the PCs written into the covariates file), in every mode,
with the same seeds.  The derived cohort is content-addressed (its checksum covers the
source's checksum, the IDs of each list, the ranges, the window they were applied with and the
PC settings) and made once: later runs with the same selection reuse it, and its name
``<source>-x<10 hex digits>`` is what ``runs``, ``show`` and the views report.

Left-out rows are listed in ``cohort_exclusions`` (the view ``run_exclusions`` joins them to
each run that used the cohort), the PCs in ``cohort_pcs``.  Everything is written in one
transaction: a refused or interrupted derivation leaves the warehouse as it was.
(docs/inputs.md#exclusions-and-ranges, docs/methods.md#principal-components)
"""

from __future__ import annotations

import hashlib
import json
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from .. import __version__, modes
from ..errors import UsageError
from ..ingest.lists import IdList, Range, parse_ranges, quote_id, read_id_list
from .db import (
    bind_sql,
    fetch_one,
    genotype_table,
    load_sql,
    refresh_genotypes_view,
    sql_parameters,
    transaction,
)

#: (kind, parameter suffix, what the IDs are) of the ID lists.
KINDS = (("samples", "sample IDs"), ("variants", "variant IDs"), ("phenotypes", "gene IDs"))
#: Version of the derivation rules, part of every derived cohort's checksum.
DERIVATION_VERSION = 1
#: Genotype rows read at once while accumulating genotype PCs.
PC_BLOCK = 20_000


@dataclass
class Selection:
    """A run's selection parameters, read (lists) and parsed (ranges).

    Attributes
    ----------
    lists : dict
        ``(action, kind)`` -> :class:`~segqtl.ingest.lists.IdList` for the lists given.
    ranges : list of Range
        ``--range``, sorted.
    phenotype_pcs, genotype_pcs : int
        Components to add as covariates.
    """

    lists: dict = field(default_factory=dict)
    ranges: list[Range] = field(default_factory=list)
    phenotype_pcs: int = 0
    genotype_pcs: int = 0

    @property
    def empty(self) -> bool:
        """Whether the run analyses its cohort as ingested."""
        return not (self.lists or self.ranges or self.phenotype_pcs or self.genotype_pcs)


def selection_of(spec, flag: Callable[[str], str] = modes.flag_name) -> Selection:
    """The selection a spec asks for; one-line errors for unreadable lists or bad ranges."""
    sel = Selection(
        ranges=parse_ranges(getattr(spec, "ranges", None), flag("ranges")),
        phenotype_pcs=getattr(spec, "phenotype_pcs", 0) or 0,
        genotype_pcs=getattr(spec, "genotype_pcs", 0) or 0,
    )
    for kind, _ in KINDS:
        for action in ("include", "exclude"):
            path = getattr(spec, f"{action}_{kind}", None)
            if path is not None:
                sel.lists[(action, kind)] = read_id_list(path, flag(f"{action}_{kind}"))
    return sel


def check_selection(spec, flag: Callable[[str], str]) -> None:
    """The checks that need no warehouse: the lists can be read, the ranges parse and fit the
    run's chromosomes, and ``--min-samples-observed`` has cis windows to act on."""
    sel = selection_of(spec, flag)
    if sel.ranges:
        ranged = {r.chr for r in sel.ranges}
        outside = [r for r in sel.ranges if r.chr not in spec.chromosomes]
        if outside:
            raise UsageError(
                f"{flag('ranges')} {outside[0]} is not on the run's chromosomes "
                f"({', '.join(spec.chromosomes)}). Fix: add --chromosome {outside[0].chr}, or "
                f"drop that {flag('ranges')}"
            )
        bare = [c for c in spec.chromosomes if c not in ranged]
        if bare:
            raise UsageError(
                f"{flag('ranges')} leaves no variant on {bare[0]}: no range is on it. Fix: add "
                f"{flag('ranges')} {bare[0]}:START-END (or {flag('ranges')} {bare[0]} for all "
                f"of it), or drop {bare[0]} from --chromosome"
            )
    if sel.ranges and getattr(spec, "neg_control", False):
        raise UsageError(
            f"{flag('ranges')} keeps the variants of the run's chromosomes; a negative control "
            f"tests another chromosome's variants, which a range would leave out. Fix: drop "
            f"{flag('ranges')} or {flag('neg_control')}"
        )
    if getattr(spec, "min_samples_observed", 0) and getattr(spec, "neg_control", False):
        raise UsageError(
            f"{flag('min_samples_observed')} acts on cis pairs; a negative control tests trans "
            f"variants. Fix: drop {flag('min_samples_observed')} or {flag('neg_control')}"
        )


def selection_provenance(spec) -> list[tuple[str, str]]:
    """``(key, JSON)`` rows stored with the run: each list file's sha256
    (``input:exclude_samples``, ...)."""
    return [
        (f"input:{action}_{kind}", json.dumps(lst.sha256))
        for (action, kind), lst in sorted(selection_of(spec).lists.items())
    ]


def derived_cohort(
    con, spec, *, notify: Callable[[str], None] | None = None, skip_emptied: bool = False
):
    """``spec`` with its cohort replaced by the derived cohort its selection asks for (made now
    unless the warehouse has it), or ``spec`` itself when it selects nothing.  The source's
    name is recorded with the derived cohort (``cohorts.source_cohort``).

    A chromosome of the run that the selection leaves without phenotypes or variants is
    refused, unless ``skip_emptied`` (the chromosomes came from ``--chromosome all`` or a
    range): it is then left out of the run, with a message, as long as one remains.
    """
    sel = selection_of(spec)
    if sel.empty:
        return spec
    source = fetch_one(
        con,
        "SELECT checksum, n_samples, cohort_id FROM cohorts WHERE cohort = ?",
        [spec.cohort],
    )
    if source is None:
        raise UsageError(
            f"cohort {spec.cohort!r} is not in the warehouse. Fix: ingest it first "
            "with 'segqtl ingest' (see 'segqtl cohorts --db DB' for the names)"
        )
    derivation = _derivation(spec, sel, source[0])
    digest = hashlib.sha256(json.dumps(derivation, sort_keys=True).encode()).hexdigest()
    name = f"{spec.cohort}-x{digest[:10]}"
    existing = fetch_one(con, "SELECT checksum FROM cohorts WHERE cohort = ?", [name])
    if existing is not None and existing[0] != digest:
        raise UsageError(
            f"cohort {name!r} exists but is not this selection of {spec.cohort!r}. Fix: "
            "rename that cohort (ingest it under another name)"
        )
    _warn_unmatched(con, spec.cohort, sel)
    if existing is not None:
        # made by a run of other chromosomes: this run's must have rows left too
        chroms = _chromosomes_left(
            con, spec, lambda kind, chrom: _rows_on(con, kind, name, chrom), skip_emptied, notify
        )
        return replace(spec, cohort=name, chromosomes=chroms)
    if notify is not None:
        notify(f"making cohort {name}: {spec.cohort} with the run's selection")
    try:
        with transaction(con):
            chroms = _make(con, spec, sel, name, digest, derivation, source, skip_emptied, notify)
    finally:
        for table in _TEMP_TABLES:
            con.execute(f"DROP TABLE IF EXISTS temp.{table}")
    return replace(spec, cohort=name, chromosomes=chroms)


def _chromosomes_left(con, spec, count, skip_emptied: bool, notify) -> list[str]:
    """The run's chromosomes that keep phenotypes and variants under its selection.

    ``count(kind, chrom)`` is how many phenotypes or variants (``kind``) are kept on
    ``chrom``.  An emptied chromosome of the run is refused (:func:`_nothing_left`) unless
    ``skip_emptied``, when it is dropped with a message; the variant chromosome of a negative
    control is never dropped, and neither is the last chromosome.
    """
    dropped: dict[str, tuple[str, str]] = {}
    for kind, chrom, lists in _kept_checks(spec):
        if chrom in dropped or count(kind, chrom):
            continue
        if not (skip_emptied and chrom in spec.chromosomes):
            raise _nothing_left(con, spec, kind, chrom, lists)
        dropped[chrom] = (kind, lists)
    left = [c for c in spec.chromosomes if c not in dropped]
    if dropped and not left:
        chrom, (kind, lists) = next(iter(dropped.items()))
        raise _nothing_left(con, spec, kind, chrom, lists)
    if dropped and notify is not None:
        notify(
            f"skipping {', '.join(dropped)}: the run's selection leaves no "
            f"{' or '.join(sorted({k for k, _ in dropped.values()}))} there"
        )
    return left


def _kept_checks(spec) -> list[tuple[str, str, str]]:
    """(kind, chromosome, list flag's kind) of each chromosome the run needs rows of: its
    phenotypes' chromosomes and its variants' (a negative control's other chromosome)."""
    mode = modes.get(spec.mode)
    variant_chromosomes = dict.fromkeys(mode.variant_chromosome(spec, c) for c in spec.chromosomes)
    return [("phenotype", c, "phenotypes") for c in spec.chromosomes] + [
        ("variant", c, "variants") for c in variant_chromosomes
    ]


def _rows_on(con, kind: str, cohort: str, chrom: str) -> int:
    """How many phenotypes or variants (``kind``) ``cohort`` has on ``chrom``."""
    # table names from this code, never user text
    sql = f"SELECT count(*) FROM {kind}s WHERE cohort = ? AND chr = ?"
    return fetch_one(con, sql, [cohort, chrom])[0]


def _nothing_left(con, spec, kind: str, chrom: str, lists: str) -> UsageError:
    flag = modes.flag_name
    if not _rows_on(con, kind, spec.cohort, chrom):  # not the selection's doing
        return UsageError(
            f"cohort {spec.cohort!r} has no {kind}s on {chrom}. Fix: check --chromosome (the "
            "chromosomes the input files hold)"
        )
    return UsageError(
        f"the run's selection leaves no {kind} of cohort {spec.cohort!r} on {chrom}. Fix: "
        f"check {flag(f'include_{lists}')} / {flag(f'exclude_{lists}')} and {flag('ranges')}, "
        f"or leave {chrom} out of --chromosome ('all' is every chromosome of the cohort)"
    )


_TEMP_TABLES = (
    "derive_lists",
    "derive_ranges",
    "derive_sample_map",
    "derive_x_phenotypes",
    "derive_x_variants",
)


def _derivation(spec, sel: Selection, source_checksum: str) -> dict:
    """What makes a derived cohort, as stored (``cohorts.derivation``) and hashed: lists by
    their IDs' sha256 (the same IDs in another file give the same cohort)."""
    lists = {
        f"{action}_{kind}": hashlib.sha256("\n".join(sorted(lst.ids)).encode()).hexdigest()
        for (action, kind), lst in sorted(sel.lists.items())
    }
    out: dict = {
        "version": DERIVATION_VERSION,
        "source_checksum": source_checksum,
        "lists": lists,
        "ranges": [str(r) for r in sel.ranges],
    }
    if sel.ranges:
        out["window"] = spec.window  # decides which phenotypes a range keeps
    if sel.phenotype_pcs:
        out["phenotype_pcs"] = sel.phenotype_pcs
        out["normalize"] = spec.normalize
    if sel.genotype_pcs:
        out["genotype_pcs"] = sel.genotype_pcs
    return out


def _sql_statements(name: str, params: dict, **template) -> list[tuple[str, dict]]:
    """The statements of ``sql/<name>.sql`` (separated by ``-- next`` lines), each with the
    parameters it uses."""
    text = load_sql(name)
    for key, value in template.items():
        text = text.replace("{" + key + "}", str(value))
    out = []
    for part in text.split("\n-- next\n"):
        used = sql_parameters(part)
        out.append((part, {k: v for k, v in params.items() if k in used}))
    return out


def left_out_ids(con, cohort: str, kind: str) -> frozenset[str]:
    """The IDs of ``kind`` (sample, variant, phenotype) the derived ``cohort``'s selection left
    out of its source (none: ``cohort`` is not derived, or the schema predates selections)."""
    from .db import has_table

    if not has_table(con, "cohort_exclusions"):
        return frozenset()
    rows = con.execute(
        "SELECT id FROM cohort_exclusions WHERE cohort = ? AND kind = ?", [cohort, kind]
    ).fetchall()
    return frozenset(r[0] for r in rows)


def left_out_by_selection(con, cohort: str, kind: str, id_: str) -> str | None:
    """Why the derived ``cohort``'s selection left out ``id_`` (a ``kind``: sample, variant,
    phenotype), as a clause for a message; None if it did not (or ``cohort`` is not derived).
    """
    from .db import has_table

    if not has_table(con, "cohort_exclusions"):
        return None
    row = fetch_one(
        con,
        "SELECT c.source_cohort, x.reason, x.detail FROM cohort_exclusions AS x "
        "JOIN cohorts AS c USING (cohort) WHERE x.cohort = ? AND x.kind = ? AND x.id = ?",
        [cohort, kind, id_],
    )
    if row is None:
        return None
    source, reason, detail = row
    how = {
        "excluded": "listed in the exclude list",
        "not_included": "not in the include list",
        "outside_range": "outside every --range",
    }.get(reason, reason)
    return (
        f"the run's selection of cohort {source!r} left it out ({how}"
        + (f" {detail}" if detail else "")
        + ")"
    )


def _unmatched(con, cohort: str, sel: Selection) -> list[str]:
    """Warnings for list IDs that are not in the source cohort."""
    column = {"samples": "sample_id", "variants": "variant_id", "phenotypes": "gene_id"}
    table = {"samples": "samples", "variants": "variants", "phenotypes": "phenotypes"}
    texts = []
    for (action, kind), lst in sorted(sel.lists.items()):
        known = {
            r[0]
            for r in con.execute(
                f"SELECT {column[kind]} FROM {table[kind]} WHERE cohort = ? AND "
                f"list_contains(?, {column[kind]})",
                [cohort, list(lst.ids)],
            ).fetchall()
        }
        missing = [i for i in lst.ids if i not in known]
        flag = modes.flag_name(f"{action}_{kind}")  # as the user's command line spells it
        if not known:  # a list matching nothing is the wrong file, not a list to ignore
            raise UsageError(
                f"{flag} {lst.path}: none of its {len(lst.ids)} IDs are {kind} of "
                f"cohort {cohort!r} (first: {quote_id(lst.ids[0])}). Fix: list "
                f"{dict(KINDS)[kind]} as the input files write them"
            )
        if missing:
            texts.append(
                f"{flag} {lst.path}: {len(missing)} of {len(lst.ids)} IDs are not "
                f"{kind} of cohort {cohort!r} (first: {quote_id(missing[0])}); they are ignored"
            )
    return texts


def _warn_unmatched(con, cohort: str, sel: Selection) -> None:
    for text in _unmatched(con, cohort, sel):
        warnings.warn(text, stacklevel=3)


def _detail(sel: Selection, action: str, kind: str) -> str | None:
    lst = sel.lists.get((action, kind))
    return None if lst is None else Path(lst.path).name


def _make(
    con, spec, sel: Selection, name, digest, derivation, source, skip_emptied=False, notify=None
) -> list[str]:
    """Write the derived cohort ``name`` (inside the caller's transaction); returns the run's
    chromosomes that keep rows (:func:`_chromosomes_left`)."""
    checksum, n_source, source_id = source
    flag = modes.flag_name
    con.execute("CREATE TEMP TABLE derive_lists (kind VARCHAR, action VARCHAR, id VARCHAR)")
    for (action, kind), lst in sel.lists.items():
        # one statement per list (executemany takes ~0.25 ms a row: minutes for 10^6 variants)
        con.execute(
            "INSERT INTO derive_lists SELECT ?, ?, unnest(?::VARCHAR[])",
            [kind, action, list(lst.ids)],
        )
    con.execute('CREATE TEMP TABLE derive_ranges (chr VARCHAR, start BIGINT, "end" BIGINT)')
    if sel.ranges:
        con.executemany(
            "INSERT INTO derive_ranges VALUES (?, ?, ?)",
            [[r.chr, r.start, r.end] for r in sel.ranges],
        )
    range_detail = " ".join(str(r) for r in sel.ranges) or None

    # samples: in Python (a few hundred), then a map old -> new index
    samples = con.execute(
        "SELECT sample_idx, sample_id FROM samples WHERE cohort = ? ORDER BY sample_idx",
        [spec.cohort],
    ).fetchall()
    include = sel.lists.get(("include", "samples"))
    exclude = sel.lists.get(("exclude", "samples"))
    excluded = set(exclude.ids) if exclude is not None else set()
    included = set(include.ids) if include is not None else None
    dropped = []
    kept = []
    for idx, sid in samples:
        if sid in excluded:
            dropped.append(["sample", sid, "excluded", _detail(sel, "exclude", "samples")])
        elif included is not None and sid not in included:
            dropped.append(["sample", sid, "not_included", _detail(sel, "include", "samples")])
        else:
            kept.append(idx)
    if len(kept) < 3:
        raise UsageError(
            f"the sample lists leave {len(kept)} of cohort {spec.cohort!r}'s {n_source} samples; "
            f"a run needs at least 3. Fix: check {flag('include_samples')} / "
            f"{flag('exclude_samples')} (IDs as in the quantification file's header)"
        )
    con.execute("CREATE TEMP TABLE derive_sample_map (old_idx INTEGER, new_idx INTEGER)")
    con.executemany(
        "INSERT INTO derive_sample_map VALUES (?, ?)", [[o, i] for i, o in enumerate(kept)]
    )
    keep = [i + 1 for i in kept]

    def left_out(kind: str) -> None:
        text, used = bind_sql(
            f"derive_{kind[:-1]}_exclusions",
            source=spec.cohort,
            window=spec.window,
            has_include=("include", kind) in sel.lists,
            has_ranges=bool(sel.ranges),
            exclude_detail=_detail(sel, "exclude", kind),
            include_detail=_detail(sel, "include", kind),
            range_detail=range_detail,
        )
        con.execute(f"CREATE TEMP TABLE derive_x_{kind} AS {text.strip().rstrip(';')}", used)

    left_out("phenotypes")
    left_out("variants")

    def n_kept(kind: str, chrom: str) -> int:
        # table names from this code, never user text
        return fetch_one(
            con,
            f"SELECT count(*) FROM {kind}s AS t WHERE t.cohort = ? AND t.chr = ? AND NOT "
            f"EXISTS (SELECT 1 FROM derive_x_{kind}s AS x WHERE x.chr = t.chr AND "
            f"x.{kind}_idx = t.{kind}_idx)",
            [spec.cohort, chrom],
        )[0]

    chroms = _chromosomes_left(con, spec, n_kept, skip_emptied, notify)

    cohort_id = fetch_one(con, "SELECT nextval('cohort_id_seq')")[0]
    m = len(kept)
    con.execute(
        f"CREATE TABLE {genotype_table(cohort_id)} (chr VARCHAR NOT NULL, variant_idx INTEGER "
        f"NOT NULL, variant_id VARCHAR NOT NULL, pos BIGINT NOT NULL, altlr DOUBLE[{m}] NOT "
        f"NULL, reflr DOUBLE[{m}] NOT NULL)"
    )
    params = {"source": spec.cohort, "target": name, "keep": keep}
    statements = _sql_statements("derive_tables", params)
    statements += _sql_statements(
        "derive_genotypes",
        params,
        source_table=genotype_table(source_id),
        target_table=genotype_table(cohort_id),
        n=m,
    )
    for text, used in statements:
        con.execute(text, used)
    con.execute(
        "INSERT INTO cohorts (cohort, cohort_id, n_samples, checksum, has_copynumber, "
        "has_phenotype_covariate, segqtl_version, created_at, source_cohort, derivation) "
        "SELECT ?, ?, ?, ?, has_copynumber, has_phenotype_covariate, ?, current_timestamp, "
        "cohort, ? FROM cohorts WHERE cohort = ?",
        [name, cohort_id, m, digest, __version__, json.dumps(derivation), spec.cohort],
    )
    # what was left out: this selection's rows, after those of the source (if derived itself)
    con.execute(
        "INSERT INTO cohort_exclusions SELECT ?, kind, id, reason, detail FROM "
        "cohort_exclusions WHERE cohort = ? ORDER BY rowid",
        [name, spec.cohort],
    )
    if dropped:
        con.executemany(
            "INSERT INTO cohort_exclusions VALUES (?, ?, ?, ?, ?)", [[name, *d] for d in dropped]
        )
    for kind in ("variants", "phenotypes"):
        con.execute(
            f"INSERT INTO cohort_exclusions SELECT ?, '{kind[:-1]}', id, reason, detail "
            f"FROM derive_x_{kind} ORDER BY chr, {kind[:-1]}_idx",
            [name],
        )
    if sel.phenotype_pcs or sel.genotype_pcs:
        _add_pcs(con, spec, sel, name, cohort_id, m)
    refresh_genotypes_view(con)
    return chroms


def _add_pcs(con, spec, sel: Selection, name: str, cohort_id: int, n: int) -> None:
    """Compute the PCs of the derived cohort ``name`` and add them to its covariates."""
    flag = modes.flag_name
    names = {
        r[0] for r in con.execute("SELECT name FROM covariates WHERE cohort = ?", [name]).fetchall()
    }
    # a fit of y ~ 1 + s + d + covariates + PCs needs more samples than terms (a residual degree
    # of freedom); the kernels would report every pair too_few_samples
    terms = len(names) + sel.phenotype_pcs + sel.genotype_pcs + 3
    if terms >= n:
        given = [f"{flag(p)} {getattr(sel, p)}" for p in ("phenotype_pcs", "genotype_pcs")]
        raise UsageError(
            f"{' and '.join(g for g in given if not g.endswith(' 0'))}: a model of the intercept, "
            f"s, d, the cohort's {len(names)} covariates and the PCs has {terms} terms and needs "
            f"more samples than that; the selection keeps {n}. Fix: ask for fewer components"
        )
    next_idx = fetch_one(
        con, "SELECT coalesce(max(cov_idx) + 1, 0) FROM covariates WHERE cohort = ?", [name]
    )[0]
    # one BLAS thread: the components must not depend on the machine's core count (shards on
    # other nodes make the same derived cohort, whose checksum does not cover the values)
    from threadpoolctl import threadpool_limits

    try:
        with threadpool_limits(1):
            components = _pc_components(con, spec, sel, name, cohort_id, n)
    except ValueError as exc:  # too many components for the data
        param = "phenotype_pcs" if "phenotype" in str(exc) else "genotype_pcs"
        raise UsageError(f"{flag(param)}: {exc}. Fix: ask for fewer components") from None
    for kind, _param, scores, ratio in components:
        for k in range(scores.shape[0]):
            covariate = f"{kind}_PC{k + 1}"
            if covariate in names:
                raise UsageError(
                    f"cohort {spec.cohort!r} already has a covariate named {covariate}. Fix: "
                    f"rename it in the covariates file, or drop {flag(_param)}"
                )
            values = [float(v) for v in scores[k]]
            con.execute(
                "INSERT INTO covariates VALUES (?, ?, ?, ?)", [name, next_idx, covariate, values]
            )
            con.execute(
                "INSERT INTO cohort_pcs VALUES (?, ?, ?, ?, ?, ?)",
                [name, kind, k + 1, covariate, float(ratio[k]), values],
            )
            next_idx += 1


def _pc_components(con, spec, sel: Selection, name: str, cohort_id: int, n: int) -> list:
    """(kind, parameter, scores (K, n), explained ratio (K,)) of the PCs ``sel`` asks for."""
    import numpy as np

    from ..kernels.normalize import normalize_rows
    from ..kernels.pcs import GramAccumulator, gram_pcs, phenotype_pcs

    components = []
    if sel.phenotype_pcs:
        rows = con.execute(
            'SELECT "values" FROM phenotypes WHERE cohort = ? ORDER BY chr, phenotype_idx',
            [name],
        ).fetchall()
        y = np.array([[np.nan if v is None else v for v in r[0]] for r in rows], dtype=float)
        y = normalize_rows(y.reshape(len(rows), n), spec.normalize)
        scores, ratio = phenotype_pcs(y, sel.phenotype_pcs)
        components.append(("phenotype", "phenotype_pcs", scores, ratio))
    if sel.genotype_pcs:
        acc = GramAccumulator(n)
        reader = con.sql(
            f"SELECT altlr, reflr FROM {genotype_table(cohort_id)} ORDER BY chr, variant_idx"
        ).to_arrow_reader(PC_BLOCK)
        for batch in reader:
            alt = batch.column(0).flatten().to_numpy(zero_copy_only=False).reshape(-1, n)
            ref = batch.column(1).flatten().to_numpy(zero_copy_only=False).reshape(-1, n)
            acc.add(ref - alt)
        scores, ratio = gram_pcs(acc, sel.genotype_pcs)
        components.append(("genotype", "genotype_pcs", scores, ratio))
    return components


__all__ = [
    "IdList",
    "Selection",
    "check_selection",
    "derived_cohort",
    "selection_of",
    "selection_provenance",
]
