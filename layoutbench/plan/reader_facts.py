"""What layoutbench knows of each reader, in one place (pure: no I/O).

A reader's facts used to live in four modules (the geometry's request modes and formats, the
search's default per format, the recommender's list of modelled readers, the sweep's and
``measure``'s default lists), so adding a reader meant four edits that could disagree. Each
reader is now one :class:`ReaderFacts` row of :data:`FACTS`; the lists are views of it. The
readers themselves (:mod:`layoutbench.read.readers`) take their formats from here, and
``tests/test_reader_facts.py`` keeps the registry and this table equal. What is measured about
a reader (its cost constants) stays in :mod:`.reader_table`, written by its script.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ReaderFacts:
    """One reader.

    Parameters
    ----------
    name
        The registered name (``--readers NAME``).
    format
        What it reads: ``"hdf5"`` or ``"zarr"``.
    plan
        How it requests, for the model (:func:`layoutbench.plan.geometry.plan_reads`):
        ``"readahead"`` (h5py over an fsspec readahead file: serial), ``"remfile"`` (h5py over
        remfile's block cache: serial) or ``"concurrent"`` (a chunk per request, several at
        once: kerchunk, zarr).
    modelled
        The model predicts it, so ``--reader any`` may choose it.
    default
        The reader a recommendation is scored for in its format unless told otherwise.
    data, open
        Among the readers a sweep and ``measure`` use by default on data patterns, and on the
        ``open`` pattern (where opening the whole file is the point).
    """

    name: str
    format: str
    plan: str
    modelled: bool = True
    default: bool = False
    data: bool = True
    open: bool = False


#: Every reader, in the order sweeps measure them.
FACTS: tuple[ReaderFacts, ...] = (
    ReaderFacts("h5py-remfile", "hdf5", "remfile", open=True),
    # s3fs is what most cloud pipelines use for HDF5
    ReaderFacts("h5py-fsspec", "hdf5", "readahead", default=True, open=True),
    # reads data exactly as h5py-remfile once open: only the open pattern tells it apart
    ReaderFacts("pynwb-remfile", "hdf5", "remfile", modelled=False, data=False, open=True),
    ReaderFacts("kerchunk", "hdf5", "concurrent", open=True),
    ReaderFacts("zarr", "zarr", "concurrent", default=True),
    ReaderFacts("zarr-obstore", "zarr", "concurrent"),
)
READERS: dict[str, ReaderFacts] = {f.name: f for f in FACTS}


def default_reader(fmt: str) -> str:
    """The reader a recommendation for ``fmt`` is scored for unless the user names one."""
    return next(f.name for f in FACTS if f.default and f.format == fmt)


def modelled(fmt: str) -> tuple[str, ...]:
    """The readers of ``fmt`` the model predicts, the format's default first."""
    mine = [f.name for f in FACTS if f.modelled and f.format == fmt]
    return tuple(sorted(mine, key=lambda n: n != default_reader(fmt)))


def swept(*, whole_file: bool = False, fmt: str | None = None) -> tuple[str, ...]:
    """The readers a sweep or ``measure`` uses unless told otherwise: those for data patterns
    (or for opening the whole file), of one format or all."""
    return tuple(f.name for f in FACTS if (f.open if whole_file else f.data)
                 and (fmt is None or f.format == fmt))
