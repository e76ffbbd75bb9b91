"""A sweep's measured cases on disk as they finish, so a killed sweep resumes where it stopped.

Results used to be written only at the end: a sweep killed after two hours lost every
measurement. Now each finished case is appended to a journal beside the results file (one JSON
line per row, flushed), and re-running the same command measures only what the journal lacks.
The first line says which sweep the journal belongs to (source, dataset, profile, layouts,
readers, patterns, repeats, layoutbench version): a different sweep starts afresh rather than
mixing results. A line cut short by a kill is ignored. When the results are written, the
journal is removed.
"""

from __future__ import annotations

import json
import logging
import os
from collections import Counter
from pathlib import Path
from typing import IO, Any

from layoutbench.plan.measurement import Measurement

log = logging.getLogger(__name__)

FORMAT = "layoutbench-sweep-journal"


def journal_for(results: str | os.PathLike[str]) -> Path:
    """Where the journal of a sweep writing ``results`` lives: hidden, beside it."""
    p = Path(results)
    return p.with_name(f".{p.name}.journal.jsonl")


def case_key(row: Measurement) -> tuple[str, str, str, str]:
    """What identifies a case among a sweep's rows (its repeats share it): the source (a
    sweep may cover several), layout, reader and pattern."""
    return (row.source or "", row.layout.name, row.reader, row.pattern)


class Journal:
    """Append-only record of one sweep, identified by ``key`` (see the module doc)."""

    def __init__(self, path: str | os.PathLike[str], key: dict[str, Any]) -> None:
        self.path = Path(path)
        self.key = json.loads(json.dumps(key, sort_keys=True))  # as it will read back
        self._file: IO[str] | None = None
        self._rows = 0

    def resume(self) -> list[Measurement]:
        """The rows of an earlier run of the same sweep (none if there was none, or it was
        another sweep); from here on, new rows are appended after them."""
        rows: list[Measurement] = []
        try:
            lines = self.path.read_text().splitlines()
        except FileNotFoundError:
            lines = []
        header = _parse(lines[0]) if lines else None
        if header is not None and header.get("format") == FORMAT and header.get("key") == \
                self.key:
            for line in lines[1:]:
                doc = _parse(line)
                if doc is None:
                    log.info("ignoring a journal line cut short (the sweep was killed)")
                    continue
                rows.append(Measurement.from_dict(doc))
        elif lines:
            log.info("%s belongs to another sweep: starting afresh", self.path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(self.path, "w")  # noqa: SIM115 (closed in close())
        self._write({"format": FORMAT, "key": self.key})
        for row in rows:
            self._write(row.to_dict())
        self._rows = len(rows)
        return rows

    def append(self, row: Measurement) -> None:
        """Record a finished case (flushed to the OS, so a killed process keeps it)."""
        self._write(row.to_dict())
        self._rows += 1

    def _write(self, doc: dict[str, Any]) -> None:
        assert self._file is not None, "resume() opens the journal"
        self._file.write(json.dumps(doc, default=_plain) + "\n")
        self._file.flush()

    def close(self, *, done: bool) -> None:
        """Close; remove the journal when the sweep's results are safely written, or when it
        holds no finished case (a sweep that failed before its first: nothing to resume)."""
        if self._file is not None:
            self._file.close()
            self._file = None
        if done or self._rows == 0:
            self.path.unlink(missing_ok=True)


def remaining(rows: list[Measurement], repeats: int) -> Counter[tuple[str, str, str, str]]:
    """How many repeats of each case the rows already hold."""
    done: Counter[tuple[str, str, str, str]] = Counter(case_key(r) for r in rows)
    return Counter({k: min(v, repeats) for k, v in done.items()})


def _parse(line: str) -> dict[str, Any] | None:
    try:
        doc = json.loads(line)
    except ValueError:
        return None
    return doc if isinstance(doc, dict) else None


def _plain(value: Any) -> Any:
    """numpy scalars in rows (NaN ratios, int64 counts) as plain JSON."""
    if hasattr(value, "item"):
        return value.item()
    raise TypeError(f"not JSON serialisable: {value!r}")
