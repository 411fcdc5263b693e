"""`throughline backtest`: a window that ran tick by tick, replayed in a scratch copy,
gives exactly the sends the ledger holds, and leaves the real warehouse as it was."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta

import pytest

from orchestration.backtest import (BacktestError, counted_from, format_comparison, journey_yaml_at, run_backtest,
                                   run_comparison)
from orchestration.cli import main
from tests.engines import environment
from tests.journeys.timeline import JourneyWarehouse, Timeline, engine_env_for, hours

T0 = datetime(2026, 5, 4, 15, 0)  # 11:00 in New York (EDT); the next ticks at 10:00 and 09:00, outside quiet hours
EVERY = timedelta(hours=23)  # a cart's SMS is due 23 hours after its email went out
TICKS = [T0 + n * EVERY for n in range(3)]
JOURNEY = "abandoned_cart"
STATE_TABLES = ("raw.delivery_ledger", "journeys.journey_decisions", "journeys.journey_instances", f"journeys.journey__{JOURNEY}")


def history() -> Timeline:
    t = Timeline(prefix="bt")
    # The reminder email an hour after the cart, late, at the second tick; the SMS at the
    # third is the same offer, sent within a day: suppressed by the backtest's own send.
    t.person("early", T0 - hours(40), email="early@example.com", phone="+12025550142", consent=("email", "sms"))
    t.track("early", "cart_added", T0 - hours(0.5), cart_id="k1", product_id="prod_0001", name="Notebook", price=30)
    # Carts between ticks.
    t.person("later", T0 - hours(40), email="later@example.com")
    t.track("later", "cart_added", T0 + hours(1.5), cart_id="k2", product_id="prod_0002", name="Pen", price=25)
    # Buys the carted product before the email is due: converted, nothing sent.
    t.person("buyer", T0 - hours(40), email="buyer@example.com")
    t.track("buyer", "cart_added", T0 - hours(0.5), cart_id="k3", product_id="prod_0003", name="Ink", price=40)
    t.track("buyer", "product_purchased", T0 + hours(0.2), order_id="o3", product_id="prod_0003", price=40, quantity=1)
    # The email at the first tick, the SMS (the same offer) at the second.
    t.person("texter", T0 - hours(60), email="texter@example.com", phone="+12025550143", consent=("email", "sms"))
    t.track("texter", "cart_added", T0 - hours(1.5), cart_id="k4", product_id="prod_0004", name="Lamp", price=60)
    # A lead who gets a case study (lead_follow_up) and a newsletter welcome at the first
    # tick: the cart email at the second passes the daily cap of two emails.
    t.person("capped", T0 - hours(40), email="capped@example.com")
    for minutes in (180, 150, 132):
        t.track("capped", "pricing_page_viewed", T0 - timedelta(minutes=minutes), path="/pricing")
    t.track("capped", "newsletter_subscribed", T0 - hours(1), list="weekly")
    t.track("capped", "cart_added", T0 - hours(0.3), cart_id="k5", product_id="prod_0006", name="Vase", price=35)
    # Carts just before the last tick, which sends the email.
    t.person("last_minute", T0 - hours(40), email="last@example.com")
    t.track("last_minute", "cart_added", TICKS[-1] - hours(1.2), cart_id="k6", product_id="prod_0007", name="Mug", price=22)
    # Signed up and carted: the cart outranks the welcome email and the product push.
    for user in ("busy_1", "busy_2", "busy_3"):
        t.person(user, T0 - hours(0.9), email=f"{user}@example.com", consent=("email", "push"))
        t.track(user, "signup_completed", T0 - hours(0.8), plan="trial")
        t.track(user, "product_viewed", T0 - hours(0.9), product_id="prod_0005", category="pens", price=6)
        t.track(user, "cart_added", T0 - hours(0.7), cart_id=f"k-{user}", product_id="prod_0005", name="Gel Pen", price=26)
    return t


def sync_due_actions(warehouse: JourneyWarehouse, at: datetime) -> None:
    """What a message sync does with the due actions of a tick: each is accepted and sent at `at`."""
    due = warehouse.query("select action_id, journey, step_id, customer_id, channel, destination, offer from journeys.journey_actions_due")
    warehouse.add_ledger([{"action_id": a, "status": "sent", "sent_at": at, "destination": dest, "journey": j, "step_id": step,
                           "customer_id": customer, "channel": channel, "offer": offer, "recorded_at": at}
                          for a, j, step, customer, channel, dest, offer in due])


def state(warehouse: JourneyWarehouse) -> dict[str, list]:
    return {table: sorted(map(repr, warehouse.query(f"select * from {table}"))) for table in STATE_TABLES}


@pytest.fixture(scope="module", params=["duckdb", "postgres"])
def ran(request, tmp_path_factory, dbt_manifest) -> dict:
    """The window run tick by tick (every journey), then backtested at the same instants."""
    warehouse = JourneyWarehouse(tmp_path_factory.mktemp("backtest"), history(), engine_env_for(request, "journey_backtest"))
    for at in TICKS:
        warehouse.decide(at)
        sync_due_actions(warehouse, at)
    before = state(warehouse)
    with environment(warehouse.engine_env):
        result = run_backtest(JOURNEY, TICKS[0], TICKS[-1], EVERY)
        after = state(warehouse)
        welcome = run_backtest("welcome_signup", TICKS[0], TICKS[-1], EVERY)
    return {"warehouse": warehouse, "result": result, "welcome": welcome, "before": before, "after": after}


def test_the_backtest_sends_exactly_what_the_ledger_holds(ran):
    warehouse, result = ran["warehouse"], ran["result"]
    ledger = set(warehouse.query("select customer_id, step_id, sent_at from raw.delivery_ledger "
                                 "where journey = ? and status = 'sent'", [JOURNEY]))
    simulated = [(s.customer_id, s.step_id, s.at) for s in result.sends]
    assert len(simulated) == len(set(simulated)), "no action is simulated twice"
    assert set(simulated) == ledger
    assert len({at for _, _, at in ledger}) >= 2, "the window's sends fall at several instants"
    assert len(result.instants) == len(TICKS) == len(result.seconds_per_instant)
    # The same suppressions, with the same reasons, as the ticks decided.
    decided = warehouse.query("select step_id, reason_code, count(*) from journeys.journey_decisions "
                              "where journey = ? and status = 'suppressed' and scheduled_at > ? group by step_id, reason_code",
                              [JOURNEY, counted_from(TICKS[0])])
    assert {(step, reason): n for step, reason, n in decided} == suppressions(result.rows)
    assert ("cart_email", "converted") in {(step, reason) for step, reason, _ in decided}
    # The SMS counts from when the email went out: at the first instant, in the backtest's own ledger.
    texter = warehouse.customer_of("texter")
    assert {(texter, "cart_email", TICKS[0]), (texter, "cart_sms", TICKS[2])} <= ledger
    assert (warehouse.customer_of("last_minute"), "cart_email", TICKS[-1]) in ledger


def suppressions(rows: list[dict]) -> Counter:
    counted = Counter()
    for r in rows:
        if r["outcome"] == "suppressed":
            counted[(r["step_id"], r["reason_code"])] += r["actions"]
    return counted


def test_a_lower_priority_journey_collides_with_the_others_as_they_decided(ran):
    """welcome_signup sent nothing: the cart outranked it. Replayed alone, without the other
    journeys' decisions at each instant, it would have sent three welcomes."""
    warehouse, result = ran["warehouse"], ran["welcome"]
    assert warehouse.query("select count(*) from raw.delivery_ledger where journey = 'welcome_signup'") == [(0,)]
    assert result.sends == []
    decided = warehouse.query("select step_id, reason_code, count(*) from journeys.journey_decisions "
                              "where journey = 'welcome_signup' and status = 'suppressed' and scheduled_at > ? "
                              "group by step_id, reason_code", [counted_from(TICKS[0])])
    assert decided and {(step, reason): n for step, reason, n in decided} == suppressions(result.rows)


