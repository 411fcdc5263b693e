"""Acceptance 3: `throughline report` writes one HTML file that renders in headless
Chromium with no console message, and the numbers on the page are the warehouse's.

The page is read the way a person reads it, after rendering (`--dump-dom`): every
figure sits in an element with `data-metric` and `data-value`, beside `data-journey`,
`data-channel`, `data-reason`... The test compares each with its own query of the
analytics models, and the text shown with the value it claims to show.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import duckdb
import pytest

from orchestration.report import load_report_data, render_report
from tests.analytics.demo_warehouse import ROOT, build_demo_warehouse
from tests.report.chromium import data_elements, render

THROUGHLINE = Path(sys.executable).parent / "throughline"


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory, dbt_manifest) -> Path:
    return build_demo_warehouse(tmp_path_factory.mktemp("report"), customers=400, days=45, seed=23)


@pytest.fixture(scope="module")
def page(warehouse: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict]]:
    out = tmp_path_factory.mktemp("page") / "report.html"
    env = os.environ | {"THROUGHLINE_WAREHOUSE": str(warehouse)}
    result = subprocess.run([str(THROUGHLINE), "report", "--out", str(out)], cwd=ROOT, env=env,
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    rendered = render(out)
    assert rendered.console == [], rendered.console
    return out, data_elements(rendered.dom)


def query(warehouse: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return con.execute(sql).fetchall()


def on_page(elements: list[dict], key: str) -> dict[tuple[str, str], dict]:
    """{(the element's `key` attribute, metric): element} for elements that carry `key`."""
    found: dict[tuple[str, str], dict] = {}
    for element in elements:
        if key in element:
            assert (element[key], element["metric"]) not in found, f"{key}={element[key]} {element['metric']} twice"
            found[(element[key], element["metric"])] = element
    return found


def same(element: dict, expected) -> bool:
    """The data-value is the warehouse's figure; an unknown figure is empty on the page."""
    if expected is None or (isinstance(expected, float) and math.isnan(expected)):
        return element["value"] == "" and element["text"].strip() == "–"
    return float(element["value"]) == pytest.approx(float(expected), rel=1e-12, abs=1e-12)


def shows(element: dict) -> str:
    """A count as the page prints it: 1,234."""
    return element["text"].strip().replace(",", "")


def test_the_self_contained_file_renders_without_console_errors(page) -> None:
    out, elements = page
    html = out.read_text()
    # Self-contained: no script, no stylesheet or image from elsewhere, and the CSP
    # would turn any such load into a console error, which `page` already rules out.
    assert "<script" not in html and "http://" not in html and "https://" not in html
    assert "Content-Security-Policy" in html and "<svg" in html
    assert len(elements) > 100


FUNNEL = ("entered", "converted", "exited", "active", "actions", "suppressed", "sent", "delivered", "opened", "clicked")


def test_funnels_on_the_page_are_the_warehouse_funnels(warehouse: Path, page) -> None:
    _, elements = page
    shown = on_page(elements, "journey")
    rows = query(warehouse, f"select journey, {', '.join(FUNNEL)} from analytics.journey_funnel")
    assert len(rows) >= 5
    for journey, *values in rows:
        for metric, value in zip(FUNNEL, values):
            element = shown[(journey, metric)]
            assert same(element, value) and shows(element) == str(value), (journey, metric, element)
        entered, converted, exited, active = values[:4]
        assert entered == converted + exited + active  # and the page shows the same reconciliation

    totals = query(warehouse, "select sum(entered), sum(converted), sum(active), sum(sent) from analytics.journey_funnel")[0]
    headline = {e["metric"]: e for e in elements if e["metric"].startswith("total_")}
    for metric, value in zip(("total_entered", "total_converted", "total_active", "total_sent"), totals):
        assert same(headline[metric], value) and shows(headline[metric]) == str(value)


LIFT = ("treated_units", "control_units", "treated_rate", "control_rate", "absolute_lift", "absolute_lift_lower",
        "absolute_lift_upper", "relative_lift", "relative_lift_lower", "relative_lift_upper")


def test_lift_with_its_interval_is_the_warehouse_lift(warehouse: Path, page) -> None:
    _, elements = page
    shown = on_page(elements, "journey")
    rows = query(warehouse, f"select journey, lift_verdict, control_units, {', '.join(LIFT)} from analytics.journey_lift")
    with_holdout = [row for row in rows if row[2]]
    assert with_holdout and len(with_holdout) < len(rows), "the demo has journeys with and without a holdout"
    for journey, verdict, control_units, *values in rows:
        assert shown[(journey, "lift_verdict")]["value"] == verdict
        if not control_units:  # no holdout: named, and no lift figures invented for it
            assert verdict == "no_holdout" and (journey, "absolute_lift") not in shown
            continue
        for metric, value in zip(LIFT, values):
            assert same(shown[(journey, metric)], value), (journey, metric)
        # The text shows the same figure, rounded: points for absolute.
        absolute = shown[(journey, "absolute_lift")]["text"]
        assert absolute == f"{values[LIFT.index('absolute_lift')] * 100:+.1f} pts"
    working = next(e for e in elements if e["metric"] == "journeys_working")
    assert same(working, sum(verdict == "positive" for _, verdict, *_ in rows))


def test_channels_segment_flows_and_suppressions_are_the_warehouse_figures(warehouse: Path, page) -> None:
    _, elements = page
    channels = on_page(elements, "channel")
    rows = query(warehouse, "select channel, actions, suppressed, sent, delivery_rate, open_rate, click_rate, bounce_rate, "
                            "attributed_revenue_usd from analytics.channel_performance")
    assert rows
    for channel, *values in rows:
        for metric, value in zip(("actions", "suppressed", "sent", "delivery_rate", "open_rate", "click_rate",
                                  "bounce_rate", "attributed_revenue_usd"), values):
            assert same(channels[(channel, metric)], value), (channel, metric)

    flows = {(e["from"], e["to"]): e for e in elements if "from" in e}
    latest = query(warehouse, """
        select from_segment, to_segment, customers from analytics.rfm_segment_transitions
        where build_number = (select max(build_number) from analytics.rfm_segment_transitions)
        order by customers desc, from_segment, to_segment limit 12""")
    assert latest and set(flows) == {(f, t) for f, t, _ in latest}
    for from_segment, to_segment, customers in latest:
        assert same(flows[(from_segment, to_segment)], customers)

    by_reason = on_page(elements, "reason")
    reasons = query(warehouse, "select reason_code, sum(suppressed) from analytics.journey_suppression_reasons group by 1")
    assert {r for r, _ in by_reason} == {r for r, _ in reasons}
    for reason, suppressed in reasons:
        assert same(by_reason[(reason, "suppressed")], suppressed)

    top = on_page(elements, "suppression")
    biggest = query(warehouse, """
        select journey || ':' || step_id || ':' || reason_code, suppressed, customers
        from analytics.journey_suppression_reasons order by suppressed desc, journey, step_id, reason_code limit 10""")
    assert {key for key, _ in top} == {key for key, *_ in biggest}
    for key, suppressed, customers in biggest:
        assert same(top[(key, "suppressed")], suppressed) and same(top[(key, "customers")], customers)


def test_every_journey_is_a_canvas_whose_counts_are_the_warehouse_figures(warehouse: Path, page) -> None:
    _, elements = page
    shown = {(e["canvas"], e["node"], e["metric"]): int(e["value"]) for e in elements if "canvas" in e}
    journeys = {journey for journey, _, _ in shown}
    assert {row[0] for row in query(warehouse, "select distinct journey from analytics.journey_funnel")} <= journeys
    assert len(journeys) == len(list((ROOT / "dbt_project" / "journeys").glob("*.yml"))) - 1, "every journey but policies.yml"
    for journey, treated, holdout, converted, exited, active in query(
            warehouse, "select journey, entered_treatment, entered_control, converted, exited, active from analytics.journey_funnel"):
        assert (shown[(journey, "entry", "entered_treatment")], shown[(journey, "entry", "entered_control")]) == (treated, holdout)
        assert [shown[(journey, "exit", m)] for m in ("converted", "exited", "active")] == [converted, exited, active]
    for journey, step, arm, actions, sent, suppressed, due in query(
            warehouse, "select journey, step_id, arm, actions, sent, suppressed, due + deferred from analytics.journey_step_funnel"):
        if arm == "control":
            assert shown[(journey, step, "holdout")] == actions
        else:
            assert [shown[(journey, step, m)] for m in ("reached", "sent", "suppressed", "due")] == [actions, sent, suppressed, due]

    # trial_onboarding branches: both arms are drawn, and each wait counts who is held there now.
    assert {"integration_tips", "connect_nudge", "stuck_help"} <= {n for j, n, _ in shown if j == "trial_onboarding"}
    active = ("from journeys.journey_instances i where i.journey = 'trial_onboarding' and i.arm = 'treatment' "
              "and i.state = 'active' and ")
    reached = "exists (select 1 from analytics.int_analytics__journey_actions a where a.instance_id = i.instance_id{})"
    before_any = query(warehouse, "select count(*) " + active + "not " + reached.format(""))[0][0]
    after_nudge = query(warehouse, "select count(*) " + active + reached.format(" and a.step_id = 'connect_nudge'")
                        + " and not " + reached.format(" and a.step_id = 'stuck_help'"))[0][0]
    assert shown[("trial_onboarding", "wait_1", "waiting")] == before_any
    assert shown[("trial_onboarding", "wait_until_5", "waiting")] == after_nudge


def test_a_page_with_a_script_error_or_an_external_load_is_caught(tmp_path: Path) -> None:
    """The console check is real: the same instrument sees a broken page."""
    broken = tmp_path / "broken.html"
    broken.write_text("<!doctype html><p data-metric='x' data-value='1'>1</p><script>notDefined();</script>")
    rendered = render(broken)
    assert any("notDefined" in message for message in rendered.console), rendered.console

    external = tmp_path / "external.html"
    head = (ROOT / "orchestration/report/templates/report.html.j2").read_text().split("<style>")[0]
    external.write_text(head + "</head><body><img src='https://example.com/logo.png'></body></html>")
    assert any("Content Security Policy" in message for message in render(external).console)


def test_an_empty_warehouse_gets_a_report_that_says_so(tmp_path: Path) -> None:
    warehouse = tmp_path / "empty.duckdb"
    duckdb.connect(str(warehouse)).close()
    out = tmp_path / "report.html"
    result = subprocess.run([str(THROUGHLINE), "report", "--out", str(out)], cwd=ROOT,
                            env=os.environ | {"THROUGHLINE_WAREHOUSE": str(warehouse)}, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    rendered = render(out)
    assert rendered.console == []
    assert 'id="no-data"' in rendered.dom and "journey_funnel" in rendered.dom  # names what is not built
    assert data_elements(rendered.dom) == []


def test_no_warehouse_is_an_error_not_an_empty_report(tmp_path: Path) -> None:
    result = subprocess.run([str(THROUGHLINE), "report", "--out", str(tmp_path / "r.html")], cwd=ROOT,
                            env=os.environ | {"THROUGHLINE_WAREHOUSE": str(tmp_path / "missing.duckdb")},
                            capture_output=True, text=True)
    assert result.returncode == 2 and "no warehouse" in result.stderr
    assert not (tmp_path / "r.html").exists() and not (tmp_path / "missing.duckdb").exists()


def test_names_from_the_data_are_escaped(warehouse: Path) -> None:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        data = load_report_data(con)
    data.funnels[0]["journey"] = "<script>alert(1)</script>"
    data.suppressions[0]["example_reason"] = "Not sent: <img src=x onerror=alert(1)>"
    html = render_report(data, generated_at=datetime(2026, 3, 2, 8, 0))
    assert "<script>alert" not in html and "<img src=x" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_ab_variants_and_a_journey_without_conversions_render(tmp_path: Path) -> None:
    """The demo journeys have no A/B step; the section is drawn from rows shaped like
    journey_variant_results, with an undefined relative lift among them."""
    from orchestration.report import ReportData

    funnel = {"journey": "onboarding_test", "entered": 200, "entered_treatment": 180, "entered_control": 20,
              "converted": 0, "exited": 150, "active": 50, "actions": 180, "suppressed": 30, "sent": 150,
              "delivered": 140, "opened": 70, "clicked": 10}
    variant = {"journey": "onboarding_test", "step_id": "welcome", "variant": "b", "baseline_variant": "a",
               "treated_units": 90, "treated_conversions": 9, "control_units": 90, "control_conversions": 0,
               "treated_rate": 0.1, "control_rate": 0.0, "absolute_lift": 0.1, "absolute_lift_lower": 0.03,
               "absolute_lift_upper": 0.18, "relative_lift": None, "relative_lift_lower": None, "relative_lift_upper": None}
    out = tmp_path / "report.html"
    out.write_text(render_report(ReportData(funnels=[funnel], variants=[variant]), generated_at=datetime(2026, 3, 2)))
    rendered = render(out)
    assert rendered.console == []
    shown = on_page(data_elements(rendered.dom), "variant")
    key = "onboarding_test:welcome:b"
    assert same(shown[(key, "absolute_lift")], 0.1) and same(shown[(key, "absolute_lift_lower")], 0.03)
    assert same(shown[(key, "relative_lift")], None)  # undefined: shown as a dash, not 0
    funnels = on_page(data_elements(rendered.dom), "journey")
    assert same(funnels[("onboarding_test", "converted")], 0) and same(funnels[("onboarding_test", "clicked")], 10)
    assert 'id="no-flows"' in rendered.dom and 'id="no-channels"' in rendered.dom
