"""Control files (R/qtl2 style) and file conventions: describe a cohort's inputs in one file.

``segqtl ingest --control cohort.yaml`` (or ``.json``, or a ``.zip`` bundle holding one
control file and the files it names, :mod:`.bundle`) names the inputs relative to the control
file's folder, with global or per-file conventions (:mod:`.conventions`)::

    description: discovery cohort, batch 2
    sep: "\\t"                         # global; detected from each header line when absent
    na.strings: [NA, "-"]
    comment.char: "#"
    genotypes: genotypes/             # a folder with chr<C>_ALTlr.csv / chr<C>_REFlr.csv ...
    # genotypes: {1: {altlr: g/a1.csv, reflr: g/r1.csv}, 2: {...}}   # ... or per chromosome
    quantifications: quant.tsv
    covariates: {file: covariates.csv, sep: ",", na.strings: ["."]}   # per-file conventions
    segmentation: segments.csv
    quantifications_transposed: true  # stored samples-by-rows

Only the keys of :data:`KEYS` are accepted (a typo is an error naming the key).  Every file is
made canonical by :func:`.conventions.prepare` (a canonical file is read as it is), loaded by
:func:`.load.ingest_cohort`, and the control file's text with the conventions applied goes
into ``cohort_control`` in the ingest's own transaction; ``cohort_files`` holds every file's
sha256 of its bytes as given, and the cohort checksum is over those (a converted copy of a
cohort is a different cohort by provenance, with identical results).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
import warnings
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from ..chromosomes import normalize_chromosome
from ..errors import InputError
from ..warehouse.db import bind_sql, fetch_one
from . import readers
from .conventions import Conventions, Prepared, Source, parse_sep, prepare
from .load import CohortInputs, IngestResult, ingest_cohort

#: The file roles a control file names (``genotypes`` is a folder or per-chromosome files).
FILE_ROLES = (
    "genotypes",
    "quantifications",
    "covariates",
    "copynumber",
    "segmentation",
    "phenotype_covariate",
)
REQUIRED = ("genotypes", "quantifications", "segmentation")
CONVENTION_KEYS = ("sep", "na.strings", "comment.char")
TRANSPOSED = tuple(
    f"{r}_transposed" for r in ("genotypes", "quantifications", "covariates", "copynumber")
)
#: Every key a control file may hold (issue 15).
KEYS = (*FILE_ROLES, *CONVENTION_KEYS, *TRANSPOSED, "description")
#: Keys of a per-file entry (``{file: ..., sep: ...}``) and of a per-chromosome genotype entry.
FILE_ENTRY_KEYS = ("file", *CONVENTION_KEYS)
GENOTYPE_FOLDER_KEYS = ("folder", *CONVENTION_KEYS)
CHROMOSOME_KEYS = ("altlr", "reflr")
CONTROL_SUFFIXES = (".yaml", ".yml", ".json")
_GENOTYPE_FILE = re.compile(r"(.+)_(ALT|REF)lr\.csv(\.gz|\.zst)?", re.IGNORECASE)


# --------------------------------------------------------------------------------- the file
@dataclass
class ControlFile:
    """A parsed control file: where it is, its text and format, and its mapping."""

    source: Source
    format: str
    text: bytes
    data: dict
    lines: dict = field(default_factory=dict)  # top-level key -> 1-based line

    @property
    def name(self) -> str:
        return self.source.name

    def line(self, key: str) -> int | None:
        return self.lines.get(key)

    def error(self, key: str | None, problem: str, fix: str) -> InputError:
        line = self.line(key.split(".")[0] if key and key not in self.lines else key)
        return InputError(self.name, problem, fix, line=line)

    def resolve(self, where: str, rel) -> Source:
        """The file ``rel`` names, relative to the control file's folder."""
        if not isinstance(rel, str) or not rel.strip():
            raise self.error(
                where.split(".")[0],
                f"{where} must be a file path (text), not {rel!r}",
                "give the path relative to the control file's folder",
            )
        if self.source.path is not None:
            path = Path(rel)
            return Source(path=path if path.is_absolute() else self.source.path.parent / path)
        member = PurePosixPath(self.source.member).parent / rel
        parts: list[str] = []
        for part in member.parts:
            if part == "..":
                if not parts:
                    raise self.error(
                        where.split(".")[0],
                        f"{where} {rel!r} points outside the bundle",
                        "name files inside the zip, relative to the control file",
                    )
                parts.pop()
            elif part not in (".", ""):
                parts.append(part)
        if PurePosixPath(rel).is_absolute():
            raise self.error(
                where.split(".")[0],
                f"{where} {rel!r} is an absolute path inside a bundle",
                "name files relative to the control file inside the zip",
            )
        return Source(zip_path=self.source.zip_path, member="/".join(parts))


