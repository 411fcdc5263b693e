"""What the report shows, read from the analytics models in the warehouse.

Every figure comes from one of the `analytics` models (docs/analytics.md); nothing is
recomputed here, so the report, the Dagster metadata and an analyst's SQL agree.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import duckdb

from orchestration.journeys.compiler import load_project
from orchestration.report import canvas

# Models the report reads; a warehouse built before they existed still gets a report.
MODELS = ("journey_funnel", "journey_lift", "journey_variant_results", "rfm_segment_transitions",
          "channel_performance", "journey_suppression_reasons")

SUPPRESSION_TOP = 10
FLOWS_TOP = 12


@dataclass
class ReportData:
    as_of: datetime | None = None  # the latest journey entry: how fresh the data is
    missing: list[str] = field(default_factory=list)  # analytics models not built yet
    funnels: list[dict] = field(default_factory=list)
    lifts: list[dict] = field(default_factory=list)
    variants: list[dict] = field(default_factory=list)
    flows_build: int | None = None
    flows_at: datetime | None = None
    flows: list[dict] = field(default_factory=list)
    channels: list[dict] = field(default_factory=list)
    suppression_by_reason: list[dict] = field(default_factory=list)
    suppressions: list[dict] = field(default_factory=list)
    canvases: list[tuple[str, str]] = field(default_factory=list)  # (journey, inline SVG), canvas.py
    source_revenue: list[dict] = field(default_factory=list)  # only with Shopify or Stripe on (docs/sources.md)
    mrr_movements: list[dict] = field(default_factory=list)  # only with Stripe on: per month, newest first
    backtests: list[dict] = field(default_factory=list)  # each journey's latest `throughline backtest`

    @property
    def empty(self) -> bool:
        return not self.funnels


def _rows(con: duckdb.DuckDBPyConnection, sql: str, params: list | None = None) -> list[dict]:
    cursor = con.execute(sql, params or [])
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row)) for row in cursor.fetchall()]


def load_report_data(con: duckdb.DuckDBPyConnection) -> ReportData:
    built = {name for (name,) in con.execute(
        "select table_name from information_schema.tables where table_schema = 'analytics'").fetchall()}
    data = ReportData(missing=[m for m in MODELS if m not in built])

    if "journey_funnel" in built:
        # Biggest journeys first: that is where the marketing lead looks.
        data.funnels = _rows(con, "select * from analytics.journey_funnel order by entered desc, journey")
        data.as_of = con.execute("select max(entered_at) from journeys.journey_instances").fetchone()[0]
    if "journey_lift" in built:
        data.lifts = _rows(con, "select * from analytics.journey_lift order by treated_units + control_units desc, journey")
    if "journey_variant_results" in built:
        data.variants = _rows(con, "select * from analytics.journey_variant_results order by journey, step_id, variant")
    if "rfm_segment_transitions" in built:
        # The latest build's moves: last period's flows, not the sum of every period.
        latest = con.execute("select max(build_number) from analytics.rfm_segment_transitions").fetchone()[0]
        if latest is not None:
            data.flows_build = latest
            data.flows = _rows(con, """
                select from_segment, to_segment, customers, changed_at
                from analytics.rfm_segment_transitions where build_number = ?
                order by customers desc, from_segment, to_segment""", [latest])
            data.flows_at = min(f["changed_at"] for f in data.flows)
    if "channel_performance" in built:
        data.channels = _rows(con, "select * from analytics.channel_performance order by actions desc, channel")
    if "journey_suppression_reasons" in built:
        data.suppression_by_reason = _rows(con, """
            select reason_code, sum(suppressed) as suppressed, count(distinct journey) as journeys
            from analytics.journey_suppression_reasons
            group by reason_code order by suppressed desc, reason_code""")
        data.suppressions = _rows(con, """
            select journey, step_id, reason_code, suppressed, customers, example_reason
            from analytics.journey_suppression_reasons
            order by suppressed desc, journey, step_id, reason_code limit ?""", [SUPPRESSION_TOP])
    if built.issuperset(canvas.NEEDS):
        journeys, _, _ = load_project()
        data.canvases = canvas.journey_canvases(con, journeys)
    if "source_revenue" in built:
        data.source_revenue = _rows(con, "select * from analytics.source_revenue order by source")
    if "mrr_movements" in built:
        data.mrr_movements = _rows(con, "select * from analytics.mrr_movements order by movement_month desc limit 12")
    if "journey_backtests" in built:
        data.backtests = load_backtests(con, built)
    return data


BACKTEST_OUTCOMES = ("would_send", "suppressed", "deferred", "converted")
WINDOW = "backtest_id, journey, from_at, to_at, every_seconds, instants, created_at"


def load_backtests(con, built: set[str]) -> list[dict]:
    """Each journey's latest backtest (by created_at): its window, its totals per step and
    outcome (suppressed also by reason), the customers most affected and its canvas. A
    backtest that decided nothing has no journey_backtests rows, only canvas rows."""
    windows = _rows(con, f"select distinct {WINDOW} from analytics.journey_backtests")
    if "journey_backtest_canvas" in built:
        windows += _rows(con, f"select distinct {WINDOW} from analytics.journey_backtest_canvas")
    latest: dict[str, dict] = {}
    for window in windows:
        if window["journey"] not in latest or window["created_at"] > latest[window["journey"]]["created_at"]:
            latest[window["journey"]] = window
    journeys = {journey.name: journey for journey in load_project()[0]} if latest else {}
    backtests = []
    for name, window in sorted(latest.items()):
        backtest_id = window["backtest_id"]
        totals = _rows(con, """
            select step_id, outcome, reason_code, sum(actions) as actions from analytics.journey_backtests
            where backtest_id = ? group by step_id, outcome, reason_code""", [backtest_id])
        steps: dict[str, dict] = {}
        for row in totals:
            step = steps.setdefault(row["step_id"], {"step_id": row["step_id"], **dict.fromkeys(BACKTEST_OUTCOMES, 0), "reasons": []})
            step[row["outcome"]] += int(row["actions"])
            if row["outcome"] == "suppressed":
                step["reasons"].append((row["reason_code"], int(row["actions"])))
        for step in steps.values():
            step["reasons"].sort(key=lambda reason: (-reason[1], reason[0] or ""))
        order = {node.id: number for number, node in enumerate(canvas.layout(journeys[name]).nodes)} if name in journeys else {}
        backtest = {**window, "steps": sorted(steps.values(), key=lambda s: (order.get(s["step_id"], len(order)), s["step_id"])),
                    "customers": [], "canvas": None}
        if "journey_backtest_customers" in built:
            backtest["customers"] = _rows(con, """
                select customer_id, would_send, suppressed, deferred, converted from analytics.journey_backtest_customers
                where backtest_id = ? order by customer_rank""", [backtest_id])
        if "journey_backtest_canvas" in built and name in journeys:
            rows = con.execute("select node_id, count_index, label, metric, value, note from analytics.journey_backtest_canvas "
                               "where backtest_id = ?", [backtest_id]).fetchall()
            if rows:
                drawn = canvas.with_stored_counts(canvas.layout(journeys[name]), rows)
                backtest["canvas"] = canvas.render_svg(drawn, backtest_id=backtest_id)
        backtests.append(backtest)
    return backtests
