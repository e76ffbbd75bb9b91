"""The readers' cost constants, measured on the embedded endpoint: what a recommendation
uses unless ``layoutbench calibrate`` measured this machine.

Written by ``benchmarks/reader_constants.py`` (do not edit by hand); ``reports/reader_constants.md``
shows how well they predict the rows they were fitted on.
"""

from __future__ import annotations

from typing import Any

#: Where and how the table was measured (recorded in every recommendation).
MEASURED_ON = ('layoutbench reader table (x86_64, 3.12.1, h5py 3.16.0, fsspec 2026.9.0, zarr '
 '3.4.2, 2026-12-03)')

#: :meth:`layoutbench.plan.model.CostConstants.to_dict` of the fit.
TABLE: dict[str, Any] = {'latency_factor': 1.0,
 'transfer_factor': 1.003147912392475,
 'request_overhead_s': {'h5py-fsspec': 0.0029704743346531536,
                        'h5py-remfile': 0.003547081589357314,
                        'kerchunk': 0.016137828134347713,
                        'zarr': 0.011884522286011478,
                        'zarr-obstore': 0.008019435127177095},
 'read_overhead_s': {'h5py-fsspec': 0.020388585199012398,
                     'h5py-remfile': 0.005805073973598289,
                     'kerchunk': 0.08893590156395267,
                     'zarr': 0.012484574009406684,
                     'zarr-obstore': 0.01330724569374304},
 'decode_mbps': {},
 'decode_factor': {'h5py-fsspec': 1.0086042063374054,
                   'h5py-remfile': 1.122328649225281,
                   'kerchunk': 0.5785396926673826,
                   'zarr': 1.1427837748572807,
                   'zarr-obstore': 0.8757401811921052},
 'n_rows': 474,
 'rms_log_error': 0.227105355519125}
