"""Running: one measured case (:mod:`.measure`), sweeps of cases (:mod:`.sweep`), recommendations
(:mod:`.recommend`), calibration, results tables, the demo and the asv kit (:mod:`.benchkit`)."""
