"""Errors that mean "the user asked for something wrong", printed by the CLI as one line."""

from __future__ import annotations

from collections.abc import Iterator


class LayoutbenchError(Exception):
    """Every error layoutbench raises on purpose (``except lb.LayoutbenchError``)."""


class UserError(LayoutbenchError):
    """A problem with the user's input; its message names the input and is printed as is."""


class InputNotFoundError(UserError, FileNotFoundError):
    """An input (file, object, results table, list) that does not exist: a
    :class:`FileNotFoundError`, as a notebook user would catch it."""


class BadValueError(UserError, ValueError):
    """A value the user gave that cannot be used (a pattern, a layout, an option): a
    :class:`ValueError`."""


def causes(exc: BaseException, depth: int = 8) -> Iterator[BaseException]:
    """``exc`` and what it was raised from or during (``__cause__``, else ``__context__``), up
    to ``depth`` of them: a library's error is often wrapped by another library's."""
    seen: BaseException | None = exc
    for _ in range(depth):
        if seen is None:
            return
        yield seen
        seen = seen.__cause__ or seen.__context__