class _UniqueKeyLoader:
    """Builds a yaml SafeLoader that refuses duplicate keys (a second value must not pass
    silently, like a typo)."""

    @staticmethod
    def make():
        import yaml

        class Loader(yaml.SafeLoader):
            pass

        def mapping(loader, node, deep=False):
            seen = {}
            for key_node, _ in node.value:
                key = loader.construct_object(key_node, deep=deep)
                if key in seen:
                    raise yaml.constructor.ConstructorError(
                        None,
                        None,
                        f"duplicate key {key!r}",
                        key_node.start_mark,
                    )
                seen[key] = True
            return yaml.SafeLoader.construct_mapping(loader, node, deep)

        Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, mapping)
        return Loader


def parse_control(source: Source) -> ControlFile:
    """Read and parse a control file (``.yaml``/``.yml``/``.json``); errors name its line."""
    from .conventions import read_text

    suffix = PurePosixPath(source.filename).suffix.lower()
    if suffix not in CONTROL_SUFFIXES:
        raise InputError(
            source.name,
            "not a control file (.yaml, .yml or .json) or bundle (.zip)",
            "pass --control cohort.yaml, cohort.json or cohort.zip",
        )
    if source.path is not None and not source.path.is_file():
        raise InputError(source.name, "control file not found", "pass an existing control file")
    try:
        raw = read_text(source)
    except OSError as exc:
        raise InputError(
            source.name,
            f"the control file cannot be read ({exc.strerror or exc})",
            "check that it is a readable file (permissions, disk)",
        ) from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InputError(source.name, "not UTF-8 text", "save the control file as UTF-8") from None
    fmt = "json" if suffix == ".json" else "yaml"
    if fmt == "json":
        data = _parse_json(source, text)
    else:
        data = _parse_yaml(source, text)
    if not isinstance(data, dict):
        raise InputError(
            source.name,
            f"the control file holds a {type(data).__name__}, not a mapping of keys",
            "write one 'key: value' per line (keys: " + ", ".join(KEYS) + ")",
        )
    control = ControlFile(source, fmt, raw, data, _key_lines(text, fmt))
    check_control(control)
    return control


def _too_deep(source: Source) -> InputError:
    return InputError(
        source.name,
        "nested too deeply to be a control file",
        "write the control file as the key: value mapping of docs/inputs.md",
    )


def _parse_json(source: Source, text: str):
    def pairs(items):
        out = {}
        for k, v in items:
            if k in out:
                raise InputError(
                    source.name,
                    f"duplicate key {k!r}",
                    "give each key once",
                    line=_key_lines(text, "json").get(k),
                )
            out[k] = v
        return out

    try:
        return json.loads(text, object_pairs_hook=pairs)
    except RecursionError:
        raise _too_deep(source) from None
    except json.JSONDecodeError as exc:
        raise InputError(
            source.name,
            f"not valid JSON ({exc.msg})",
            "fix the JSON syntax (quotes around keys and text, commas between items)",
            line=exc.lineno,
            column=exc.colno,
        ) from None


