"""How a :class:`~layoutbench.plan.layout.Layout`'s codec maps onto h5py filters and Zarr v3 codecs.

One place so that the rewriter, the generators and (later) the kerchunk translator agree on
what "blosc-zstd level 5 with shuffle" means in each format.
"""

from __future__ import annotations

from typing import Any

from layoutbench.plan.layout import Layout


def ensure_hdf5_filters() -> None:
    """Register hdf5plugin's filters (zstd, Blosc, LZ4, ...) with the HDF5 library.

    Importing hdf5plugin is what registers them; any code that decodes HDF5 chunks (readers,
    verification) must call this, not rely on the writer having imported it earlier in the
    same process: a variant reused from the cache is read without being written.
    """
    import hdf5plugin  # noqa: F401


def h5py_filter_kwargs(layout: Layout) -> dict[str, Any]:
    """Keyword arguments for ``h5py.Group.create_dataset`` that realise the layout's codec.

    Blosc does its own shuffle (inside the compressor, on the typesize), so for Blosc codecs
    ``shuffle`` selects Blosc's byte shuffle instead of HDF5's shuffle filter: stacking both
    would shuffle twice.
    """
    import hdf5plugin

    kw: dict[str, Any] = {}
    if layout.codec == "none":
        if layout.shuffle:
            kw["shuffle"] = True
        return kw
    level = int(layout.level or 0)
    if layout.codec == "lz4":
        kw.update(hdf5plugin.LZ4())
    elif layout.codec == "gzip":
        kw.update(compression="gzip", compression_opts=level)
    elif layout.codec == "zstd":
        kw.update(hdf5plugin.Zstd(clevel=level))
    elif layout.codec in ("blosc-zstd", "blosc-lz4"):
        shuffle = hdf5plugin.Blosc.SHUFFLE if layout.shuffle else hdf5plugin.Blosc.NOSHUFFLE
        cname: Any = _blosc_cname(layout)
        kw.update(hdf5plugin.Blosc(cname=cname, clevel=level, shuffle=shuffle))
        return kw
    else:  # pragma: no cover - Layout.validate rejects unknown codecs
        raise ValueError(f"unsupported codec {layout.codec!r}")
    if layout.shuffle:
        kw["shuffle"] = True
    return kw


def zarr_compressors(layout: Layout) -> list[Any] | None:
    """Zarr v3 bytes-to-bytes codecs for the layout (``None`` means uncompressed)."""
    from zarr.codecs import BloscCodec, GzipCodec, ZstdCodec

    if layout.codec == "none":
        return None
    level = int(layout.level or 0)
    if layout.codec == "gzip":
        return [GzipCodec(level=level)]
    if layout.codec == "zstd":
        return [ZstdCodec(level=level)]
    cname: Any = _blosc_cname(layout)
    return [BloscCodec(cname=cname, clevel=level,
                       shuffle="shuffle" if layout.shuffle else "noshuffle")]


def _blosc_cname(layout: Layout) -> str:
    """Blosc's inner compressor name: ``blosc-zstd`` -> ``zstd``."""
    return layout.codec.split("-", 1)[1]
