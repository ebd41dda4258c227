"""The documentation runs: README.md and docs/*.md shell examples, and docs/cli.md is current.

A fenced block whose info string is ``bash test`` (or ``sh test``) is executed; the blocks of one
page run one after the other in one fresh folder, in bash with ``set -euo pipefail``, sharing
their shell variables (``RUN=$(segqtl run ...)`` in one block, ``$RUN`` in the next) and with
``SEGQTL_DB`` unset at the start.  A ``text output`` block right after a test block lists
lines its stdout must contain, in order (other lines may come between them): ``...`` matches
any text, and numbers match to a relative 1e-6.  Shell blocks that cannot run here (a SLURM
script, a cluster) say so with ``no-test``; the tutorial pages (README.md,
docs/your-own-data.md) have no such block.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
TUTORIALS = (ROOT / "README.md", ROOT / "docs" / "your-own-data.md")
SHELLS = ("bash", "sh", "shell", "console")

_FENCE = re.compile(r"^```([^\n`]*)\n(.*?)^```[ \t]*$", re.S | re.M)
_NUMBER = re.compile(r"[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?")
#: Shell variables that are bash's own, not a page's: not carried from block to block.
_BASH_OWN = re.compile(
    r"^(BASH.*|_|PIPESTATUS|FUNCNAME|GROUPS|[EP]?UID|PPID|SHELLOPTS|RANDOM|SRANDOM|LINENO|"
    r"SECONDS|HIST.*|OPT.*|IFS|PS[0-9]|COMP.*|DIRSTACK|EPOCH.*|SHLVL|PWD|OLDPWD|COLUMNS|LINES)$"
)


def blocks(page: Path) -> list[tuple[str, str, str | None, int]]:
    """``(language, flags, code, expected output or None, line)`` of a page's fenced blocks:
    each shell block, with the ``text output`` block that follows it, if any."""
    text = page.read_text()
    found = [
        (m.group(1).split(), m.group(2), text.count("\n", 0, m.start()) + 1, m.start(), m.end())
        for m in _FENCE.finditer(text)
    ]
    out = []
    for i, (info, code, line, _start, end) in enumerate(found):
        if not info or info[0] not in SHELLS:
            continue
        expected = None
        if i + 1 < len(found):
            nxt_info, nxt_code, _, nxt_start, _ = found[i + 1]
            if nxt_info[:2] == ["text", "output"] and not text[end:nxt_start].strip():
                expected = nxt_code
        out.append((info[0], " ".join(info[1:]), code, expected, line))
    return out


def _line_matches(expected: str, got: str) -> bool:
    """``got`` reads as ``expected``: ``...`` is any text, numbers agree to 1e-6 relative,
    runs of blanks are one blank."""
    pattern, numbers, pos = "", [], 0
    exp = " ".join(expected.split()) if "\t" not in expected else expected
    got = " ".join(got.split()) if "\t" not in expected else got
    for m in re.finditer(r"\.\.\.|" + _NUMBER.pattern, exp):
        pattern += re.escape(exp[pos : m.start()])
        if m.group() == "...":
            pattern += ".*?"
        else:
            pattern += "(" + _NUMBER.pattern + ")"
            numbers.append(m.group())
        pos = m.end()
    pattern += re.escape(exp[pos:])
    match = re.fullmatch(pattern, got)
    if match is None:
        return False
    for want, have in zip(numbers, match.groups(), strict=True):
        a, b = float(want), float(have)
        if want != have and abs(a - b) > 1e-6 * max(abs(a), abs(b)):
            return False
    return True


def check_output(expected: str, stdout: str) -> str | None:
    """None if every expected line is found in ``stdout``, in order; else the first missing."""
    lines = stdout.splitlines()
    at = 0
    for want in (w for w in expected.splitlines() if w.strip()):
        while at < len(lines) and not _line_matches(want, lines[at]):
            at += 1
        if at == len(lines):
            return want
        at += 1
    return None


def _env() -> dict:
    env = dict(os.environ)
    env.pop("SEGQTL_DB", None)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["COLUMNS"] = "200"
    return env


def run_page(page: Path, folder: Path) -> None:
    """Run a page's test blocks in ``folder``, checking each one's shown output."""
    state = folder / ".doc_state"
    for _lang, flags, code, expected, line in blocks(page):
        if "test" not in flags.split():
            continue
        script = (
            f"[ -f {state} ] && source {state}\n"
            "set -euo pipefail\n"
            f"{code}\n"
            "set +u\n"
            f"for v in $(compgen -v); do [[ $v =~ {_BASH_OWN.pattern} ]] || declare -p $v; "
            f"done > {state} 2>/dev/null\n"
        )
        proc = subprocess.run(
            ["bash", "-c", script],
            cwd=folder,
            env=_env(),
            capture_output=True,
            text=True,
            timeout=600,
        )
        where = f"{page.relative_to(ROOT)}, block at line {line}"
        assert proc.returncode == 0, f"{where} failed:\n{code}\nstderr:\n{proc.stderr}"
        if expected is not None:
            missing = check_output(expected, proc.stdout)
            assert missing is None, (
                f"{where}: expected output line not found: {missing!r}\nstdout:\n{proc.stdout}"
            )


# ------------------------------------------------------------------------------------- tests
def test_docs__cli_reference_is_current():
    from segqtl import _docs

    current = (ROOT / "docs" / "cli.md").read_text() if (ROOT / "docs" / "cli.md").is_file() else ""
    assert current == _docs.render(), (
        f"docs/cli.md is out of date. Fix: regenerate it with '{_docs.REGENERATE}'"
    )


def test_docs__every_shell_block_is_marked_and_tutorials_run_all_of_theirs():
    unmarked, untested = [], []
    for page in PAGES:
        for _lang, flags, _code, _exp, line in blocks(page):
            marks = flags.split()
            if "test" not in marks and "no-test" not in marks:
                unmarked.append(f"{page.name}:{line}")
            if page in TUTORIALS and "test" not in marks and "make" not in _code:
                untested.append(f"{page.name}:{line}")
    assert unmarked == [], "mark each shell block 'test' (it runs) or 'no-test'"
    assert untested == []


def test_docs__pages_link_only_to_files_that_exist():
    broken = []
    for page in PAGES:
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", page.read_text()):
            if "://" in target:
                continue
            if not (page.parent / target).exists():
                broken.append(f"{page.name} -> {target}")
    assert broken == []


def test_docs__examples_do_not_hard_code_run_ids():
    # a run is named in examples by $RUN, a name or last-MODE, never by a literal id
    literal = re.compile(
        r"segqtl (?:show|export|fdr|compare|report|plot)\b[^\n]*?(?:--run |show )\d"
    )
    offenders = [
        f"{page.name}:{code.splitlines()[0]}"
        for page in (*TUTORIALS, ROOT / "docs" / "results.md", ROOT / "docs" / "runs.md")
        for _l, flags, code, _e, _n in blocks(page)
        if literal.search(code)
    ]
    assert offenders == []


@pytest.mark.parametrize(
    "page", [p for p in PAGES if any("test" in b[1].split() for b in blocks(p))],
    ids=lambda p: p.name,
)  # fmt: skip
def test_docs__shell_examples_run_and_print_what_is_shown(page, tmp_path):
    run_page(page, tmp_path)


def test_check_output__order_wildcards_and_number_tolerance():
    out = "a 1\nrun 3 took 2.000000001 s\nb\nhits\t21\n"
    assert check_output("run ... took 2 s\nhits\t21", out) is None
    assert check_output("hits\t21\nrun ... took 2 s", out) == "run ... took 2 s"  # order
    assert check_output("hits\t22", out) == "hits\t22"
    assert check_output("run 3 took 2.1 s", out) == "run 3 took 2.1 s"
