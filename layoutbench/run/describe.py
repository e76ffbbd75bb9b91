"""Describe a dataset of any source: a local file directly, a remote one through the gateway.

The one step every command that takes a SOURCE needs before deciding anything (which kind of
data, which grid, which patterns). A remote file is read through the counting gateway
(:mod:`layoutbench.store.reach`) even here, so that an HTTPS server with a private certificate
(``--ca-bundle``) and the counts behave as in every other remote step.
"""

from __future__ import annotations

from layoutbench.plan.dataset import DatasetInfo
from layoutbench.read.inspect import dataset_info
from layoutbench.read.inspect_zarr import is_zarr, zarr_dataset_info
from layoutbench.store.sources import Source


def describe(src: Source, dataset: str | None) -> DatasetInfo:
    """:class:`DatasetInfo` of ``dataset`` (default: the largest array) of ``src``."""
    if is_zarr(src):
        return zarr_dataset_info(src, dataset)
    if src.is_local:
        return dataset_info(src, dataset)
    from layoutbench.store.reach import reach

    with reach(src) as where:
        return dataset_info(where.source, dataset, identity=where.identity, label=src.url)
