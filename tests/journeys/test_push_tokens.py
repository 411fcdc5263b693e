"""Push tokens from the mobile SDKs (context.device.token): each customer's latest token is
their FCM address, FCM's UNREGISTERED for it blocks push like a bounce, and the new token
an app sends after a reinstall lifts the block. Decided run after run, on each engine."""

from datetime import datetime

import pytest

from tests.journeys.timeline import JourneyWarehouse, Timeline, engine_env_for, hours

T0 = datetime(2026, 3, 2, 15, 0)


def push_state(warehouse: JourneyWarehouse, user: str) -> tuple:
    customer = warehouse.customer_of(user)
    token = warehouse.query("select device_token, is_unregistered from marts.customer_push_tokens where customer_id = ?", [customer])
    reach = warehouse.query("select has_address, has_consent, blocked_by from journeys.int_journeys__reachability "
                            "where customer_id = ? and channel = 'push'", [customer])
    return token[0] if token else None, reach[0]


@pytest.fixture(scope="module", params=["duckdb", "postgres"])
def warehouse(request, tmp_path_factory, dbt_manifest):
    t = Timeline(prefix="push")
    for user in ("app_user", "other_app_user"):
        t.person(user, T0 - hours(48), email=f"{user}@example.com", device=f"phone-{user}", consent=("email", "push"))
        t.app_open(user, f"phone-{user}", f"tok-{user}-1", T0 - hours(47))
    t.app_open("app_user", "phone-app_user", "tok-app_user-1", T0 - hours(2))  # the same token again
    return JourneyWarehouse(tmp_path_factory.mktemp("push_tokens"), t, engine_env_for(request, "push_tokens"))


def test_a_dead_token_blocks_push_until_the_app_sends_a_new_one(warehouse):
    warehouse.decide(T0)
    assert push_state(warehouse, "app_user") == (("tok-app_user-1", False), (True, True, None))

    # FCM answered UNREGISTERED for it (the sync writes this row, tests/syncs/test_push_unregistered.py).
    warehouse.add_delivery_event(event_id="fcm-1", provider="fcm", event_type="hard_bounce", channel="push",
                                 address="tok-app_user-1", customer_id=warehouse.customer_of("app_user"),
                                 occurred_at=T0 + hours(1))
    warehouse.decide(T0 + hours(2))
    assert push_state(warehouse, "app_user") == (("tok-app_user-1", True), (True, True, "hard_bounce"))
    assert push_state(warehouse, "other_app_user")[1][2] is None, "another customer's token is not touched"

    # A reinstall: the app sends a new token; the dead one no longer speaks for the customer.
    later = Timeline(prefix="push-later")
    later.app_open("app_user", "phone-app_user", "tok-app_user-2", T0 + hours(3))
    warehouse.load(later, "later")
    warehouse.decide(T0 + hours(4))
    assert push_state(warehouse, "app_user") == (("tok-app_user-2", False), (True, True, None))