def _parse_yaml(source: Source, text: str):
    import yaml

    try:
        return yaml.load(text, Loader=_UniqueKeyLoader.make())  # noqa: S506  (a SafeLoader)
    except RecursionError:
        raise _too_deep(source) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = (exc.problem or exc.context or "invalid YAML").strip()
        raise InputError(
            source.name,
            f"not valid YAML ({problem})",
            "give each key once and fix the YAML syntax ('key: value', lists as [a, b])",
            line=mark.line + 1 if mark else None,
        ) from None
    except yaml.YAMLError as exc:
        raise InputError(
            source.name, f"not valid YAML ({str(exc).splitlines()[0]})", "fix the YAML syntax"
        ) from None


def _key_lines(text: str, fmt: str) -> dict[str, int]:
    """1-based line of each top-level key (for messages)."""
    lines = {}
    if fmt == "yaml":
        pattern = re.compile(r"""^(['"]?)([^\s:'"#][^:'"]*)\1\s*:""")
    else:
        pattern = re.compile(r"""^\s*"([^"]+)"\s*:""")
    for i, line in enumerate(text.splitlines(), start=1):
        m = pattern.match(line)
        if m:
            key = m.group(2) if fmt == "yaml" else m.group(1)
            lines.setdefault(key.strip(), i)
    return lines


def check_control(control: ControlFile) -> None:
    """Refuse unknown keys and malformed values (one line naming the key)."""
    data = control.data
    for key in data:
        if key not in KEYS:
            close = _close_match(str(key), KEYS)
            raise control.error(
                str(key),
                f"unknown key {key!r}" + (f" (did you mean {close!r}?)" if close else ""),
                "use only the keys " + ", ".join(KEYS),
            )
    for key in REQUIRED:
        if data.get(key) in (None, ""):
            raise InputError(
                control.name,
                f"no {key!r} key",
                f"add '{key}:' naming the {key} "
                + ("folder or per-chromosome files" if key == "genotypes" else "file"),
            )
    for key in TRANSPOSED:
        if key in data and not isinstance(data[key], bool):
            raise control.error(
                key, f"{key} must be true or false, not {data[key]!r}", f"write '{key}: true'"
            )
    if "description" in data and not isinstance(data["description"], str | int | float):
        raise control.error(
            "description", "description must be text", "write 'description: <text>'"
        )
    _conventions(control, data, "")  # global conventions


def _close_match(key: str, options) -> str | None:
    import difflib

    found = difflib.get_close_matches(key, options, n=1, cutoff=0.75)
    return found[0] if found else None


def _conventions(
    control: ControlFile, entry: dict, where: str, base: Conventions | None = None
) -> Conventions:
    """The conventions of ``entry`` (global when ``where`` is empty) over ``base``."""
    base = base or Conventions()
    sep, na, comment = base.sep, base.na_strings, base.comment_char
    key_of = (lambda k: f"{where}.{k}") if where else (lambda k: k)
    if "sep" in entry:
        try:
            sep = parse_sep(entry["sep"], key_of("sep"))
        except ValueError as exc:
            raise control.error(
                key_of("sep"), str(exc), 'write e.g. sep: "," or sep: "\\t"'
            ) from None
    if "na.strings" in entry:
        value = entry["na.strings"]
        value = [value] if isinstance(value, str) else value
        if not isinstance(value, list) or not all(isinstance(v, str | int | float) for v in value):
            raise control.error(
                key_of("na.strings"),
                f"{key_of('na.strings')} must be a list of spellings, not {entry['na.strings']!r}",
                'write e.g. na.strings: [NA, "-"]',
            )
        na = tuple(str(v) for v in value)
    if "comment.char" in entry:
        value = entry["comment.char"]
        if not isinstance(value, str) or len(value) > 1:
            raise control.error(
                key_of("comment.char"),
                f'{key_of("comment.char")} must be one character (or "" for none), not {value!r}',
                'write e.g. comment.char: "#"',
            )
        comment = value
    return Conventions(sep, na, comment, base.transposed)


# ----------------------------------------------------------------------------------- planning
@dataclass(frozen=True)
class Job:
    """One file to prepare: its role (as in ``cohort_files``), source and conventions."""

    role: str
    source: Source
    conventions: Conventions


