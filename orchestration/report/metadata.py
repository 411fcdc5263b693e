"""A journey's funnel and lift as Dagster metadata: plain numbers (which the UI plots
across materializations) and two markdown charts (which the UI renders): the funnel as
bars, the lift as its 95% interval on a line that marks zero.

The figures are the `journey_funnel` and `journey_lift` rows, read after the build, so
the asset, the report and an analyst's query never disagree.
"""

from __future__ import annotations

import math

import dagster as dg
import duckdb

FUNNEL_METRICS = ("entered", "entered_treatment", "entered_control", "converted", "exited", "active",
                  "actions", "suppressed", "sent", "delivered", "opened", "clicked", "bounced")
LIFT_METRICS = ("treated_rate", "control_rate", "absolute_lift", "absolute_lift_lower", "absolute_lift_upper",
                "relative_lift", "relative_lift_lower", "relative_lift_upper")
BAR_WIDTH = 24
INTERVAL_WIDTH = 41


def _known(value) -> bool:
    return value is not None and not (isinstance(value, float) and math.isnan(value))


def _bar(value: int, maximum: int) -> str:
    """A unicode bar in eighths of a block, so small differences still show."""
    eighths = round(BAR_WIDTH * 8 * value / maximum) if maximum else 0
    return "█" * (eighths // 8) + ("", "▏", "▎", "▍", "▌", "▋", "▊", "▉")[eighths % 8]


def funnel_markdown(funnel: dict) -> str:
    stages = (("Entered", funnel["entered"]), ("Converted", funnel["converted"]), ("Exited", funnel["exited"]),
              ("Still active", funnel["active"]))
    messages = (("Planned", funnel["actions"]), ("Held back", funnel["suppressed"]), ("Sent", funnel["sent"]),
                ("Delivered", funnel["delivered"]), ("Opened", funnel["opened"]), ("Clicked", funnel["clicked"]))
    lines = ["| customers | | |", "|---|---:|---|"]
    lines += [f"| {name} | {value:,} | {_bar(value, funnel['entered'])} |" for name, value in stages]
    lines += ["", "| messages | | |", "|---|---:|---|"]
    lines += [f"| {name} | {value:,} | {_bar(value, funnel['actions'])} |" for name, value in messages]
    return "\n".join(lines)


def interval_line(lower: float, point: float, upper: float, width: int = INTERVAL_WIDTH) -> str:
    """`  ├───●──┼──────┤` : the interval, the estimate (●) and zero (┼ inside, | outside)."""
    low, high = min(lower, 0.0), max(upper, 0.0)
    span = (high - low) or 1.0

    def at(value: float) -> int:
        return round((value - low) / span * (width - 1))

    cells = [" "] * width
    for i in range(at(lower), at(upper) + 1):
        cells[i] = "─"
    cells[at(lower)], cells[at(upper)] = "├", "┤"
    zero = at(0.0)
    cells[zero] = "┼" if at(lower) < zero < at(upper) else "|" if cells[zero] == " " else cells[zero]
    cells[at(point)] = "●"
    return "".join(cells)


def lift_markdown(lift: dict) -> str:
    if not lift["control_units"]:
        return "No holdout: lift can't be measured (set `holdout_percent` on the journey)."
    lines = [f"treated {lift['treated_rate']:.1%} of {lift['treated_units']:,} vs holdout "
             f"{lift['control_rate']:.1%} of {lift['control_units']:,}: **{lift['lift_verdict']}**", "", "```"]
    absolute = [lift[k] for k in ("absolute_lift_lower", "absolute_lift", "absolute_lift_upper")]
    lines.append(f"absolute {absolute[1] * 100:+6.1f} pts  95% [{absolute[0] * 100:+.1f}, {absolute[2] * 100:+.1f}]")
    lines.append(f"         {interval_line(*absolute)}")
    relative = [lift[k] for k in ("relative_lift_lower", "relative_lift", "relative_lift_upper")]
    if all(_known(v) for v in relative):
        lines.append(f"relative {relative[1] * 100:+6.1f} %    95% [{relative[0] * 100:+.1f}, {relative[2] * 100:+.1f}]")
        lines.append(f"         {interval_line(*relative)}")
    else:
        lines.append("relative: undefined (no conversions in an arm)")
    lines.append("```")
    return "\n".join(lines)


def _rows(con: duckdb.DuckDBPyConnection, sql: str) -> dict[str, dict]:
    cursor = con.execute(sql)
    names = [d[0] for d in cursor.description]
    return {row[0]: dict(zip(names, row)) for row in cursor.fetchall()}


def journey_metadata(con: duckdb.DuckDBPyConnection) -> dict[str, dict[str, dg.MetadataValue]]:
    """{journey: metadata} for every journey in `analytics.journey_funnel`: funnel, lift, canvas."""
    from orchestration.journeys.compiler import load_project
    from orchestration.report.canvas import build_canvas, canvas_markdown

    funnels = _rows(con, "select * from analytics.journey_funnel")
    lifts = _rows(con, "select * from analytics.journey_lift")
    journeys = {journey.name: journey for journey in load_project()[0]}
    out = {}
    for journey, funnel in funnels.items():
        metadata: dict[str, dg.MetadataValue] = {f"funnel/{m}": dg.MetadataValue.int(int(funnel[m])) for m in FUNNEL_METRICS}
        metadata["funnel"] = dg.MetadataValue.md(funnel_markdown(funnel))
        lift = lifts.get(journey)
        if lift:
            # Undefined figures (no holdout, no conversions) are left out rather than shown as 0.
            metadata.update({f"lift/{m}": dg.MetadataValue.float(float(lift[m])) for m in LIFT_METRICS if _known(lift[m])})
            metadata["lift/verdict"] = dg.MetadataValue.text(lift["lift_verdict"])
            metadata["lift"] = dg.MetadataValue.md(lift_markdown(lift))
        if journey in journeys:
            metadata["canvas"] = dg.MetadataValue.md(canvas_markdown(build_canvas(con, journeys[journey])))
        out[journey] = metadata
    return out
