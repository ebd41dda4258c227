"""Bundles: one zip holding a control file and the files it names (R/qtl2's zipped cohorts).

Reading (``segqtl ingest --control cohort.zip``): the zip must hold exactly one control file
(``*.yaml``, ``*.yml`` or ``*.json``, at any depth; the files are named relative to its
folder inside the zip).  Members are read straight from the zip (:mod:`zipfile` streams them,
decompressing as they go); because the readers take paths, each member is written once as a
canonical file into a temporary folder (converted on the way when its conventions ask for it)
and removed after the ingest.  Nothing of the zip is ever extracted as it is stored.
Checksums are of each member's bytes, so a bundle and the loose files it holds give the same
cohort checksum.

Writing (``segqtl bundle``): the cohort's tables are written back as SegmentQTL CSVs with a
``cohort.yaml`` naming them.  Numbers are written in their shortest form that reads back to
the same double (polars), covariates that are whole numbers without a decimal point ('1',
'69', as R's write.csv does), chromosome names as stored ('chr1'), segments sorted by sample,
chromosome and start.  The cohort checksum is over the files' bytes
(:func:`.load.checksum_files`), so:

* the bundle's files are a function of the stored cohort: bundle -> ingest -> bundle gives
  byte-identical files, and every ingest of them the same checksum;
* the first ingest's checksum (of the files as the user wrote them) comes back when those
  files were written that way; the golden cohort's are (all 8 files byte-identical, tested),
  a file with '8' for 'chr8', '1.50' for '1.5' or unsorted segments is not, and its bundle is
  a new cohort by provenance with the same values and results.
"""

from __future__ import annotations

import math
import tempfile
import zipfile
from pathlib import Path, PurePosixPath

import polars as pl

from ..errors import InputError, UsageError
from ..warehouse.db import fetch_one, query_pl
from .conventions import Source

CONTROL_SUFFIXES = (".yaml", ".yml", ".json")
#: Variants written per block of a genotype file (bounds the writer's memory).
WRITE_BLOCK = 20_000


