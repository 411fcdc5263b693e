"""`throughline report`: one self-contained HTML file a marketing lead opens on Monday."""

from orchestration.report.data import ReportData, load_report_data
from orchestration.report.render import render_report, write_report

__all__ = ["ReportData", "load_report_data", "render_report", "write_report"]
