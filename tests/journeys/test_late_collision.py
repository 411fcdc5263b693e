"""A collision that only a later run can see: a message deferred by quiet hours in one
journey, then a late event that puts the customer in a higher-priority journey before
that message was due. The run that learns of it re-decides the customer in the
higher-priority journey only, and must still suppress the deferred message."""

from datetime import datetime

import pytest

from tests.journeys.timeline import JourneyWarehouse, Timeline, engine_env_for, hours

VIEWED = datetime(2026, 3, 10, 6, 0)  # 02:00 in New York (EDT): the push falls due at 04:00, in quiet hours
FIRST_RUN = VIEWED + hours(3)
CARTED = VIEWED + hours(1.5)  # before the push was due, but loaded only after the first run
SECOND_RUN = VIEWED + hours(4)
USERS = [f"night_browser_{k}" for k in range(1, 7)]  # several, so some are treated by abandoned_cart


@pytest.fixture(scope="module", params=["duckdb", "postgres"])
def runs(request, tmp_path_factory, dbt_manifest) -> dict:
    engine_env = engine_env_for(request, "journey_late_collision")
    views = Timeline(prefix="views")
    for user in USERS:
        views.person(user, VIEWED - hours(48), email=f"{user}@example.com", consent=("email", "push"))
        views.track(user, "product_viewed", VIEWED, product_id="prod_0011", category="pens", price=6)
    warehouse = JourneyWarehouse(tmp_path_factory.mktemp("late_collision"), views, engine_env)
    warehouse.decide(FIRST_RUN)
    first = {user: warehouse.decisions(user, "product_recommendations") for user in USERS}

    carts = Timeline(prefix="carts")
    for user in USERS:
        carts.track(user, "cart_added", CARTED, cart_id=f"k-{user}", product_id="prod_0011", name="Gel Pen", price=6)
    warehouse.load(carts, "carts")
    warehouse.decide(SECOND_RUN)
    second = {user: warehouse.decisions(user, "product_recommendations") for user in USERS}
    cart_arms = {user: warehouse.instances(user, "abandoned_cart")[0]["arm"] for user in USERS}
    return {"first": first, "second": second, "cart_arms": cart_arms}


def push(decisions: list[dict]) -> dict:
    (only,) = [d for d in decisions if d["step_id"] == "recommendation_push"]
    return only


def test_the_push_is_first_deferred_by_quiet_hours(runs):
    for user in USERS:
        first = push(runs["first"][user])
        if first["arm"] == "treatment":
            assert (first["status"], first["reason_code"]) == ("deferred", "quiet_hours"), first


def test_a_late_cart_suppresses_the_deferred_push(runs):
    treated = [user for user in USERS if runs["cart_arms"][user] == "treatment" and push(runs["first"][user])["arm"] == "treatment"]
    assert treated, "some browsers are treated by both journeys"
    for user in treated:
        second = push(runs["second"][user])
        assert (second["status"], second["reason_code"]) == ("suppressed", "collision"), second
        assert "abandoned_cart" in second["reason"]