@dataclass
class Plan:
    """The files of a cohort and how to read them; ``genotypes``: chromosome -> (ALT, REF) jobs."""

    files: list[Job]
    genotypes: dict[str, tuple[Job, Job]]
    genotype_folder: Source | None  # a folder on disk given as such (used as-is if canonical)
    name: str  # the control file / bundle, for messages about the cohort as a whole

    def jobs(self) -> list[Job]:
        return [*self.files, *(j for pair in self.genotypes.values() for j in pair)]


def plan_control(control: ControlFile) -> Plan:
    """The files a control file names, each with its conventions."""
    data = control.data
    glob = _conventions(control, data, "")
    files = []
    for role in FILE_ROLES[1:]:
        if data.get(role) is None:
            continue
        source, conv = _file_entry(control, role, data[role], glob)
        conv = _transposed(conv, data.get(f"{role}_transposed", False))
        files.append(Job(role, source, conv))
    gconv = _transposed(glob, data.get("genotypes_transposed", False))
    genotypes, folder = _genotype_jobs(control, data["genotypes"], gconv)
    return Plan(files, genotypes, folder, control.name)


def _transposed(conv: Conventions, flag: bool) -> Conventions:
    return Conventions(conv.sep, conv.na_strings, conv.comment_char, bool(flag))


def _file_entry(control: ControlFile, where: str, entry, base: Conventions):
    if isinstance(entry, dict):
        for key in entry:
            if key not in FILE_ENTRY_KEYS:
                raise control.error(
                    where,
                    f"unknown key {key!r} in {where}",
                    f"use only {', '.join(FILE_ENTRY_KEYS)} in a per-file entry",
                )
        if "file" not in entry:
            raise control.error(
                where, f"{where} has no 'file' key", f"write {where}: {{file: <path>, sep: ...}}"
            )
        source = _existing(control, f"{where}.file", entry["file"])
        return source, _conventions(control, entry, where, base)
    return _existing(control, where, entry), base


def _existing(control: ControlFile, where: str, rel) -> Source:
    """The file ``rel`` names; a missing one is an error naming the control file's key."""
    source = control.resolve(where, rel)
    if not source.exists():
        raise control.error(
            where.split(".")[0],
            f"{where}: file {rel!r} not found ({source.name})",
            "give the path relative to the control file's folder"
            + (" inside the zip" if source.path is None else ""),
        )
    return source


def _genotype_jobs(control: ControlFile, entry, conv: Conventions):
    """Per-chromosome ALT/REF jobs from a folder, ``{folder: ...}`` or ``{chr: {altlr, reflr}}``."""
    if isinstance(entry, dict) and "folder" in entry:
        for key in entry:
            if key not in GENOTYPE_FOLDER_KEYS:
                raise control.error(
                    "genotypes",
                    f"unknown key {key!r} in genotypes",
                    f"use only {', '.join(GENOTYPE_FOLDER_KEYS)} with a genotype folder",
                )
        conv = _conventions(control, entry, "genotypes", conv)
        entry = entry["folder"]
    if isinstance(entry, str):
        folder = control.resolve("genotypes", entry)
        if folder.path is not None and not folder.path.is_dir():
            raise control.error(
                "genotypes",
                f"genotypes: folder {entry!r} not found ({folder.name})",
                "give the folder with chr<C>_ALTlr.csv / chr<C>_REFlr.csv relative to the "
                "control file's folder",
            )
        pairs = _folder_pairs(control, folder)
        return {
            c: (Job(f"genotypes_alt:{c}", a, conv), Job(f"genotypes_ref:{c}", r, conv))
            for c, (a, r) in pairs.items()
        }, folder if folder.path is not None else None
    if not isinstance(entry, dict) or not entry:
        raise control.error(
            "genotypes",
            f"genotypes must be a folder or per-chromosome files, not {entry!r}",
            "write genotypes: <folder> or genotypes: {1: {altlr: <file>, reflr: <file>}, ...}",
        )
    out = {}
    for chrom, files in entry.items():
        where = f"genotypes.{chrom}"
        if not isinstance(files, dict):
            raise control.error(
                "genotypes",
                f"{where} must map altlr and reflr to files, not {files!r}",
                f"write {chrom}: {{altlr: <file>, reflr: <file>}}",
            )
        for key in files:
            if key not in CHROMOSOME_KEYS:
                raise control.error(
                    "genotypes",
                    f"unknown key {key!r} in {where}",
                    "give each chromosome exactly 'altlr' and 'reflr'",
                )
        for key in CHROMOSOME_KEYS:
            if key not in files:
                raise control.error(
                    "genotypes", f"{where} has no {key!r}", f"add {key}: <file> to {where}"
                )
        name = normalize_chromosome(str(chrom))
        if name in out:
            raise control.error(
                "genotypes",
                f"chromosome {name} is given twice in genotypes",
                "give each chromosome once",
            )
        alt, alt_conv = _file_entry(control, f"{where}.altlr", files["altlr"], conv)
        ref, ref_conv = _file_entry(control, f"{where}.reflr", files["reflr"], conv)
        if alt.recorded_path == ref.recorded_path:
            raise control.error(
                "genotypes",
                f"{where}.altlr and {where}.reflr name the same file ({alt.name})",
                f"give chromosome {name}'s ALTlr file as altlr and its REFlr file as reflr",
            )
        out[name] = (
            Job(f"genotypes_alt:{name}", alt, _transposed(alt_conv, conv.transposed)),
            Job(f"genotypes_ref:{name}", ref, _transposed(ref_conv, conv.transposed)),
        )
    return dict(sorted(out.items())), None


