"""The README quotes outputs, it does not retype them: a fenced block announced by
``<!-- output: PATH -->`` holds lines of that committed file, verbatim (an excerpt may skip
lines, never change one). ``make report`` and ``python -m benchmarks.readme_examples`` write
the files quoted."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
QUOTE = re.compile(r"<!-- output: (?P<path>\S+) -->\s*\n```[^\n]*\n(?P<body>.*?)\n```", re.S)


def quotes(text: str) -> list[tuple[str, list[str]]]:
    """(quoted file, quoted lines) of every announced block."""
    return [(m["path"], [ln for ln in m["body"].splitlines() if ln.strip() and ln != "..."])
            for m in QUOTE.finditer(text)]


def test_the_readme_quotes_outputs() -> None:
    found = quotes((ROOT / "README.md").read_text())
    assert found, "the README announces no quoted output"
    for path, lines in found:
        source = (ROOT / path).read_text().splitlines()
        missing = [ln for ln in lines if ln not in source]
        assert not missing, f"README quotes {path}, which lacks: {missing[:3]}"


@pytest.mark.parametrize(("quoted", "ok"), [
    ("a\nb", True),       # an excerpt of lines
    ("a\n...\nc", True),  # lines skipped, said with '...'
    ("a\nb 2.0", False),  # a figure changed
])
def test_a_changed_line_is_caught(quoted: str, ok: bool) -> None:
    source = ["a", "b", "c"]
    (_, lines), = quotes(f"<!-- output: x -->\n```\n{quoted}\n```\n")
    assert all(ln in source for ln in lines) is ok
