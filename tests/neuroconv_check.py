"""Load ``layoutbench recommend --format neuroconv`` into neuroconv and write a file with it.

Run by tests/test_neuroconv.py with the interpreter of neuroconv's own environment
(``make neuroconv-env``; neuroconv 0.10 needs zarr 2, layoutbench zarr 3), so it imports nothing
from layoutbench. Usage: ``python neuroconv_check.py FIELDS.json hdf5|zarr OUT``. Prints one JSON
line: the configuration class, the I/O keyword arguments neuroconv derived and the storage of
the written dataset. Any warning while the fields are loaded is an error.
"""

from __future__ import annotations

import json
import sys
import warnings
from datetime import UTC, datetime

import numpy as np
from neuroconv.tools.nwb_helpers import configure_backend, get_default_backend_configuration
from pynwb import NWBHDF5IO, NWBFile
from pynwb.ophys import OpticalChannel, TwoPhotonSeries


def main() -> None:
    fields_path, backend, out = sys.argv[1:4]
    with open(fields_path) as fh:
        (location, fields), = json.load(fh).items()
    nwb = NWBFile(session_description="s", identifier="id",
                  session_start_time=datetime(2026, 1, 1, tzinfo=UTC))
    device = nwb.create_device(name="microscope")
    plane = nwb.create_imaging_plane(
        name="plane", optical_channel=OpticalChannel(name="c", description="d",
                                                     emission_lambda=500.0),
        description="d", device=device, excitation_lambda=600.0, imaging_rate=30.0,
        indicator="GCaMP", location="V1")
    data = np.zeros(fields["full_shape"], dtype=fields["dtype"])
    nwb.add_acquisition(TwoPhotonSeries(name="TwoPhotonSeries", data=data, imaging_plane=plane,
                                        rate=30.0, unit="n.a."))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the fields must load without a deprecation or a doubt
        config = get_default_backend_configuration(nwbfile=nwb, backend=backend)
        ds = config.dataset_configurations[location]
        ds.chunk_shape = tuple(fields["chunk_shape"])
        ds.buffer_shape = tuple(fields["buffer_shape"])
        ds.compressors = fields["compressors"]
        ds.compressor_options = fields["compressor_options"]
        kwargs = ds.get_data_io_kwargs()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # hdmf's portability note on plugin filters
        configure_backend(nwbfile=nwb, backend_configuration=config)
        if backend == "hdf5":
            import h5py
            import hdf5plugin  # noqa: F401  (zstd, Blosc)

            with NWBHDF5IO(out, "w") as io:
                io.write(nwb)
            with h5py.File(out) as f:
                d = f[location]
                written = {"chunks": list(d.chunks), "filters": list(d._filters)}
        else:
            import zarr
            from hdmf_zarr import NWBZarrIO

            with NWBZarrIO(out, "w") as io:
                io.write(nwb)
            a = zarr.open(out, mode="r")[location]
            written = {"chunks": list(a.chunks), "compressor": a.compressor.get_config(),
                       "filters": [f.get_config() for f in a.filters or []]}
    print(json.dumps({"class": type(ds).__name__, "kwargs": {k: str(v) for k, v in
                                                           kwargs.items()},
                      "written": written}))


if __name__ == "__main__":
    main()