def _folder_pairs(control: ControlFile, folder: Source) -> dict[str, tuple[Source, Source]]:
    """chromosome -> (ALT, REF) sources in a genotype folder (on disk or in a bundle)."""
    if folder.path is not None:
        pairs = readers.genotype_files(folder.path)
        return {c: (Source(path=a), Source(path=r)) for c, (a, r) in pairs.items()}
    prefix = folder.member.rstrip("/")
    prefix = f"{prefix}/" if prefix else ""
    with zipfile.ZipFile(folder.zip_path) as zf:
        names = [n for n in zf.namelist() if n.startswith(prefix) and not n.endswith("/")]
    found: dict[str, dict[str, str]] = {}
    for name in sorted(names):
        rest = name[len(prefix) :]
        m = _GENOTYPE_FILE.fullmatch(rest)
        if "/" in rest or not m:
            continue
        kind = m.group(2).upper()
        pair = found.setdefault(normalize_chromosome(m.group(1)), {})
        if kind in pair:
            raise InputError(
                f"{folder.zip_path}:{name}",
                f"a second {kind}lr file for {normalize_chromosome(m.group(1))}",
                "keep one file per chromosome and kind (plain, .gz or .zst)",
            )
        pair[kind] = name
    if not found:
        raise InputError(
            folder.name,
            "no chr<C>_ALTlr.csv / chr<C>_REFlr.csv files in the bundle's genotype folder",
            "put one ALTlr and one REFlr file per chromosome in that folder of the zip",
        )
    out = {}
    for chrom, pair in sorted(found.items()):
        for kind in ("ALT", "REF"):
            if kind not in pair:
                other = pair["REF" if kind == "ALT" else "ALT"]
                raise InputError(
                    f"{folder.zip_path}:{other}",
                    f"no {kind}lr partner for this file",
                    f"add the {kind}lr file for {chrom} to the bundle",
                )
        out[chrom] = (
            Source(zip_path=folder.zip_path, member=pair["ALT"]),
            Source(zip_path=folder.zip_path, member=pair["REF"]),
        )
    return out


