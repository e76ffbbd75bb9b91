"""Reports of results: terminal tables (:mod:`.table`), neuroconv's configuration of a
recommendation (:mod:`.recommendation`), the HTML site with plots (:mod:`.site`, drawn from
:mod:`.evidence` by :mod:`.figures`), and the offline asv dashboard (:mod:`.asv_offline`).

It reads results (:mod:`layoutbench.results`) and recommendations (their JSON, and the nouns of
:mod:`layoutbench.plan.recommendation`, whose ``render_table`` is the recommendation's text
card), and imports nothing of ``run/`` or ``recommender/`` (``tests/test_layers.py``)."""

from layoutbench.reporting.table import ranked, ranked_table

__all__ = ["ranked", "ranked_table"]
