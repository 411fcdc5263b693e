"""Re-entry: when a customer who enters a journey again starts a new instance - after the
last one ended ('after_exit'), or also once a cooldown since its entry has passed - decided
run after run, as ticks do, on each engine."""

from datetime import datetime

import pytest

from tests.journeys.timeline import JourneyWarehouse, Timeline, engine_env_for, days, hours

T0 = datetime(2026, 3, 2, 15, 0)
NOWS = (T0 + hours(12), T0 + hours(25), T0 + days(2), T0 + days(3) + hours(1), T0 + days(5))


def build_timeline() -> Timeline:
    t = Timeline(prefix="reentry")

    # abandoned_cart, re_entry after_exit: a checkout of the first cart ends its instance
    # at T0+20h. A cart added meanwhile, or at that very instant, starts nothing; the
    # next cart after it does.
    t.person("carts_again", T0 - days(10), email="carts_again@example.com")
    for at, cart in ((T0, "k1"), (T0 + hours(10), "k2"), (T0 + hours(20), "k3"), (T0 + hours(30), "k4")):
        t.track("carts_again", "cart_added", at, cart_id=cart, product_id=f"p-{cart}", name="Pen", price=4)
    t.track("carts_again", "purchase_made", T0 + hours(20), order_id="o1", cart_id="k1", revenue=4, products=[])

    # product_recommendations, re_entry cooldown 3 days (an instance ends 2 hours after
    # entry): a view within 3 days of the last entry starts nothing, one exactly 3 days
    # after it does.
    t.person("browses_again", T0 - days(10), email="browses_again@example.com", consent=("email", "push"))
    for at in (T0, T0 + days(1), T0 + days(3), T0 + days(4)):
        t.track("browses_again", "product_viewed", at, product_id="prod_0011", category="pens", price=6)
    return t


@pytest.fixture(scope="module", params=["duckdb", "postgres"])
def warehouse(request, tmp_path_factory, dbt_manifest) -> JourneyWarehouse:
    engine_env = engine_env_for(request, "journey_re_entry")
    warehouse = JourneyWarehouse(tmp_path_factory.mktemp("re_entry"), build_timeline(), engine_env)
    for now in NOWS:
        warehouse.decide(now)
    return warehouse


def entries(warehouse: JourneyWarehouse, user: str, journey: str) -> list[datetime]:
    return [instance["entered_at"] for instance in warehouse.instances(user, journey)]


def test_after_exit_starts_again_only_after_the_instance_ended(warehouse):
    assert entries(warehouse, "carts_again", "abandoned_cart") == [T0, T0 + hours(30)]
    first = warehouse.instances("carts_again", "abandoned_cart")[0]
    assert (first["state"], first["exited_at"]) == ("exited", T0 + hours(20))


def test_a_cooldown_holds_re_entry_until_it_has_passed(warehouse):
    assert entries(warehouse, "browses_again", "product_recommendations") == [T0, T0 + days(3)]
