"""Running: sweeps of cases (:mod:`.sweep`, their jobs :mod:`.sweep_jobs`, executors, the
journal), one measured case (:mod:`.measure`, what every case shares :mod:`.cases`, faults
:mod:`.faulty`), a file measured as it is (:mod:`.measure_source`), and many sources at once
(:mod:`.many`, :mod:`.collection`)."""
