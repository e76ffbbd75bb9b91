"""Reports of results: terminal tables (:mod:`.table`), the recommendation card and neuroconv
configuration (:mod:`.recommendation`), the HTML site with plots (:mod:`.site`, drawn from
:mod:`.evidence` by :mod:`.figures`), and the offline asv dashboard (:mod:`.asv_offline`)."""

from layoutbench.report.table import ranked, ranked_table

__all__ = ["ranked", "ranked_table"]
