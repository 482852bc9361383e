"""Writers for run outputs: ``summary.json`` (machine-readable) and a self-contained HTML report.

Both apply :mod:`imgconf.report.redact` to everything taken from exchanges, whatever the HTTP
client already did, because these files leave the building.
"""

from imgconf.report.html import write_html
from imgconf.report.summary import build_summary, write_summary

__all__ = ["build_summary", "write_html", "write_summary"]
