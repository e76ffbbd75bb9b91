"""Writing: one dataset in a layout (:mod:`.rewrite`), whole files paged (:mod:`.repack`) or
with new dataset layouts (:mod:`.apply`), each verified before it is renamed into place
(block by block: :mod:`.blocks`)."""
