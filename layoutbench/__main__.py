"""``python -m layoutbench`` is the ``layoutbench`` command."""

from layoutbench.cli import main

main(prog_name="layoutbench")
