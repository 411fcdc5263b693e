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
        return run_comparison(JOURNEY, TICKS[0], TICKS[-1], EVERY, str(edited))


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
