"""``recommend`` over many sources, on any executor: one JSON for a collection.

Each file is one chain of one step (:func:`layoutbench.run.many.run_each`): recommending runs
in parallel across files, ``recommend --measure`` is timed, so its steps never overlap on one
machine. The files come back in the order they were given, with the collection's summary
(:func:`layoutbench.run.collection.collection_summary`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from layoutbench.recommender.source import recommend
from layoutbench.run.collection import collection_summary
from layoutbench.run.executors import Actions, Executor
from layoutbench.run.many import run_each
from layoutbench.store.sources import resolve


def recommend_one(source: str, options: dict[str, Any]) -> tuple[dict[str, Any], int | None]:
    """One file's recommendation (its JSON) and the file's size in bytes."""
    src = resolve(source, options.get("options"))
    rec = recommend(src, **options).to_dict()
    # the size recommend learnt (asking again would send a request ``spent`` does not count)
    size = next((d["verdict"]["file_bytes"] for d in rec["datasets"] if d.get("verdict")), None)
    if size is None and src.is_local:  # the size is for the summary only
        try:
            size = src.identity().size
        except Exception:
            size = None
    return rec, size


#: The step this module runs on an executor (a dask worker imports it by this module's name).
ACTIONS: Actions = {"recommend": recommend_one}


def recommend_many(sources: Sequence[str], options: dict[str, Any], *,
                   executor: Executor | str | None = None,
                   progress: bool = False) -> dict[str, Any]:
    """Every file's recommendation in one JSON: ``{"files": [...], "summary": {...}}``."""
    done = run_each("recommend", [(s, options) for s in sources], list(sources),
                    executor=executor, timed=bool(options.get("measure")), progress=progress,
                    actions=ACTIONS)
    recs = [rec for rec, _ in done]
    return {"format": "layoutbench-recommendations", "files": recs,
            "summary": collection_summary(recs, [size for _, size in done])}
