"""Errors that mean "the user asked for something wrong", printed by the CLI as one line."""

from __future__ import annotations

from collections.abc import Iterator


class UserError(Exception):
    """A problem with the user's input; its message names the input and is printed as is."""


def causes(exc: BaseException, depth: int = 8) -> Iterator[BaseException]:
    """``exc`` and what it was raised from or during (``__cause__``, else ``__context__``), up
    to ``depth`` of them: a library's error is often wrapped by another library's."""
    seen: BaseException | None = exc
    for _ in range(depth):
        if seen is None:
            return
        yield seen
        seen = seen.__cause__ or seen.__context__
