"""Progress of a run on stderr: phenotypes, rate, time left; lines when not on a terminal."""

from __future__ import annotations

import io
import re

from segqtl import api
from segqtl.engine.progress import Progress
from segqtl.spec import RunSpec

LINE = re.compile(
    r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d segqtl: run 7: ([\d,]+) of ([\d,]+) phenotypes \(\d+%\)"
)


def test_progress__lines_count_phenotypes_with_rate_and_time_left():
    out = io.StringIO()
    p = Progress(7, 100, 20, every=0, stream=out, tty=False)
    p.update(30)
    p.update(50)
    p.close()  # the last update already showed 100 of 100: no repeat
    lines = out.getvalue().splitlines()
    assert [LINE.match(x).groups() for x in lines] == [("50", "100"), ("100", "100")]
    assert "phenotypes/s" in lines[0] and " left" in lines[0]
    assert " left" not in lines[1]


def test_progress__lines_are_spaced_by_the_interval():
    out = io.StringIO()
    p = Progress(7, 1000, every=3600, stream=out, tty=False)
    for _ in range(10):
        p.update(10)
    assert out.getvalue() == ""  # within the interval: nothing yet
    p.close()
    assert [LINE.match(x).groups() for x in out.getvalue().splitlines()] == [("100", "1,000")]


def test_run__progress_lines_in_a_log(small_db, capfd):
    spec = RunSpec(mode="nominal", cohort="small", chromosomes=["1", "2"], phenotypes_per_unit=5)
    api.run(small_db, spec, progress=True, progress_every=0)
    lines = [x for x in capfd.readouterr().err.splitlines() if "segqtl: run" in x]
    counts = [int(re.search(r"run \d+: (\d+) of 24 phenotypes", x).group(1)) for x in lines]
    assert counts == [5, 10, 12, 17, 22, 24]  # units of 5, 5, 2 phenotypes per chromosome
