"""When the reader ``--reader any`` chooses pays, and when it does not.

A reader that fetches many small chunks concurrently (kerchunk, zarr) trades network round
trips for client CPU: Python work per chunk and per read call. On an idle client that wins; on
a client whose cores are busy, or for a session that reads one patch, the default reader
(h5py-fsspec) may read faster, measured side by side (issue 17: 2.0x faster idle, 1.6x slower
busy). So beside its choice the recommendation says under which conditions it holds: the
chosen (layout, reader) and the best with the format's default reader, scored again for a
busy client (every per-request, per-read and decode cost of the client four times
longer)
and for sessions that read 1 and 30 selections of each pattern.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

from layoutbench.plan.model import CostConstants
from layoutbench.plan.patterns import AccessPattern
from layoutbench.plan.search import DEFAULT_READERS, Scored

#: A busy client: the machines where kerchunk lost (issue 17) ran at a load of 5-16 on 2 cores,
#: 2.5-8 runnable threads per core: a quarter of a core each, so the client's CPU work takes
#: four times as long.
BUSY_FACTOR = 4.0
#: Selections per session the choice is checked at (one patch; a cell-extraction batch).
SESSION_COUNTS = (1, 30)
#: The parameters that say how many positions a pattern reads per run.
COUNT_PARAMS = ("offsets", "channels", "cutouts", "blocks")

Rescore = Callable[[Scored, Sequence[AccessPattern], CostConstants], Scored]


def busy_client(constants: CostConstants, readers: Sequence[str],
                factor: float = BUSY_FACTOR) -> CostConstants:
    """``constants`` for a client with ``1 / factor`` of its CPU: the per-request and per-read
    overheads and the decode of every reader ``factor`` times longer (the network unchanged)."""
    def scaled(values: Any, default: float) -> dict[str, float]:
        return {r: float(values.get(r, default)) * factor for r in {*values, *readers}}

    return replace(constants,
                   request_overhead_s=scaled(constants.request_overhead_s, 0.0),
                   read_overhead_s=scaled(constants.read_overhead_s, 0.0),
                   decode_factor=scaled(constants.decode_factor, 1.0))


def with_count(pattern: AccessPattern, n: int) -> AccessPattern | None:
    """``pattern`` reading ``n`` positions per run, or None if it reads a fixed set (pinned
    electrodes) or one place."""
    params = dict(pattern.params)
    key = next((k for k in COUNT_PARAMS if k in params), None)
    if key is None or not isinstance(params[key], int):
        return None
    params[key] = n
    return AccessPattern(pattern.name, tuple(params.items()), pattern.weight)


def reader_choice(chosen: Scored, default: Scored | None, patterns: Sequence[AccessPattern],
                  constants: CostConstants, rescore: Rescore) -> dict[str, Any] | None:
    """The conditions under which ``chosen`` (the best of every reader) beats ``default``
    (the best read by the format's default reader), or None when the default reader was
    chosen or is not among the candidates.

    ``rescore(scored, patterns, constants)`` scores the same layout and reader again for
    other patterns or constants (the caller holds the file's figures).
    """
    if default is None or chosen.reader == DEFAULT_READERS.get(chosen.layout.format):
        return None
    readers = [chosen.reader, default.reader]
    cases: dict[str, tuple[float, float]] = {
        "as given": (chosen.seconds, default.seconds)}
    busy = busy_client(constants, readers)
    cases["a busy client (a quarter of its CPU)"] = (rescore(chosen, patterns, busy).seconds,
                                         rescore(default, patterns, busy).seconds)
    for n in SESSION_COUNTS:
        varied = [with_count(p, n) for p in patterns]
        if any(v is not None for v in varied):
            pats = [v or p for v, p in zip(varied, patterns, strict=True)]
            cases[f"sessions of {n} selection{'s' if n > 1 else ''}"] = (
                rescore(chosen, pats, constants).seconds, rescore(default, pats, constants).seconds)
    loses = [name for name, (c, d) in cases.items() if c > d]
    return {
        "chosen": {"reader": chosen.reader, "layout": chosen.layout.name},
        "default": {"reader": default.reader, "layout": default.layout.name},
        "seconds": {name: {"chosen": round(c, 4), "default": round(d, 4)}
                    for name, (c, d) in cases.items()},
        "default_wins_when": loses,
    }


def describe(choice: dict[str, Any]) -> str:
    """One line for the recommendation's notes."""
    c, d = choice["chosen"], choice["default"]
    head = (f"reader: {c['reader']} on {c['layout']} is chosen over {d['reader']} "
            f"on {d['layout']}")
    if not choice["default_wins_when"]:
        return f"{head}; it stays faster on a busy client and for any number of selections"
    conds = "; ".join(
        f"{name} ({s['default']:.3f} s against {s['chosen']:.3f} s)"
        for name, s in choice["seconds"].items() if name in choice["default_wins_when"])
    return f"{head}; {d['reader']} reads faster for {conds}"
