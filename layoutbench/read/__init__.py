"""Reading: what a file holds (:mod:`.inspect`), the readers under test (:mod:`.readers`),
kerchunk references (:mod:`.refs`) and codec figures sampled from a file (:mod:`.sampling`)."""
