"""The report as one self-contained HTML file: a Jinja2 template (autoescaped), charts
drawn as inline SVG from the numbers below, no script and nothing fetched from anywhere.

Every number shown also sits in `data-metric` / `data-value` attributes next to the
journey, channel or segment it belongs to, so a test (or a script) can read the page.
"""

from __future__ import annotations

import math
from datetime import datetime, timezone
from pathlib import Path

import jinja2

from orchestration.report.data import FLOWS_TOP, ReportData

# What a reason code means, in a marketing lead's words (codes from the journey models).
REASON_LABELS = {
    "converted": "Already converted (reached the goal)",
    "exited": "Left the journey before this step",
    "holdout": "In the holdout group (kept back to measure lift)",
    "condition_not_met": "Step condition not met",
    "no_consent": "No consent for the channel",
    "no_address": "No address for the channel",
    "expired": "Too late to send (past the maximum delay)",
    "collision": "Another journey had priority",
    "frequency_cap": "Frequency cap reached",
    "suppressed_at_send": "Stopped at send time",
    "quiet_hours": "Waiting for quiet hours to end",
}


# Names whose plain capitalisation reads wrong.
LABELS = {"sms": "SMS", "in_app": "In-app", "ab": "A/B"}


def label(name: str | None) -> str:
    """`abandoned_cart` -> `Abandoned cart`, `rfm_at_risk` -> `At risk`, `sms` -> `SMS`."""
    if not name:
        return ""
    if name in LABELS:
        return LABELS[name]
    text = name.removeprefix("rfm_").replace("_", " ")
    return text[:1].upper() + text[1:]


def segment_label(name: str, side: str) -> str:
    if name == "none":
        return "New to RFM" if side == "from" else "Dropped out of RFM"
    return label(name)


def reason_label(code: str | None) -> str:
    return REASON_LABELS.get(code or "", label(code) or "Unknown")


def count(value) -> str:
    return "–" if value is None else f"{int(value):,}"


def percent(value, digits: int = 1) -> str:
    return "–" if _missing(value) else f"{value * 100:.{digits}f}%"


def signed_percent(value, digits: int = 1) -> str:
    return "–" if _missing(value) else f"{value * 100:+.{digits}f}%"


def points(value, digits: int = 1) -> str:
    """An absolute difference of two rates, in percentage points."""
    return "–" if _missing(value) else f"{value * 100:+.{digits}f} pts"


def money(value) -> str:
    return "–" if _missing(value) else f"${value:,.0f}"


def number(value) -> str:
    """The exact value for a data-value attribute: full precision, empty when unknown."""
    if _missing(value):
        return ""
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def every(seconds) -> str:
    """A backtest's --every as it was given: 15m, 1h, 1d."""
    seconds = int(seconds)
    for unit, size in (("d", 86400), ("h", 3600)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds // 60}m"


def _missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def lift_axis(lifts: list[dict], key: str) -> dict | None:
    """A shared horizontal scale for every interval of `key` (absolute_lift or
    relative_lift), always holding 0 so "no effect" is visible, as fractions of width."""
    bounds = [v for row in lifts for v in (row[f"{key}_lower"], row[f"{key}_upper"]) if not _missing(v)]
    if not bounds:
        return None
    low, high = min(bounds + [0.0]), max(bounds + [0.0])
    pad = (high - low) * 0.08 or 0.01
    low, high = low - pad, high + pad
    return {"low": low, "high": high, "zero": (0 - low) / (high - low)}


def position(value, axis: dict) -> float:
    return (value - axis["low"]) / (axis["high"] - axis["low"])


VERDICTS = {
    "positive": "Working: treated customers convert more than the holdout",
    "negative": "Hurting: treated customers convert less than the holdout",
    "inconclusive": "Not clear yet: the interval includes no effect",
    "no_holdout": "No holdout: lift can't be measured",
}


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("orchestration.report", "templates"),
        autoescape=True,  # journey names, reasons and segment names are data: always escaped
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(label=label, reason_label=reason_label, count=count, percent=percent,
                       signed_percent=signed_percent, points=points, money=money, number=number,
                       segment_label=segment_label, every=every)
    env.globals.update(position=position, verdicts=VERDICTS, missing=_missing)
    return env


def render_report(data: ReportData, generated_at: datetime | None = None) -> str:
    generated_at = generated_at or datetime.now(timezone.utc).replace(microsecond=0)
    funnels = data.funnels
    measured = [row for row in data.lifts if row["control_units"]]
    headline = {
        "journeys": len(funnels),
        "entered": sum(r["entered"] for r in funnels),
        "converted": sum(r["converted"] for r in funnels),
        "active": sum(r["active"] for r in funnels),
        "sent": sum(r["sent"] for r in funnels),
        "suppressed": sum(r["suppressed"] for r in funnels),
        "working": sum(r["lift_verdict"] == "positive" for r in data.lifts),
        "measured": len(measured),
    }
    flows = data.flows[:FLOWS_TOP]
    return _environment().get_template("report.html.j2").render(
        data=data,
        headline=headline,
        generated_at=generated_at,
        measured=measured,
        unmeasured=[row for row in data.lifts if not row["control_units"]],
        absolute_axis=lift_axis(measured, "absolute_lift"),
        relative_axis=lift_axis(measured, "relative_lift"),
        variant_axis=lift_axis(data.variants, "absolute_lift"),
        flows=flows,
        flows_max=max((f["customers"] for f in flows), default=0),
        reasons_max=max((r["suppressed"] for r in data.suppression_by_reason), default=0),
    )


def write_report(con, out: Path, generated_at: datetime | None = None) -> ReportData:
    from orchestration.report.data import load_report_data

    data = load_report_data(con)
    out.write_text(render_report(data, generated_at), encoding="utf-8")
    return data