def test_the_real_warehouse_is_unchanged_but_for_the_results_table(ran):
    assert ran["after"] == ran["before"]
    result = ran["result"]
    rows = ran["warehouse"].query("select outcome, sum(actions) from analytics.journey_backtests where backtest_id = ? "
                                  "group by outcome", [result.backtest_id])
    counts = {outcome: int(n) for outcome, n in rows}
    assert counts["would_send"] == len(result.sends)
    assert counts["suppressed"] == sum(r["actions"] for r in result.rows if r["outcome"] == "suppressed") > 0


def test_bad_requests_are_clear_errors(ran, capsys, tmp_path):
    other, broken = tmp_path / "other.yml", tmp_path / "broken.yml"
    other.write_text("name: upsell\n")
    broken.write_text("name: abandoned_cart\nentry: {event: no_such_event}\nsteps: []\n")
    with environment(ran["warehouse"].engine_env):
        with pytest.raises(BacktestError, match=r"--against .*other.yml: it declares the journey 'upsell', not 'abandoned_cart'"):
            run_comparison(JOURNEY, TICKS[0], TICKS[-1], EVERY, str(other))
        with pytest.raises(BacktestError, match=r"--against .*broken.yml: .*no_such_event"):
            run_comparison(JOURNEY, TICKS[0], TICKS[-1], EVERY, str(broken))
        assert main(["backtest", JOURNEY, "--from", "2026-05-04T12:00:00", "--to", "2026-05-06T17:00",
                     "--against", str(tmp_path / "nowhere.yml")]) == 2
        assert "--against" in capsys.readouterr().err
        with pytest.raises(BacktestError, match="no journey named 'abandoned_carts'"):
            run_backtest("abandoned_carts", TICKS[0], TICKS[-1])
        with pytest.raises(BacktestError, match="--from .* is after --to"):
            run_backtest(JOURNEY, TICKS[-1], TICKS[0])
        assert main(["backtest", JOURNEY, "--from", "2026-05-04T12:00:00", "--to", "2026-05-06T17:00", "--every", "0h"]) == 2
        assert "--every wants a positive duration" in capsys.readouterr().err
        assert main(["backtest", JOURNEY, "--from", "yesterday", "--to", "2026-05-06T17:00"]) == 2
        assert "--from wants a UTC instant" in capsys.readouterr().err


