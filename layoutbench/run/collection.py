"""Many sources in one command: what the SOURCE arguments stand for, and a collection's summary.

A SOURCE argument is a path, a URL, a glob (``data/*.nwb``, ``sub-*/**/*.nwb``) or
``@list.txt`` (one source a line; blank lines and ``#`` comments ignored; relative paths are
relative to the list's folder). :func:`expand_sources` turns the arguments into the sources, in
the order given (globs sorted), each once. An empty glob, a missing list or an empty one is a
one-line error naming it.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from layoutbench.errors import InputNotFoundError, UserError

_GLOB = set("*?[")


def _is_url(text: str) -> bool:
    return "://" in text and len(text.split("://", 1)[0]) > 1


def _from_list(arg: str) -> list[str]:
    path = Path(arg[1:]).expanduser()
    try:
        lines = path.read_text().splitlines()
    except FileNotFoundError:
        raise InputNotFoundError(f"{arg}: no such list file ({path})") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"{arg}: cannot read the list ({exc})") from None
    out = []
    for line in lines:
        item = line.strip()
        if not item or item.startswith("#"):
            continue
        if not _is_url(item) and not os.path.isabs(os.path.expanduser(item)):
            item = str(path.parent / item)
        out += _expand_one(item, where=f"{arg}")
    if not out:
        raise UserError(f"{arg}: the list names no source")
    return out


def _expand_one(arg: str, where: str | None = None) -> list[str]:
    if _is_url(arg) or not (_GLOB & set(arg)):
        return [arg]
    found = sorted(glob.glob(os.path.expanduser(arg), recursive=True))
    if not found:
        raise UserError(f"{arg}: no file matches this pattern" + (f" (in {where})" if where
                                                                   else ""))
    return found


def expand_sources(args: Sequence[str | os.PathLike[str]]) -> list[str]:
    """The sources that SOURCE arguments stand for (see the module doc), each once."""
    out: list[str] = []
    for raw in args:
        arg = os.fspath(raw)
        out += _from_list(arg) if arg.startswith("@") else _expand_one(arg)
    if not out:
        raise UserError("no source given")
    return list(dict.fromkeys(out))


def output_names(sources: Sequence[Any], folder: Path) -> list[Path]:
    """One output per source in ``folder``, named after it; two sources with the same name
    are a one-line error (their outputs would collide)."""
    names: dict[str, str] = {}
    for s in sources:
        name = getattr(s, "name", None) or Path(os.fspath(s)).name
        if name in names:
            raise UserError(f"{s}: has the same name as {names[name]}; their outputs in "
                            f"{folder} would collide (apply them separately)")
        names[name] = str(s)
    return [folder / n for n in names]


def collection_summary(recs: Sequence[dict[str, Any]], sizes: Sequence[int | None]
                       ) -> dict[str, Any]:
    """What a collection's recommendations add up to: files, bytes, and the predicted seconds
    and cost of reading every dataset once with its workload, now and rewritten (and per
    1,000 such reads, what the saving is)."""
    now = after = cost_now = cost_after = 0.0
    datasets = rewrites = 0
    for rec in recs:
        for d in rec["datasets"]:
            datasets += 1
            rewrites += not d.get("keep", False)
            now += d["current"]["seconds"]
            after += d["recommended"]["seconds"]
            cost_now += d["current"]["cost_per_1000_reads_usd"]
            cost_after += d["recommended"]["cost_per_1000_reads_usd"]
    known = [s for s in sizes if s is not None]
    return {
        "files": len(recs), "total_bytes": sum(known), "datasets": datasets,
        "datasets_to_rewrite": rewrites,
        "seconds_per_read_current": round(now, 4),
        "seconds_per_read_recommended": round(after, 4),
        "hours_saved_per_1000_reads": round((now - after) * 1000 / 3600, 4),
        "cost_per_1000_reads_usd_current": round(cost_now, 6),
        "cost_per_1000_reads_usd_recommended": round(cost_after, 6),
        "cost_saved_per_1000_reads_usd": round(cost_now - cost_after, 6),
    }
