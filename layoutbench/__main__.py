"""``python -m layoutbench`` and the ``layoutbench`` command.

A Ctrl-C or SIGTERM can arrive while the interpreter is still importing the command line
(a fraction of a second, longer on a loaded machine), before the command installs its handler
(:mod:`layoutbench.interrupts`): Python would print a traceback of the import. Nothing has been
written yet, so until then a signal ends the process at once, with one line and the status a
shell expects (128 + the signal's number).
"""

from __future__ import annotations

import os
import signal
import sys
from types import FrameType


def _starting(signum: int, frame: FrameType | None) -> None:
    sys.stderr.write(f"layoutbench: interrupted ({signal.Signals(signum).name}) while starting\n")
    sys.stderr.flush()
    os._exit(128 + signum)  # nothing to clean up: no command has run


def run() -> None:
    """The command line's entry point (``[project.scripts]``)."""
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, _starting)
    from layoutbench.cli import main  # the commands and their imports: after the handler

    main(prog_name="layoutbench")


if __name__ == "__main__":
    run()
