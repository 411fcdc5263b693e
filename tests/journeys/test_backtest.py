"""`throughline backtest`: a window that ran tick by tick, replayed in a scratch copy,
gives exactly the sends the ledger holds, and leaves the real warehouse as it was."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from orchestration.backtest import BacktestError, run_backtest
from orchestration.cli import main
from tests.engines import environment
from tests.journeys.timeline import JourneyWarehouse, Timeline, engine_env_for, hours

T0 = datetime(2026, 5, 4, 12, 0)  # 08:00 in New York (EDT): quiet hours for SMS and push have just ended
TICKS = [T0 + hours(n) for n in range(6)]
JOURNEY = "abandoned_cart"
STATE_TABLES = ("raw.delivery_ledger", "journeys.journey_decisions", "journeys.journey_instances", f"journeys.journey__{JOURNEY}")


def history() -> Timeline:
    t = Timeline(prefix="bt")
    # The reminder email an hour after the cart, at the second tick.
    t.person("early", T0 - hours(40), email="early@example.com")
    t.track("early", "cart_added", T0 - hours(0.5), cart_id="k1", product_id="prod_0001", name="Notebook", price=30)
    # Carts between ticks: the email at the fourth tick.
    t.person("later", T0 - hours(40), email="later@example.com")
    t.track("later", "cart_added", T0 + hours(1.5), cart_id="k2", product_id="prod_0002", name="Pen", price=25)
    # Buys the carted product before the email is due: converted, nothing sent.
    t.person("buyer", T0 - hours(40), email="buyer@example.com")
    t.track("buyer", "cart_added", T0 - hours(0.5), cart_id="k3", product_id="prod_0003", name="Ink", price=40)
    t.track("buyer", "product_purchased", T0 + hours(0.2), order_id="o3", product_id="prod_0003", price=40, quantity=1)
    # Carted a day ago, with an SMS consent: the SMS falls due at the first tick.
    t.person("texter", T0 - hours(60), email="texter@example.com", phone="+12025550143", consent=("email", "sms"))
    t.track("texter", "cart_added", T0 - hours(24.5), cart_id="k4", product_id="prod_0004", name="Lamp", price=60)
    # Signed up and carted: a welcome email and the cart email compete for the daily email cap,
    # and a product view (a lower-priority push) collides with the cart.
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
        result = run_backtest(JOURNEY, TICKS[0], TICKS[-1], timedelta(hours=1))
    return {"warehouse": warehouse, "result": result, "before": before, "after": state(warehouse)}


def test_the_backtest_sends_exactly_what_the_ledger_holds(ran):
    warehouse, result = ran["warehouse"], ran["result"]
    ledger = set(warehouse.query("select customer_id, step_id, sent_at from raw.delivery_ledger "
                                 "where journey = ? and status = 'sent'", [JOURNEY]))
    simulated = [(s.customer_id, s.step_id, s.at) for s in result.sends]
    assert len(simulated) == len(set(simulated)), "no action is simulated twice"
    assert set(simulated) == ledger
    assert len({at for _, _, at in ledger}) >= 2, "the window's sends fall at several instants"
    assert len(result.instants) == len(TICKS) == len(result.seconds_per_instant)
    # The customer who bought first got nothing: suppressed as converted.
    buyer = warehouse.customer_of("buyer")
    assert buyer not in {c for c, _, _ in ledger}
    assert any(r["step_id"] == "cart_email" and (r["outcome"], r["reason_code"]) == ("suppressed", "converted")
               for r in result.rows)


def test_the_real_warehouse_is_unchanged_but_for_the_results_table(ran):
    assert ran["after"] == ran["before"]
    result = ran["result"]
    rows = ran["warehouse"].query("select outcome, sum(actions) from analytics.journey_backtests where backtest_id = ? "
                                  "group by outcome", [result.backtest_id])
    counts = {outcome: int(n) for outcome, n in rows}
    assert counts["would_send"] == len(result.sends)
    assert counts["suppressed"] == sum(r["actions"] for r in result.rows if r["outcome"] == "suppressed") > 0


def test_bad_requests_are_clear_errors(ran, capsys):
    with environment(ran["warehouse"].engine_env):
        with pytest.raises(BacktestError, match="no journey named 'abandoned_carts'"):
            run_backtest("abandoned_carts", TICKS[0], TICKS[-1])
        with pytest.raises(BacktestError, match="--from .* is after --to"):
            run_backtest(JOURNEY, TICKS[-1], TICKS[0])
        assert main(["backtest", JOURNEY, "--from", "2026-05-04T12:00:00", "--to", "2026-05-04T17:00", "--every", "0h"]) == 2
        assert "--every wants a positive duration" in capsys.readouterr().err
        assert main(["backtest", JOURNEY, "--from", "yesterday", "--to", "2026-05-04T17:00"]) == 2
        assert "--from wants a UTC instant" in capsys.readouterr().err