def control_in_bundle(path: Path) -> Source:
    """The one control file inside the zip ``path`` (errors name the zip and the fix)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "bundle not found", "pass an existing .zip bundle")
    try:
        with zipfile.ZipFile(path) as zf:
            names = zf.namelist()
            bad = zf.testzip() if path.stat().st_size < (64 << 20) else None
    except zipfile.BadZipFile:
        raise InputError(
            path, "not a zip file", "pass a bundle made by 'segqtl bundle' or 'zip -r'"
        ) from None
    except OSError as exc:
        raise InputError(
            path,
            f"the bundle cannot be read ({exc.strerror or exc})",
            "check that it is a readable file (permissions, disk)",
        ) from None
    if bad is not None:
        raise InputError(
            f"{path}:{bad}", "corrupt member (CRC check failed)", "re-create the bundle"
        )
    controls = [
        n
        for n in names
        if PurePosixPath(n).suffix.lower() in CONTROL_SUFFIXES
        and not n.startswith("__MACOSX/")
        and not PurePosixPath(n).name.startswith("._")
    ]
    if len(controls) != 1:
        found = ", ".join(controls[:5]) if controls else "none"
        raise InputError(
            path,
            f"a bundle must hold exactly one control file (.yaml, .yml or .json); found {found}",
            "put one control file in the zip, next to (or above) the files it names",
        )
    return Source(zip_path=path, member=controls[0])


# ------------------------------------------------------------------------------------- writing
def write_bundle(con, cohort: str, out: Path) -> dict:
    """Write ``cohort`` of the warehouse as a bundle ``out`` (a zip; replaced if it exists).

    Returns ``{"files": [member names], "checksum": the cohort's checksum}``.
    """
    row = fetch_one(
        con,
        "SELECT cohort_id, checksum, has_copynumber, has_phenotype_covariate FROM cohorts "
        "WHERE cohort = ?",
        [cohort],
    )
    if row is None:
        raise UsageError(
            f"no cohort {cohort!r} in the warehouse. Fix: pick one of 'segqtl cohorts'"
        )
    cohort_id, checksum, has_cn, has_pcov = row
    out = Path(out)
    with tempfile.TemporaryDirectory(prefix="segqtl-bundle-") as tmp:
        folder = Path(tmp)
        samples = query_pl(con, "bundle_samples", cohort=cohort)["sample_id"].to_list()
        files = {"quantifications": "quantifications.csv", "segmentation": "segmentation.csv"}
        _write_matrix(
            query_pl(con, "bundle_phenotypes", cohort=cohort),
            ["chr", "start", "end", "gene_id"],
            samples,
            folder / files["quantifications"],
        )
        covariates = query_pl(con, "bundle_covariates", cohort=cohort)
        if covariates.height:
            files["covariates"] = "covariates.csv"
            _write_covariates(covariates, samples, folder / files["covariates"])
        for role, has in (("copynumber", has_cn), ("phenotype_covariate", has_pcov)):
            if has:
                files[role] = f"{role}.csv"
                _write_matrix(
                    query_pl(con, f"bundle_{role}", cohort=cohort),
                    ["gene_id"],
                    samples,
                    folder / files[role],
                )
        query_pl(con, "bundle_segments", cohort=cohort).write_csv(folder / files["segmentation"])
        (folder / "genotypes").mkdir()
        chromosomes = query_pl(con, "bundle_chromosomes", cohort=cohort)
        for chrom, n in chromosomes.iter_rows():
            _write_genotypes(con, cohort, chrom, n, samples, folder / "genotypes")
        control = _control_text(cohort, checksum, files)
        (folder / "cohort.yaml").write_text(control)
        members = _zip(folder, out)
    return {"files": members, "checksum": checksum}


def _control_text(cohort: str, checksum: str, files: dict[str, str]) -> str:
    import yaml

    from .. import __version__

    data = {
        "description": (
            f"segqtl bundle of cohort {cohort} (checksum {checksum}, segqtl {__version__})"
        ),
        "genotypes": "genotypes",
        **files,
    }
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)


def _write_matrix(frame: pl.DataFrame, ids: list[str], samples: list[str], path: Path) -> None:
    """``ids`` columns then one column per sample from the ``values`` list column."""
    wide = frame.select(*ids, pl.col("values").list.to_struct(fields=samples)).unnest("values")
    wide.write_csv(path)


def _write_covariates(frame: pl.DataFrame, samples: list[str], path: Path) -> None:
    """SegmentQTL's covariates layout: the sample IDs, then ``name,values`` per covariate.

    Whole numbers are written without a decimal point ('1', '69'), as R's write.csv and most
    covariate files do (they are often 0/1 indicators); others in their shortest exact form.
    """
    lines = [",".join(_csv_field(s) for s in samples)]
    for name, values in frame.select("name", "values").iter_rows():
        lines.append(",".join([_csv_field(name), *(_covariate_text(v) for v in values)]))
    path.write_text("\n".join(lines) + "\n")


def _covariate_text(v: float | None) -> str:
    if v is None:
        return ""
    if v.is_integer() and abs(v) < 2**53 and not (v == 0 and math.copysign(1.0, v) < 0):
        return str(int(v))
    return repr(v)


def _csv_field(text: str) -> str:
    if any(c in text for c in ',"\n\r'):
        return '"' + text.replace('"', '""') + '"'
    return text


def _write_genotypes(con, cohort: str, chrom: str, n: int, samples: list[str], folder) -> None:
    """``chr<C>_ALTlr.csv`` and ``chr<C>_REFlr.csv``, written in blocks of variants."""
    paths = {k: folder / f"{chrom}_{k.upper()}lr.csv" for k in ("alt", "ref")}
    handles = {k: open(p, "wb") for k, p in paths.items()}  # noqa: SIM115
    try:
        for start in range(0, n, WRITE_BLOCK):
            block = query_pl(
                con,
                "bundle_genotypes",
                cohort=cohort,
                chr=chrom,
                start=start,
                stop=start + WRITE_BLOCK,
            )
            for kind in ("altlr", "reflr"):
                wide = block.select(
                    pl.col("variant_id").alias("ID"),
                    pl.col(kind).list.to_struct(fields=samples),
                ).unnest(kind)
                handles[kind[:3]].write(wide.write_csv(include_header=start == 0).encode())
    finally:
        for fh in handles.values():
            fh.close()


def _zip(folder: Path, out: Path) -> list[str]:
    """Zip ``folder``'s files into ``out`` (written next to it first, then moved in place)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    part = out.with_name(out.name + ".part")
    members = []
    with zipfile.ZipFile(part, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            name = path.relative_to(folder).as_posix()
            zf.write(path, name)
            members.append(name)
    part.replace(out)
    return members
