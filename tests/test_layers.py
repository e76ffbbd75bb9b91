"""The package's layers, read from the source: the pure core stays pure, arrows point down, and
no import circle exists anywhere, not even between two modules of one folder.

Every import counts, also those inside functions (the lazy imports that keep start-up fast),
because a lazy import of h5py in the planner is still I/O in the planner, and a circle closed
by an import inside a function is still a circle. A second test imports the pure core in a
fresh interpreter and checks what it loaded, for imports no AST shows.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from functools import cache
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "layoutbench"

#: Libraries that read or write files or talk to a network: none may reach ``layoutbench.plan``.
IO_LIBRARIES = frozenset({
    "h5py", "zarr", "fsspec", "s3fs", "remfile", "requests", "boto3", "botocore", "aiobotocore",
    "moto", "hdf5plugin", "kerchunk", "pynwb", "hdmf", "hdmf_zarr", "numcodecs", "obstore",
    "aiohttp", "urllib3", "http", "socket", "pandas", "pyarrow", "dask", "distributed",
})

#: Layer of each top-level part; a module may import its own layer and those below it (and
#: within its layer, not a part kept :data:`APART` from its own).
#:
#: ``results`` (the tables of results and the Recommendation's frame) sits low so that
#: ``run/``, which writes results, and ``reporting/``, which reads them, share it without importing
#: each other. ``recommender/`` measures through ``run/``, so it is above it. ``reporting/`` reads
#: results and recommendations, never the reverse: it shares ``recommender/``'s layer (it may
#: read all that ``run/`` may), and :data:`APART` keeps it from ``run/`` and ``recommender/``
#: both ways, so the Recommendation noun reaches it only from ``plan/``. The demo drives
#: ``run/`` and ``recommender/``, beside the API.
LAYERS = {
    "plan": 0, "errors": 0,
    "atomic": 1, "cache": 1, "codecs": 1, "h5threads": 1, "outputs": 1,
    "interrupts": 1, "results": 1,
    "store": 2, "read": 2,
    "write": 3, "synthetic": 3,
    "run": 4,
    "recommender": 5, "reporting": 5,
    "api": 6, "__init__": 6, "demo": 6,
    "cli": 7, "__main__": 7,
}

#: Parts that must not import each other, whatever their layers say.
APART = (frozenset({"reporting", "run"}), frozenset({"reporting", "recommender"}))


def _module_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


@cache
def imports_of(module: str) -> frozenset[str]:
    """Absolute names of everything ``module`` imports anywhere in its source."""
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                stem = ".".join([*base, node.module] if node.module else base)
            else:
                stem = node.module or ""
            found.add(stem)
            # ``from layoutbench.read import readers`` imports the module layoutbench.read.readers
            found.update(f"{stem}.{a.name}" for a in node.names if f"{stem}.{a.name}" in MODULES)
    return frozenset(found)


def _own(name: str) -> str | None:
    """The layoutbench module an import names (a module or a name inside one), or None."""
    while name:
        if name in MODULES:
            return name
        name = name.rpartition(".")[0]
    return None


def reachable(module: str) -> dict[str, list[str]]:
    """Every module reachable from ``module`` through layoutbench imports, with the chain."""
    chains = {module: [module]}
    todo = [module]
    while todo:
        current = todo.pop()
        for name in imports_of(current):
            own = _own(name) if name.startswith("layoutbench") else None
            if own and own not in chains:
                chains[own] = [*chains[current], own]
                todo.append(own)
    return chains


def _part(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


PURE = sorted(m for m in MODULES if m.startswith("layoutbench.plan"))


def test_the_pure_core_exists() -> None:
    # the planner's modules, as the issue lists them: layouts, geometry, HDF5 simulation, cost
    # model, search, pattern selections (and the nouns they speak)
    expected = {"layout", "geometry", "h5sim", "model", "search", "patterns", "profiles",
                "measurement"}
    assert {m.rpartition(".")[2] for m in PURE} >= expected


@pytest.mark.parametrize("module", PURE)
def test_pure_core_imports_no_io_library(module: str) -> None:
    """Directly or through another layoutbench module, at import time or inside a function."""
    for reached, chain in reachable(module).items():
        bad = {n.split(".")[0] for n in imports_of(reached)} & IO_LIBRARIES
        assert not bad, f"{' -> '.join(chain)} imports {sorted(bad)}"


@pytest.mark.parametrize("module", PURE)
def test_pure_core_imports_only_itself(module: str) -> None:
    # plan/ imports nothing of the other layers (errors is a leaf of exception classes)
    for name in imports_of(module):
        own = _own(name) if name.startswith("layoutbench") else None
        if own is not None:
            assert own.startswith("layoutbench.plan") or own == "layoutbench.errors", \
                f"{module} imports {own}"


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_point_down(module: str) -> None:
    mine = LAYERS[_part(module)]
    for name in imports_of(module):
        own = _own(name) if name.startswith("layoutbench") else None
        if own is None or own == module:
            continue
        assert LAYERS[_part(own)] <= mine, f"{module} (layer {mine}) imports {own} " \
                                           f"(layer {LAYERS[_part(own)]})"


@pytest.mark.parametrize("module", sorted(MODULES))
def test_parts_kept_apart_do_not_import_each_other(module: str) -> None:
    for own in _own_imports(module):
        assert frozenset({_part(module), _part(own)}) not in APART, \
            f"{module} imports {own}: {_part(module)}/ and {_part(own)}/ are kept apart"


def import_graph() -> dict[str, frozenset[str]]:
    """Each module of the package and the package's modules it imports (inside functions too)."""
    return {m: _own_imports(m) for m in MODULES}


