"""Reading: what a file holds (:mod:`.inspect`), the readers under test (:mod:`.readers`, their
interface :mod:`.reader_base`), kerchunk references (:mod:`.refs`, the reference set
:mod:`.refset`) and codec figures sampled from a file (:mod:`.sampling`)."""