def plan_paths(inputs: CohortInputs, conv: Conventions) -> Plan:
    """The plan for input files given as paths (``segqtl ingest --sep ...``), one convention."""
    files = [
        Job(role, Source(path=Path(getattr(inputs, role))), conv)
        for role in FILE_ROLES[1:]
        if getattr(inputs, role) is not None
    ]
    pairs = readers.genotype_files(inputs.genotypes)
    genotypes = {
        c: (
            Job(f"genotypes_alt:{c}", Source(path=a), conv),
            Job(f"genotypes_ref:{c}", Source(path=r), conv),
        )
        for c, (a, r) in pairs.items()
    }
    return Plan(files, genotypes, Source(path=Path(inputs.genotypes)), str(inputs.genotypes))


# --------------------------------------------------------------------------------- preparing
@dataclass
class PreparedCohort:
    """Canonical inputs for :func:`.load.ingest_cohort`, with the checksums of the originals."""

    inputs: CohortInputs
    checksums: tuple[list[tuple[str, str, int, str]], str] | None  # None: hashed by the load
    prepared: dict[str, Prepared]  # role -> prepared file
    genotype_dir: Path
    genotype_name: str  # the genotype folder as given (messages)
    links: dict[str, str] = field(default_factory=dict)  # link in genotype_dir -> file given

    def explain(self, err: InputError) -> InputError:
        """A reader's error naming the file as given (not its canonical copy)."""
        for p in self.prepared.values():
            if p.converted and str(err.path) == str(p.path):
                return p.explain(err)
        if str(err.path) in self.links:  # a canonical genotype file, linked under its name
            return InputError(
                self.links[str(err.path)], err.problem, err.fix, line=err.line, column=err.column
            )
        if str(err.path).startswith(str(self.genotype_dir)):
            return InputError(
                self.genotype_name, err.problem, err.fix, line=err.line, column=err.column
            )
        return err

    def conventions(self) -> dict:
        return {
            role: {**p.conventions.as_dict(), "converted": p.converted}
            for role, p in self.prepared.items()
        }

    def headers(self) -> list[tuple[str, int, str, str]]:
        return [(role, *h) for role, p in self.prepared.items() for h in p.headers]


def prepare_plan(plan: Plan, workdir: Path, *, copy: bool = False) -> PreparedCohort:
    """Prepare every file of ``plan`` in ``workdir`` (``copy``: bundle members, always copied)."""
    prepared: dict[str, Prepared] = {}
    paths = {}
    for job in plan.files:
        p = prepare(
            job.source,
            job.role,
            job.conventions,
            workdir / "files",
            copy=copy,
            out_name=f"{job.role}.csv",  # unique: two roles may share a file name
        )
        prepared[job.role] = p
        paths[job.role] = p.path
    gdir = workdir / "genotypes"
    gdir.mkdir(parents=True, exist_ok=True)
    any_converted = False
    links: dict[str, str] = {}
    for chrom, jobs in plan.genotypes.items():
        for job, kind in zip(jobs, ("ALT", "REF"), strict=True):
            p = prepare(
                job.source,
                job.role,
                job.conventions,
                gdir,
                copy=copy,
                out_name=f"{chrom}_{kind}lr.csv",
            )
            prepared[job.role] = p
            any_converted |= p.converted
    if (
        plan.genotype_folder is not None
        and plan.genotype_folder.path is not None
        and not (any_converted)
    ):
        genotype_dir = plan.genotype_folder.path  # canonical files: read the folder as is
    else:
        genotype_dir = gdir
        for chrom, jobs in plan.genotypes.items():
            for job, kind in zip(jobs, ("ALT", "REF"), strict=True):
                p = prepared[job.role]
                if not p.converted:  # a canonical file named otherwise: link it in
                    link = gdir / _genotype_name(chrom, kind, job.source)
                    _link(p.path, link)
                    links[str(link)] = p.source.name
    inputs = CohortInputs(genotypes=genotype_dir, **paths)
    if genotype_dir != gdir and not any(p.converted for p in prepared.values()):
        # the files as given, read in place: the load hashes them while reading (one pass)
        checksums = None
    else:
        rows = []
        for role, p in prepared.items():
            digest = p.sha256 or readers.sha256_file(p.source.path)
            rows.append((role, p.source.recorded_path, p.source.size(), digest))
        checksums = (rows, cohort_checksum(rows))
    return PreparedCohort(inputs, checksums, prepared, genotype_dir, plan_name(plan), links)