def _own_imports(module: str) -> frozenset[str]:
    found = {_own(n) for n in imports_of(module) if n.startswith("layoutbench")}
    return frozenset(o for o in found if o is not None and o != module)


def import_circles(graph: dict[str, frozenset[str]]) -> list[list[str]]:
    """Every import circle of ``graph``: its strongly connected components of more than one
    module (Tarjan's algorithm), each as one circle through them, sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    circles: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            members = []
            while True:
                w = stack.pop()
                members.append(w)
                if w == v:
                    break
            if len(members) > 1:
                circles.append(_circle_through(sorted(members), graph))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(circles)


def _circle_through(members: list[str], graph: dict[str, frozenset[str]]) -> list[str]:
    """One circle from the first of ``members`` back to it, within them (breadth first)."""
    start, inside = members[0], set(members)
    paths = {start: [start]}
    todo = [start]
    while todo:
        current = todo.pop(0)
        for nxt in sorted(graph[current] & inside):
            if nxt == start:
                return [*paths[current], start]
            if nxt not in paths:
                paths[nxt] = [*paths[current], nxt]
                todo.append(nxt)
    raise AssertionError(f"no circle through {members}")  # pragma: no cover


def test_no_import_circle_anywhere() -> None:
    circles = import_circles(import_graph())
    assert not circles, "import circles:\n" + "\n".join(" -> ".join(c) for c in circles)


def test_the_circle_finder_finds_circles() -> None:
    """Within a folder, through several modules, and none where arrows only point down."""
    graph = {"a.x": frozenset({"a.y"}), "a.y": frozenset({"a.x"}),
             "b.p": frozenset({"b.q"}), "b.q": frozenset({"b.r"}), "b.r": frozenset({"b.p"}),
             "c": frozenset({"a.x", "b.p"})}
    assert import_circles(graph) == [["a.x", "a.y", "a.x"], ["b.p", "b.q", "b.r", "b.p"]]
    assert import_circles({"m": frozenset({"n"}), "n": frozenset()}) == []
    # the package's graph holds imports made inside functions (--measure sweeps lazily)
    assert "layoutbench.run.sweep" in import_graph()["layoutbench.recommender.measured"]


def test_every_part_has_a_layer() -> None:
    assert {_part(m) for m in MODULES} <= set(LAYERS)


def test_no_part_is_named_like_a_public_name() -> None:
    """Importing ``layoutbench.X`` sets the package's attribute ``X`` to that module, in place of
    the public ``layoutbench.X`` (e.g. a subpackage ``recommend/`` would hide ``lb.recommend``)."""
    import layoutbench

    parts = {m.split(".")[1] for m in MODULES if m.count(".") >= 1}
    assert parts.isdisjoint(layoutbench.__all__)


def test_pure_core_loads_no_io_library_at_run_time() -> None:
    """What actually ends up in sys.modules after importing every planner module."""
    code = ("import sys, importlib\n"
            f"for m in {PURE!r}: importlib.import_module(m)\n"
            "loaded = {n.split('.')[0] for n in sys.modules}\n"
            f"print(sorted(loaded & set({sorted(IO_LIBRARIES)!r})))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "[]"


def test_the_checker_sees_lazy_and_indirect_imports(tmp_path: Path) -> None:
    """The AST reader finds an import inside a function: the test above cannot pass vacuously."""
    assert "layoutbench.plan.model" in MODULES
    assert "scipy.optimize" in imports_of("layoutbench.plan.model")  # a lazy import
    assert "h5py" in imports_of("layoutbench.read.inspect")
    chains = reachable("layoutbench.recommender.source")
    assert "layoutbench.read.sampling" in chains


def test_no_module_is_far_over_the_size_aim() -> None:
    # "aim under ~500 lines": a module that grows past it has two jobs
    sizes = {m: len(p.read_text().splitlines()) for m, p in MODULES.items()}
    assert {m: n for m, n in sizes.items() if n > 520} == {}
