"""The pure core: what to store and what reading it costs, decided without a file or a network.

Layouts and their grids (:mod:`.layout`), access patterns and their selections
(:mod:`.patterns`), network profiles (:mod:`.profiles`), the result row (:mod:`.measurement`),
the geometry of chunks touched and the reads each reader makes (:mod:`.geometry`, with HDF5's
simulated in :mod:`.h5sim`), the cost model (:mod:`.model`), the candidate search
(:mod:`.search`), and the nouns a recommendation speaks (:mod:`.dataset`,
:mod:`.recommendation`). Like rechunker's ``algorithm`` module, nothing here opens a file or a
socket: modules import only numpy, scipy, the standard library and each other
(``tests/test_layers.py`` enforces it), so every decision is testable without I/O.
"""
