"""The README's "Layout of the code" lists every module of the package, where it is, and
nothing that is not there (a maintainer finds a module's job in one place)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _listed() -> set[str]:
    text = (ROOT / "README.md").read_text()
    block = text.split("## Layout of the code", 1)[1].split("```", 2)[1]
    listed, stack = set(), []  # (indent, folder)
    for line in block.splitlines():
        m = re.match(r"( *)(\S+)", line)
        if not m:
            continue
        indent, name = len(m.group(1)), m.group(2)
        stack = [(i, f) for i, f in stack if i < indent]
        if name.endswith("/"):
            stack.append((indent, name.rstrip("/")))
        elif name.endswith(".py") and stack and stack[0][1] == "layoutbench":
            listed.add("/".join([*(f for _, f in stack), name]))
    return listed


def test_every_module_is_listed_once_where_it_lives() -> None:
    modules = {p.relative_to(ROOT).as_posix() for p in (ROOT / "layoutbench").rglob("*.py")
               if "__pycache__" not in p.parts}
    modules -= {m for m in modules if m.endswith("__init__.py") and m != "layoutbench/__init__.py"
                and m != "layoutbench/synthetic/__init__.py"}
    listed = _listed()
    assert not modules - listed, f"not in the README: {sorted(modules - listed)}"
    assert not listed - modules, f"listed but absent: {sorted(listed - modules)}"
