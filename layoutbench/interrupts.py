"""Ctrl-C and SIGTERM stop a long command promptly and cleanly, whatever it is doing.

Python delivers a signal by raising ``KeyboardInterrupt`` wherever the main thread happens to
be. Inside h5py's object finalisers (weakref callbacks, ``__del__``) that exception is printed
and swallowed ("Exception ignored in ...") and the work runs on: a Ctrl-C during ``apply`` was
lost that way, and SIGTERM (what batch schedulers send) had no handler at all, so temporary
files stayed behind. :func:`install` handles both signals by raising :class:`Interrupted` (a
``KeyboardInterrupt``, so every ``finally`` and ``except BaseException`` cleanup runs) *and*
remembering it; :func:`checkpoint`, called at every block and case of long loops, raises it
again if it was swallowed. Work therefore stops within one block of the signal, cleanup runs,
and the command exits 130 (SIGINT) or 143 (SIGTERM).
"""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any

_requested: int | None = None


class Interrupted(KeyboardInterrupt):
    """A SIGINT or SIGTERM; ``signum`` says which (exit status ``128 + signum``)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def _handler(signum: int, frame: FrameType | None) -> None:
    global _requested
    _requested = signum
    raise Interrupted(signum)


def install() -> Callable[[], None]:
    """Handle SIGINT and SIGTERM as above (main thread only; elsewhere a no-op); returns a
    function that puts the previous handlers back."""
    global _requested
    _requested = None
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    previous = {sig: signal.signal(sig, _handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    hook = sys.unraisablehook

    def quiet(unraisable: Any) -> None:
        """An interrupt raised inside a finaliser is not lost (checkpoint() raises it again):
        do not print it as an ignored exception. Once the command is stopping, neither are
        the errors of what the stop cut short (a coroutine that lost its endpoint): the
        command says it was interrupted, in one line."""
        if not isinstance(unraisable.exc_value, Interrupted) and _requested is None \
                and not stopped:
            hook(unraisable)

    sys.unraisablehook = quiet
    stopped = False

    def restore() -> None:
        global _requested
        nonlocal stopped
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if _requested is None:
            sys.unraisablehook = hook
        else:  # interrupted: stay quiet while the process ends (the coroutines the stop cut
            stopped = True  # short are finalised at exit)
        _requested = None

    return restore


def requested() -> int | None:
    """The signal that arrived since :func:`install`, if any: an error raised while it was
    being delivered (e.g. a ``SystemError`` when it lands inside h5py's Cython lock) is that
    interrupt, not a failure of the work."""
    return _requested


def checkpoint() -> None:
    """Raise :class:`Interrupted` if a signal arrived (and its first raise was swallowed)."""
    if _requested is not None:
        raise Interrupted(_requested)
