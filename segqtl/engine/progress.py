"""A run's progress on stderr, counted in phenotypes, with the rate and the time left.

On a terminal a progress bar (tqdm); elsewhere (nohup, cluster logs, pipes) one timestamped line
every ``every`` seconds and a last one when the run ends, so a log shows how far a long run got.
"""

from __future__ import annotations

import sys
import time
from datetime import datetime


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}"


class Progress:
    """Phenotypes done out of a run's total.

    Parameters
    ----------
    run_id : int
        The run (named in every line).
    total : int
        Phenotypes of the whole run.
    done : int
        Phenotypes already done before this call (a resumed run); not counted in the rate.
    every : float
        Seconds between lines when ``stream`` is not a terminal (0: a line per update).
    stream : file, optional
        Where to write (default: stderr).
    tty : bool, optional
        Force the bar (True) or the lines (False); default: whether ``stream`` is a terminal.
    """

    def __init__(self, run_id, total, done=0, *, every=30.0, stream=None, tty=None):
        self.stream = sys.stderr if stream is None else stream
        self.run_id, self.total, self.done, self.every = run_id, total, done, every
        self.start_done = done
        self.start = self.last = time.monotonic()
        self.shown = None  # the count the last line showed
        isatty = getattr(self.stream, "isatty", lambda: False)
        self.bar = None
        if isatty() if tty is None else tty:
            from tqdm import tqdm

            self.bar = tqdm(
                total=total, initial=done, unit="phenotype", file=self.stream,
                desc=f"run {run_id}", dynamic_ncols=True,
            )  # fmt: skip

    def line(self) -> str:
        """The progress as one line (without the timestamp)."""
        elapsed = time.monotonic() - self.start
        new = self.done - self.start_done
        rate = new / elapsed if elapsed > 0 else 0.0
        share = 100.0 * self.done / self.total if self.total else 100.0
        text = f"run {self.run_id}: {self.done:,} of {self.total:,} phenotypes ({share:.0f}%)"
        if new > 0:
            text += f", {rate:.3g} phenotypes/s"
            if self.done < self.total and rate > 0:
                text += f", {_duration((self.total - self.done) / rate)} left"
        return text

    def _write(self) -> None:
        self.shown = self.done
        stamp = datetime.now().isoformat(sep=" ", timespec="seconds")
        print(f"{stamp} segqtl: {self.line()}", file=self.stream, flush=True)

    def update(self, n: int) -> None:
        """``n`` more phenotypes are done."""
        self.done += n
        if self.bar is not None:
            self.bar.update(n)
            return
        now = time.monotonic()
        if now - self.last >= self.every:
            self.last = now
            self._write()

    def close(self) -> None:
        """The run ended (or stopped): the bar closes, the lines get a last one."""
        if self.bar is not None:
            self.bar.close()
        elif self.shown != self.done:
            self._write()
