"""The package's layers, read from the source: the pure core stays pure, arrows point down.

Every import counts, also those inside functions (the lazy imports that keep start-up fast),
because a lazy import of h5py in the planner is still I/O in the planner. A second test imports
the pure core in a fresh interpreter and checks what it loaded, for imports no AST shows.
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

#: Layer of each top-level part; a module may import its own layer and those below it.
LAYERS = {
    "plan": 0, "errors": 0,
    "atomic": 1, "cache": 1, "codecs": 1, "h5threads": 1, "sources": 1, "outputs": 1,
    "interrupts": 1, "results": 1,
    "store": 2, "read": 2,
    "write": 3, "generate": 3,
    "run": 4, "report": 4,
    "recommend": 5,
    "api": 6, "__init__": 6, "demo": 6,
    "cli": 7, "__main__": 7,
}


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


def test_every_part_has_a_layer() -> None:
    assert {_part(m) for m in MODULES} <= set(LAYERS)


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
    chains = reachable("layoutbench.recommend.source")
    assert "layoutbench.read.sampling" in chains


def test_no_module_is_far_over_the_size_aim() -> None:
    # "aim under ~500 lines": a module that grows past it has two jobs
    sizes = {m: len(p.read_text().splitlines()) for m, p in MODULES.items()}
    assert {m: n for m, n in sizes.items() if n > 520} == {}
