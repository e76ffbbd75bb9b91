"""Reports of sweep results: terminal tables now, dashboards later."""

from layoutbench.report.table import ranked, ranked_table

__all__ = ["ranked", "ranked_table"]
