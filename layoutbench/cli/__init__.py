"""``layoutbench`` command line (DESIGN.md §6): one click group, its commands by subject.

:mod:`.app` holds the group, global options and shared options; :mod:`.data` the commands about
inputs (generate, layouts, patterns), :mod:`.bench` those that measure (sweep, serve, demo),
:mod:`.advise` those that decide and act (recommend, calibrate, apply), :mod:`.refs` the
reference sets, :mod:`.report` the HTML report. Importing this package registers them all on
:func:`main`.
"""

# importing the command modules registers their commands on ``main``
from layoutbench.cli import advise, bench, data, refs, report  # noqa: F401
from layoutbench.cli.app import main

__all__ = ["main"]
