"""Errors that are shown to users as one line, without a traceback."""

from __future__ import annotations


class SegqtlError(Exception):
    """Base class: the message is complete and user-facing."""

    exit_code = 1


class InputError(SegqtlError):
    """Bad input data: names the file, where in it, what is wrong and how to fix it.

    Parameters
    ----------
    path : str
        The offending file (or directory).
    problem : str
        What is wrong.
    fix : str
        What the user should do.
    line, column : int or str, optional
        1-based line number in the file and column name/number.
    """

    exit_code = 2

    def __init__(self, path, problem, fix, *, line=None, column=None):
        self.path = str(path)
        self.problem = problem
        self.fix = fix
        self.line = line
        self.column = column
        where = self.path
        if line is not None:
            where += f", line {line}"
        if column is not None:
            where += f", column {column!s}"
        super().__init__(f"{where}: {problem}. Fix: {fix}")


class UsageError(SegqtlError):
    """Invalid options or a request the warehouse cannot satisfy."""

    exit_code = 2
