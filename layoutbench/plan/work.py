"""The plan of work of a run over many sources, as data: the same for every executor (pure).

Like rechunker's copy plan, what to run is decided before anything runs and does not depend on
where it runs: a :class:`Chain` per independent piece of work (a (source, layout) of a sweep,
a file to recommend or apply), each a sequence of :class:`Step` run in order, the next given
the previous one's result. An executor (:mod:`layoutbench.run.executors`) may run chains in
parallel; a step marked ``timed`` measures seconds, and never overlaps another timed step on
the same machine, because concurrent timings contend.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Step:
    """One call: ``action`` names the function (the executor's table), ``args`` its arguments
    (picklable: they may travel to another process or machine)."""

    action: str
    args: tuple[Any, ...] = ()
    timed: bool = False


@dataclass(frozen=True, slots=True)
class Chain:
    """Steps run in order, each called with the previous step's result as first argument
    (the first step with its own arguments only); ``label`` names the work in logs."""

    label: str
    steps: tuple[Step, ...]

    @property
    def timed(self) -> bool:
        return any(s.timed for s in self.steps)


def single_steps(action: str, args: Sequence[tuple[Any, ...]], labels: Sequence[str], *,
                 timed: bool = False) -> list[Chain]:
    """One chain of one step per item (a file to recommend, apply or measure)."""
    return [Chain(label, (Step(action, a, timed),)) for a, label in zip(args, labels, strict=True)]


def build_then_measure(jobs: Sequence[Any], labels: Sequence[str]) -> list[Chain]:
    """A sweep: per (source, layout) job, build (write, verify, upload) the variant, then
    measure its cases (timed)."""
    return [Chain(label, (Step("build", (job,)), Step("measure", (job,), timed=True)))
            for job, label in zip(jobs, labels, strict=True)]


def window(n_chains: int, workers: int) -> int:
    """How many chains may be in flight at once: enough to keep every worker busy while one
    measures, few enough that the store holds only a few variants not yet measured."""
    return max(1, min(n_chains, 2 * max(1, workers)))
