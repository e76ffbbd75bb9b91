"""Stored cost-model constants: fit them from a sweep's results, save them, load them.

The constants (:class:`~layoutbench.plan.model.CostConstants`) describe the machine and the
library versions, not a layout, so one calibration serves every later recommendation on the same
machine. They live in one JSON file in the user's cache (:func:`layoutbench.cache.cache_dir`),
written atomically so a crash never leaves half a file that a later run would trust.
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
import os
from pathlib import Path
from typing import Any

from layoutbench.atomic import write_json
from layoutbench.cache import cache_dir
from layoutbench.errors import UserError
from layoutbench.plan.model import CostConstants, fit_constants

log = logging.getLogger(__name__)

FORMAT, FORMAT_VERSION = "layoutbench-calibration", 1
FILENAME = "calibration.json"


def default_path() -> Path:
    """``calibration.json`` in :func:`layoutbench.cache.cache_dir`."""
    return cache_dir(FILENAME)


def save_constants(constants: CostConstants, path: str | os.PathLike[str] | None = None,
                   *, source: str | None = None) -> Path:
    """Write ``constants`` (with when and from what they were fitted) atomically; return the path.

    The document is written to a temporary file in the same directory and renamed into place,
    so readers see either the old calibration or the new one, never a mixture.
    """
    out = Path(path) if path is not None else default_path()
    doc: dict[str, Any] = {
        "format": FORMAT, "format_version": FORMAT_VERSION,
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "source": source, "constants": constants.to_dict(),
    }
    write_json(out, doc, indent=1, sort_keys=True)
    log.info("saved cost-model constants to %s", out)
    return out


def load_constants(path: str | os.PathLike[str] | None = None) -> CostConstants | None:
    """The stored constants, or ``None`` when there are none (or they cannot be read).

    An unreadable or foreign file is logged and ignored rather than fatal: the recommender then
    falls back on the uncalibrated model, which is what it would use on a new machine anyway.
    """
    p = Path(path) if path is not None else default_path()
    if not p.exists():
        return None
    try:
        doc = json.loads(p.read_text())
        if doc.get("format") != FORMAT or doc.get("format_version") != FORMAT_VERSION:
            raise ValueError(f"not a {FORMAT} v{FORMAT_VERSION} document")
        return CostConstants.from_dict(doc["constants"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        log.warning("ignoring unreadable calibration %s: %s", p, exc)
        return None


def calibrate_from_results(results_path: str | os.PathLike[str], *,
                           rate: float | None = None) -> CostConstants:
    """Fit constants on a sweep's results table (``.parquet`` or ``.csv``).

    Every usable row is planned from its layout, pattern and compression ratio
    (:func:`layoutbench.plan.model.plan_for_measurement`) and the constants are fitted on measured
    seconds against those plans. Time-based (ecephys) patterns are planned with the sampling rate
    each row recorded; ``rate``, when given, overrides it (e.g. for rows written before rates
    were recorded). Raises :class:`UserError` naming the file if it has no usable rows.
    """
    from layoutbench.plan.measurement import Measurement
    from layoutbench.results import read_results

    frame = read_results(results_path)
    rows = [Measurement.from_dict(r) for r in frame.to_dict(orient="records")]
    try:
        constants = fit_constants(rows, rate=rate)
    except ValueError as exc:
        raise UserError(f"{results_path}: {exc}") from None
    log.info("calibrated on %d of %d rows of %s (rms log error %.3f)", constants.n_rows,
             len(rows), results_path, constants.rms_log_error or 0.0)
    return constants