@pytest.fixture(scope="module")
def against(ran, tmp_path_factory):
    """The same window against a version of the cart journey whose first wait is 2 hours, not 1."""
    from orchestration.journeys.compiler import JOURNEYS_DIR

    edited = tmp_path_factory.mktemp("against") / "abandoned_cart_2h.yml"
    working = (JOURNEYS_DIR / "abandoned_cart.yml").read_text()
    assert "  - wait: 1 hour\n" in working
    edited.write_text(working.replace("  - wait: 1 hour\n", "  - wait: 2 hours\n", 1))
    with environment(ran["warehouse"].engine_env):
        ran["against"] = run_comparison(JOURNEY, TICKS[0], TICKS[-1], EVERY, str(edited))
    return ran["against"]


# On DuckDB only: the comparison is the same Python on either engine, and the scratch copies
# it makes are the ones the tests above run on both.
@pytest.mark.parametrize("ran", ["duckdb"], indirect=True)
def test_against_another_version_lists_the_customers_a_timeline_says_change(ran, against):
    """Hand-computed from history(): with a 2-hour wait, the texter's email (cart 1.5 h before
    the first tick) is not due until after it and goes at the second tick; the last-minute
    cart (1.2 h before the last tick) is not due by the end. Every other cart is either due
    by the same tick both ways (early, later, capped, the busy ones) or bought first (buyer)."""
    warehouse = ran["warehouse"]
    texter, last_minute = warehouse.customer_of("texter"), warehouse.customer_of("last_minute")
    assert against.changed_customers == {texter, last_minute}
    by_key = {(d.customer_id, d.step_id): d for d in against.differences}
    assert by_key[(texter, "cart_email")].this == f"sent at {TICKS[0]:%Y-%m-%d %H:%M}"
    assert by_key[(texter, "cart_email")].other == f"sent at {TICKS[1]:%Y-%m-%d %H:%M}"
    assert by_key[(last_minute, "cart_email")].this == f"sent at {TICKS[2]:%Y-%m-%d %H:%M}"
    carted = TICKS[2] - hours(1.2)
    assert by_key[(last_minute, "cart_email")].other == (
        f"active, entered at {carted:%Y-%m-%d %H:%M}: the step was not due by the end of the window")
    # The working copy's sends are the ones the ledger holds; the other version's differ only there.
    assert {(s.customer_id, s.step_id, s.at) for s in against.working.sends} == set(warehouse.query(
        "select customer_id, step_id, sent_at from raw.delivery_ledger where journey = ? and status = 'sent'", [JOURNEY]))
    unchanged = {(s.customer_id, s.step_id, s.at) for s in against.working.sends if s.customer_id not in {texter, last_minute}}
    assert unchanged == {(s.customer_id, s.step_id, s.at) for s in against.other.sends if s.customer_id not in {texter, last_minute}}
    email = against.sends_by_channel["email"]
    assert email[0] == email[1] + 1, "one email fewer: the last-minute cart's"
    printed = format_comparison(against)
    assert f"this version sends 1 more email ({email[0]} against {email[1]})" in printed
    assert "2 customers differ" in printed and f"{last_minute}" in printed
    written = warehouse.query("select customer_id, step_id, this_version, other_version from analytics.journey_backtest_differences "
                              "where backtest_id = ?", [against.working.backtest_id])
    assert sorted(written) == sorted((d.customer_id, d.step_id, d.this, d.other) for d in against.differences)


