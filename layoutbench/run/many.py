"""``measure`` and ``apply`` (and, for :mod:`layoutbench.recommender.many`, ``recommend``) over many
sources, on any executor.

Each source is one chain of one step (:func:`layoutbench.plan.work.single_steps`): recommending
and applying run in parallel across files; measuring (and ``recommend --measure``) is timed,
so those steps never overlap on one machine. Results come back in the order the sources were
given, whatever order they finished in.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from layoutbench.plan.measurement import Measurement
from layoutbench.plan.work import single_steps
from layoutbench.run.executors import Actions, Executor, as_executor

if TYPE_CHECKING:
    from layoutbench.run.sweep_jobs import EndpointSpec
    from layoutbench.store.endpoint import Endpoint

log = logging.getLogger(__name__)


def measure_one(source: str, options: dict[str, Any],
                endpoint: Endpoint | EndpointSpec) -> list[Measurement]:
    """One source measured as it is (timed)."""
    from layoutbench.run.measure_source import measure_source
    from layoutbench.run.sweep_jobs import as_endpoint

    return measure_source(source, endpoint=as_endpoint(endpoint), **options)


def apply_one(source: str, layouts: Mapping[str, Any], out: str, options: dict[str, Any]
              ) -> dict[str, Any]:
    """One file rewritten into ``out`` (verified before it is renamed into place)."""
    from layoutbench.write.apply import apply_to

    return apply_to(source, layouts, Path(out), **options).to_dict()


#: The steps this module runs, by name; :mod:`layoutbench.recommender.many` adds ``recommend``.
ACTIONS: Actions = {"measure": measure_one, "apply": apply_one}


def run_each(action: str, args: Sequence[tuple[Any, ...]], labels: Sequence[str], *,
             executor: Executor | str | None = None, timed: bool = False,
             progress: bool = False, actions: Actions = ACTIONS) -> list[Any]:
    """``action`` (a name in ``actions``) once per argument tuple on ``executor``; the results
    in the given order."""
    from layoutbench.run.cases import progress_bar

    runner = as_executor(executor)
    chains = single_steps(action, args, labels, timed=timed)
    out: list[Any] = [None] * len(chains)
    with progress_bar(len(chains), progress and len(chains) > 1) as bar:
        for i, value in runner.run(chains, actions):
            out[i] = value
            bar.update()
            if len(chains) > 1:
                log.info("%s: %d of %d files done (%s)", action, bar.n, len(chains), labels[i])
    return out
