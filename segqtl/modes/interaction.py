"""interaction mode: does a sample-level term change the allelic effect d?
(docs/methods.md#interaction-model).

``--mode interaction --interaction FILE`` — or ``--mode nominal --interaction FILE``, which
runs as this mode (:meth:`~segqtl.modes.base.Mode.runs_as`) — fits
``y ~ 1 + covariates + i + s + d + d·i`` (``+ s·i`` with ``--interaction-s``) for every cis
pair and corrects each phenotype's best interaction p by eigenMT's effective number of tests.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

from ..errors import UsageError
from .base import ExportFile, HitRule, Mode
from .parameters import Param

INTERACTION = Param(
    "interaction",
    str,
    None,
    "interaction: a CSV 'sample,<term name>' (purity, a cell-type fraction, a 0/1 treatment); "
    "the model adds the term and d x term. Given to --mode nominal it runs this mode.",
    modes=("interaction",),
    nullable=True,
    metavar="FILE",
)
INTERACTION_S = Param(
    "interaction_s",
    bool,
    False,
    "interaction: also fit s x term.",
    modes=("interaction",),
)
PARAMS = (INTERACTION, INTERACTION_S)
STRICT = ("interaction",)


def term_checksum(spec) -> str:
    from ..ingest.readers import sha256_file

    return sha256_file(Path(spec.interaction))


@lru_cache(maxsize=4)
def _term(
    path: str, stamp: tuple, samples: tuple[str, ...], left_out: frozenset[str]
) -> tuple[str, tuple[float, ...]]:
    from ..ingest.terms import read_term

    name, values = read_term(path, list(samples), left_out)
    return name, tuple(values)


def cohort_term(con, spec) -> tuple[str, tuple[float, ...]]:
    """The term's name and its value per sample of the run's cohort (NaN = missing)."""
    samples = tuple(
        r[0]
        for r in con.execute(
            "SELECT sample_id FROM samples WHERE cohort = ? ORDER BY sample_idx", [spec.cohort]
        ).fetchall()
    )
    # a derived cohort (--exclude-samples, ...): the file's rows of its left-out samples are
    # skipped, so the same file serves the run with and without the selection
    from ..warehouse.derive import left_out_ids

    left_out = left_out_ids(con, spec.cohort, "sample")
    path = Path(spec.interaction)
    try:
        st = path.stat()
        stamp = (st.st_mtime_ns, st.st_size)
    except OSError:
        stamp = ()
    return _term(str(path), stamp, samples, left_out)


class InteractionMode(Mode):
    def check(self, spec, flag) -> None:
        if spec.interaction is None:
            raise UsageError(
                f"--mode interaction needs the term. Fix: give {flag('interaction')} FILE "
                "(a CSV with the columns sample,<term name>)"
            )

    def check_warehouse(self, con, spec, cohort: dict) -> None:
        cohort_term(con, spec)  # the file's errors before anything is recorded

    def provenance(self, con, spec) -> list[tuple[str, str]]:
        name, _ = cohort_term(con, spec)
        return [
            ("input:interaction", json.dumps(term_checksum(spec))),
            ("interaction:term", json.dumps(name)),
        ]

    def before_execute(self, con, run_id: int, spec) -> None:
        """Refuse to go on when the term file changed since the run started."""
        row = con.execute(
            "SELECT value FROM run_parameters WHERE run_id = ? AND key = 'input:interaction'",
            [run_id],
        ).fetchone()
        now = term_checksum(spec) if Path(spec.interaction).is_file() else None
        if row is not None and json.loads(row[0]) != now:
            raise UsageError(
                f"the interaction term file {spec.interaction} changed (or is gone) since run "
                f"{run_id} started. Fix: restore it, or start a new run"
            )

    def build_payload(self, con, spec, unit, info, covariates, files):
        from dataclasses import replace

        from ..engine.interaction import InteractionParams
        from ..warehouse.reads import nominal_payload

        payload = nominal_payload(con, spec, unit, info, covariates, files)
        _, term = cohort_term(con, spec)
        params = InteractionParams(spec.min_samples, bool(spec.interaction_s), term)
        return replace(payload, params=params)

    def finish(self, con, run_id: int, *, transaction: bool = True) -> None:
        """Benjamini–Hochberg over the run's gene-level p-values (sql/interaction_bh.sql) and
        the run's hits at 5 % into run_fdr (sql/interaction_run_fdr.sql)."""
        from ..warehouse import db

        with db.transaction(con, own=transaction):
            db.query(con, "interaction_bh", run_id=run_id)
            con.execute("DELETE FROM run_fdr WHERE run_id = ?", [run_id])
            db.query(con, "interaction_run_fdr", run_id=run_id, fdr=0.05)

    def export_files(self, con, run_id: int, spec) -> list[ExportFile]:
        from ..warehouse.db import load_sql

        pairs = load_sql("export_interaction").strip().rstrip(";")
        top = load_sql("export_interaction_top").strip().rstrip(";")
        out = []
        for c in spec.chromosomes:
            out.append(ExportFile(pairs, f"interaction_{c}.csv", c, True))
            out.append(ExportFile(top, f"interaction_top_{c}.csv", c, True))
        return out

    def by_variant(self, all_variants) -> bool:
        return False

    def hit_rule(self, side, fdr: float) -> HitRule:
        return HitRule("at_most", fdr, "qvalue_bh <= fdr")


MODE = InteractionMode(
    name="interaction",
    help="per-variant test of d x term (--interaction FILE), eigenMT gene-level p",
    params=PARAMS,
    unit_size=25,
    worker="segqtl.engine.interaction:compute_unit",
    preload=("segqtl.engine.interaction",),
    result_table="interaction_stats",
    tables=("interaction_stats", "interaction_top_stats"),
    migrations=("001_init.sql", "012_interaction.sql"),
    views=("interaction_results", "interaction_top"),
    tested_as="pairs tested",
    effect_column="beta_di",
    p_column="pval_emt",
    compare_source="compare_interaction",
    takes_over=("nominal", "interaction"),
    drops_redundant_covariates=True,
)