def test_against_reads_a_git_ref_and_names_what_it_cannot_read(tmp_path):
    import subprocess

    journeys = tmp_path / "journeys"
    journeys.mkdir()
    (journeys / "cart.yml").write_text("name: abandoned_cart\nsteps: [{wait: 1 hour}]\n")

    def git(*args):
        subprocess.run(["git", "-C", str(tmp_path), "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
                       check=True, capture_output=True)

    git("init", "-q")
    git("add", ".")
    git("commit", "-qm", "first")
    (journeys / "cart.yml").write_text("name: abandoned_cart\nsteps: [{wait: 3 hours}]\n")
    assert journey_yaml_at("HEAD", "abandoned_cart", journeys) == ("name: abandoned_cart\nsteps: [{wait: 1 hour}]\n", "HEAD")
    with pytest.raises(BacktestError, match=r"--against nope: cannot read journeys/cart.yml there"):
        journey_yaml_at("nope", "abandoned_cart", journeys)
    with pytest.raises(BacktestError, match="--against missing.yml: no such file"):
        journey_yaml_at("missing.yml", "abandoned_cart", journeys)
    with pytest.raises(BacktestError, match="no journey file declares 'upsell'"):
        journey_yaml_at("HEAD", "upsell", journeys)


# ------------------------------------------------------------------ the backtest's canvas


def canvas_counts(canvas) -> dict[tuple[str, str], int]:
    return {(node.id, metric): value for node in canvas.nodes for _, metric, value in node.counts}


def test_the_backtest_canvas_counts_what_the_ticks_decided(ran):
    """The window ran tick by tick at the backtest's instants, so every count on the
    simulated canvas equals its query of the real warehouse as the last tick left it; the
    sends are the replay's own and the held-back ones its journey_backtests rows."""
    warehouse, result = ran["warehouse"], ran["result"]
    shown = canvas_counts(result.canvas)
    sends = [node.id for node in result.canvas.nodes if node.kind == "send"]
    assert len(sends) >= 3 and all((step, "sent") in shown for step in sends)
    assert warehouse.query("select count(*) from raw.delivery_ledger where journey = ? and sent_at < ?", [JOURNEY, TICKS[0]]) == [(0,)]
    simulated = Counter(send.step_id for send in result.sends)
    assert {step: shown[(step, "sent")] for step in sends} == {step: simulated[step] for step in sends}
    assert sum(simulated.values()) >= 3

    # Held back (treated) and the holdout's actions (suppressed as `holdout`): the suppressed rows.
    stored = warehouse.query("select step_id, reason_code, sum(actions) from analytics.journey_backtests "
                             "where backtest_id = ? and outcome = 'suppressed' group by step_id, reason_code", [result.backtest_id])
    per_step = Counter()
    for step, _, actions in stored:
        per_step[step] += int(actions)
    assert {step: shown[(step, "suppressed")] + shown[(step, "holdout")] for step in sends} == {step: per_step[step] for step in sends}
    assert sum(per_step.values()) > 0
    for step in sends:  # the note names the top reason other than the holdout, as the live canvas does
        reasons = sorted(((-int(n), reason) for s, reason, n in stored if s == step and reason != "holdout"))
        note = next(node.note for node in result.canvas.nodes if node.id == step)
        assert note == (f"top reason: {reasons[0][1]} ({-reasons[0][0]:,})" if reasons else "")

    # Reached and due per send step, from the ticks' own decisions.
    decided = {(step, arm): (n, due) for step, arm, n, due in warehouse.query(
        "select step_id, arm, count(*), sum(case when status in ('due', 'deferred') then 1 else 0 end) "
        "from journeys.journey_decisions where journey = ? group by step_id, arm", [JOURNEY])}
    for step in sends:
        reached, due = decided.get((step, "treatment"), (0, 0))
        assert (shown[(step, "reached")], shown[(step, "due")]) == (reached, int(due))
        assert shown[(step, "holdout")] == decided.get((step, "control"), (0,))[0]

    # Entry and exit: the instances by arm and by state.
    arms = dict(warehouse.query("select arm, count(*) from journeys.journey_instances where journey = ? group by arm", [JOURNEY]))
    states = Counter(dict(warehouse.query("select state, count(*) from journeys.journey_instances where journey = ? group by state",
                                          [JOURNEY])))
    assert (shown[("entry", "entered_treatment")], shown[("entry", "entered_control")]) == (arms.get("treatment", 0), arms.get("control", 0))
    assert [shown[("exit", m)] for m in ("converted", "exited", "active")] == \
        [states["converted"], states["exited"] + states["completed"], states["active"]]
    assert shown[("entry", "entered_treatment")] >= 5 and shown[("exit", "converted")] >= 1

    # Each wait: the active treated instances whose last send is the one before it (the journey has no branch).
    reached: dict[str, set] = {}
    for instance, step in warehouse.query(
            "select i.instance_id, d.step_id from journeys.journey_instances as i left join journeys.journey_decisions as d "
            "on d.instance_id = i.instance_id where i.journey = ? and i.arm = 'treatment' and i.state = 'active'", [JOURNEY]):
        reached.setdefault(instance, set()).update([step] if step else [])
    nodes = result.canvas.nodes
    waits = [i for i, node in enumerate(nodes) if node.kind in ("wait", "wait_until")]
    assert len(waits) >= 2
    for i in waits:
        before = next((n.id for n in reversed(nodes[:i]) if n.kind == "send"), None)
        after = {n.id for n in nodes[i + 1:] if n.kind == "send"}
        held = sum(1 for steps in reached.values() if (before is None or before in steps) and not steps & after)
        assert shown[(nodes[i].id, "waiting")] == held, nodes[i].id
    assert sum(shown[(nodes[i].id, "waiting")] for i in waits) > 0


def test_the_canvas_and_the_customers_most_affected_are_stored_beside_the_summary(ran):
    warehouse = ran["warehouse"]
    for result in (ran["result"], ran["welcome"]):
        stored = warehouse.query("select node_id, metric, value, from_at, to_at, instants from analytics.journey_backtest_canvas "
                                 "where backtest_id = ? and journey = ?", [result.backtest_id, result.journey])
        assert {(node, metric): int(value) for node, metric, value, *_ in stored} == canvas_counts(result.canvas)
        assert {tuple(row[3:]) for row in stored} == {(result.start, result.end, len(result.instants))}
        customers = warehouse.query("select customer_rank, customer_id, would_send, suppressed, deferred, converted "
                                    "from analytics.journey_backtest_customers where backtest_id = ? order by customer_rank",
                                    [result.backtest_id])
        assert [{"customer_id": c, "would_send": w, "suppressed": s, "deferred": d, "converted": v}
                for _, c, w, s, d, v in customers] == result.most_affected
        assert [rank for rank, *_ in customers] == list(range(1, len(result.most_affected) + 1))
    assert ran["result"].most_affected and ran["welcome"].canvas.nodes[0].counts


def test_the_canvas_as_a_file_holds_the_same_counts(ran, tmp_path):
    import xml.etree.ElementTree as ET

    from orchestration.backtest_canvas import write_canvas_svg

    result = ran["result"]
    path = tmp_path / "canvas.svg"
    write_canvas_svg(result, path)
    root = ET.parse(path).getroot()
    assert root.tag == "{http://www.w3.org/2000/svg}svg" and root.get("data-backtest") == result.backtest_id
    counts = {(t.get("data-node"), t.get("data-metric")): int(t.get("data-value")) for t in root.iter("{http://www.w3.org/2000/svg}text")
              if t.get("data-metric")}
    assert counts == canvas_counts(result.canvas)


def test_the_report_shows_each_journeys_latest_backtest(ran, tmp_path):
    """Rendered in headless Chromium: every cell of the Backtests section is its
    analytics.journey_backtests sum, the canvas its journey_backtest_canvas rows."""
    from orchestration.report import ReportData, load_report_data, render_report
    from orchestration.warehouse import connect
    from tests.report.chromium import data_elements, render

    # Each journey's latest backtest (on DuckDB the --against test may have run the cart again).
    warehouse = ran["warehouse"]
    known = {r.backtest_id: r for r in (ran["result"], ran["welcome"], *([ran["against"].working] if "against" in ran else []))}
    latest = {}
    for journey, backtest_id in warehouse.query("select journey, backtest_id from analytics.journey_backtests "
                                                "group by journey, backtest_id order by max(created_at)"):
        latest[journey] = backtest_id
    results = (known[latest[JOURNEY]], known[latest["welcome_signup"]])
    ids = sorted(result.backtest_id for result in results)
    # An older backtest of the cart journey: the report shows the latest one.
    older = f"{results[0].backtest_id}_old"
    for table in ("journey_backtests", "journey_backtest_canvas"):
        columns = [c for (c,) in warehouse.query("select column_name from information_schema.columns where table_schema = 'analytics' "
                                                 "and table_name = ? order by ordinal_position", [table])]
        copied = ", ".join({"backtest_id": f"'{older}'", "created_at": "created_at - interval '1 day'"}.get(c, c) for c in columns)
        warehouse.execute(f"insert into analytics.{table} select {copied} from analytics.{table} "
                          f"where backtest_id = '{results[0].backtest_id}'")
    with environment(warehouse.engine_env):
        con = connect(read_only=True)
        try:
            data = load_report_data(con)
        finally:
            con.close()
    assert sorted(b["backtest_id"] for b in data.backtests) == ids
    out = tmp_path / "report.html"
    out.write_text(render_report(data), encoding="utf-8")
    rendered = render(out)
    assert rendered.console == [], rendered.console
    elements = data_elements(rendered.dom)
    assert sorted({e["backtest"] for e in elements if "backtest" in e}) == ids

    cells = {(e["backtest"], e["backtest-step"], e["metric"], e.get("backtest-reason")): e for e in elements if "backtest-step" in e}
    expected: Counter = Counter()
    for backtest_id, step, outcome, reason, actions in warehouse.query(
            "select backtest_id, step_id, outcome, reason_code, sum(actions) from analytics.journey_backtests "
            f"where backtest_id in ({', '.join('?' for _ in ids)}) group by backtest_id, step_id, outcome, reason_code", ids):
        for outcome_name in ("would_send", "suppressed", "deferred", "converted"):
            expected[(backtest_id, step, outcome_name, None)] += 0  # every outcome has its cell
        expected[(backtest_id, step, outcome, None)] += int(actions)
        if outcome == "suppressed":
            expected[(backtest_id, step, outcome, reason)] += int(actions)
    assert {key: int(e["value"]) for key, e in cells.items()} == dict(expected)
    assert all(e["text"].strip().replace(",", "") == e["value"] for e in cells.values())
    assert sum(v for (_, _, outcome, reason), v in expected.items() if outcome == "would_send") == len(results[0].sends) > 0

    instants = {e["backtest"]: int(e["value"]) for e in elements if e.get("metric") == "instants"}
    assert instants == {result.backtest_id: len(result.instants) for result in results}
    canvases = {(e["backtest"], e["node"], e["metric"]): int(e["value"]) for e in elements if "backtest-canvas" in e}
    stored = warehouse.query("select backtest_id, node_id, metric, value from analytics.journey_backtest_canvas "
                             f"where backtest_id in ({', '.join('?' for _ in ids)})", ids)
    assert canvases == {(b, node, metric): int(value) for b, node, metric, value in stored}
    assert not any("canvas" in e for e in elements), "a backtest's counts are not read as the live canvas's"
    customers = {(e["backtest"], e["backtest-customer"], e["metric"]): int(e["value"]) for e in elements if "backtest-customer" in e}
    assert customers == {(b, c, m): int(v) for b, c, *values in warehouse.query(
        "select backtest_id, customer_id, would_send, suppressed, deferred, converted from analytics.journey_backtest_customers "
        f"where backtest_id in ({', '.join('?' for _ in ids)})", ids)
        for m, v in zip(("would_send", "suppressed", "deferred", "converted"), values)} != {}

    # No backtest table, no section.
    assert 'id="backtests"' not in render_report(ReportData())
