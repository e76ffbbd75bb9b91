"""The readers' cost constants, measured on the embedded endpoint: what a recommendation
uses unless ``layoutbench calibrate`` measured this machine.

Written by ``benchmarks/reader_constants.py`` (do not edit by hand); ``reports/reader_constants.md``
shows how well they predict the rows they were fitted on.
"""

from __future__ import annotations

from typing import Any

#: Where and how the table was measured (recorded in every recommendation).
MEASURED_ON = ('layoutbench reader table (x86_64, 3.12.1, h5py 3.16.0, fsspec 2026.9.0, zarr '
 '3.4.2, 2026-12-01)')

#: :meth:`layoutbench.plan.model.CostConstants.to_dict` of the fit.
TABLE: dict[str, Any] = {'latency_factor': 0.9891173860178142,
 'transfer_factor': 1.136101269750922,
 'request_overhead_s': {'h5py-fsspec': 0.0018727805449048084,
                        'h5py-remfile': 0.0,
                        'kerchunk': 0.013101175199848663,
                        'zarr': 0.003494821930023192,
                        'zarr-obstore': 0.0009647916778142153},
 'read_overhead_s': {'h5py-fsspec': 0.01038535167317064,
                     'h5py-remfile': 0.01769301690795946,
                     'kerchunk': 0.055582962450992625,
                     'zarr': 0.020368160400371,
                     'zarr-obstore': 0.0193864960355491},
 'decode_mbps': {},
 'decode_factor': {'h5py-fsspec': 0.8201173548906071,
                   'h5py-remfile': 0.2906907926324217,
                   'kerchunk': 0.49432457655927003,
                   'zarr': 0.9553376367397737,
                   'zarr-obstore': 0.7220508576659934},
 'n_rows': 492,
 'rms_log_error': 0.16079875095930435}