def plan_name(plan: Plan) -> str:
    return plan.genotype_folder.name if plan.genotype_folder is not None else plan.name


def _genotype_name(chrom: str, kind: str, source: Source) -> str:
    """``chr<C>_ALTlr.csv`` (plus the source's compression suffix: a copy stays compressed)."""
    suffix = "".join(s for s in (".gz", ".zst") if source.filename.lower().endswith(s))
    return f"{chrom}_{kind}lr.csv{suffix}"


def _link(target: Path, link: Path) -> None:
    try:
        os.symlink(Path(target).resolve(), link)
    except OSError:  # no symlinks here (some file systems): copy
        import shutil

        shutil.copyfile(target, link)


def cohort_checksum(rows: list[tuple[str, str, int, str]]) -> str:
    """The cohort checksum of per-file rows: the formula of :func:`.load.checksum_files`
    (sha256 over the sorted ``role<TAB>sha256`` lines; paths and sizes do not count)."""
    text = "\n".join(f"{r}\t{s}" for r, _, _, s in sorted(rows))
    return hashlib.sha256(text.encode()).hexdigest()


# ---------------------------------------------------------------------------------- ingesting
@contextmanager
def workdir() -> Iterator[Path]:
    """A temporary folder for canonical copies (``$TMPDIR``; removed afterwards)."""
    with tempfile.TemporaryDirectory(prefix="segqtl-ingest-") as tmp:
        yield Path(tmp)


def open_control(path: Path) -> ControlFile:
    """The control file ``path`` names: the file itself, or the one inside a ``.zip`` bundle."""
    path = Path(path)
    if path.suffix.lower() == ".zip":
        from .bundle import control_in_bundle

        return parse_control(control_in_bundle(path))
    return parse_control(Source(path=path))


def ingest_prepared(
    con,
    cohort: str,
    prepared: PreparedCohort,
    *,
    source: str,
    fmt: str,
    text: bytes,
    replace: bool = False,
) -> IngestResult:
    """Load ``prepared`` and record the control file / conventions in the same transaction."""

    def record(con) -> None:
        checksum = fetch_one(con, "SELECT checksum FROM cohorts WHERE cohort = ?", [cohort])[0]
        headers = prepared.headers()
        sql, params = bind_sql(
            "cohort_control_record",
            cohort=cohort,
            source=source,
            format=fmt,
            control_text=text.decode("utf-8", "replace"),
            control_sha256=hashlib.sha256(text).hexdigest(),
            checksum=checksum,
            conventions=json.dumps(prepared.conventions(), sort_keys=True),
            roles=[h[0] for h in headers],
            lines=[h[1] for h in headers],
            keys=[h[2] for h in headers],
            header_values=[h[3] for h in headers],
        )
        for statement in _statements(sql):
            used = {k: v for k, v in params.items() if f"${k}" in statement}
            con.execute(statement, used)

    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            result = ingest_cohort(
                con,
                cohort,
                prepared.inputs,
                replace=replace,
                checksums=prepared.checksums,
                extra_writes=record,
            )
    except InputError as err:
        raise prepared.explain(err) from None
    for w in caught:  # name the files as given, not their canonical copies
        message = str(w.message)
        for p in prepared.prepared.values():
            if p.converted:
                message = message.replace(str(p.path), p.source.name)
        warnings.warn(message, w.category, stacklevel=2)
    return result


def _statements(sql: str) -> list[str]:
    """The statements of a multi-statement sql/ file (no ';' inside its comments or strings)."""
    body = "\n".join(line for line in sql.splitlines() if not line.lstrip().startswith("--"))
    return [s.strip() for s in body.split(";") if s.strip()]


def prepare_control(control: ControlFile, work: Path) -> PreparedCohort:
    """Prepare the files a parsed control file names (bundle members are always copied)."""
    in_bundle = control.source.path is None
    return prepare_plan(plan_control(control), work, copy=in_bundle)
