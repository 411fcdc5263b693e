"""Journey models decide incrementally, per customer: a run re-decides only the customers
something happened to (and those still in progress), and what it leaves behind is what
a full rebuild would decide."""

from datetime import datetime

import pytest

from tests.journeys.timeline import JourneyWarehouse, Timeline, days, hours

T1 = datetime(2026, 5, 4, 15, 0)
T2 = T1 + hours(6)
CART = "journeys.journey__abandoned_cart"


def first_timeline() -> Timeline:
    t = Timeline()
    # Settled long before T1: carted, bought it, and every step of the journey is past.
    t.person("settled", T1 - days(30), email="settled@example.com")
    t.track("settled", "cart_added", T1 - days(20), cart_id="ks", product_id="prod_0001", name="Notebook", price=12)
    t.track("settled", "purchase_made", T1 - days(20) + hours(2), order_id="os", cart_id="ks", revenue=12,
            products=[{"product_id": "prod_0001", "quantity": 1, "price": 12}])
    # Carted a moment ago: the journey is in progress.
    t.person("carting", T1 - days(30), email="carting@example.com")
    t.track("carting", "cart_added", T1 - hours(3), cart_id="kc", product_id="prod_0002", name="Pen", price=3)
    # A visitor not logged in yet carts on their phone; at T2 they log in there.
    t.track(None, "cart_added", T1 - hours(2), device="phone-of-late", cart_id="kl", product_id="prod_0003", name="Ink", price=5)
    t.person("late_login", T1 - days(30), email="late@example.com")
    # Carted three weeks ago, every step's time is past; bought it a week after that,
    # inside the 30-day conversion window. And one who bought 40 days after carting.
    t.person("finished", T1 - days(30), email="finished@example.com")
    t.track("finished", "cart_added", T1 - days(20), cart_id="kf", product_id="prod_0004", name="Lamp", price=40)
    t.track("finished", "product_purchased", T1 - days(13), order_id="of", product_id="prod_0004", price=40, quantity=1)
    t.person("finished_late", T1 - days(60), email="late-buyer@example.com")
    t.track("finished_late", "cart_added", T1 - days(50), cart_id="kg", product_id="prod_0006", name="Vase", price=25)
    t.track("finished_late", "product_purchased", T1 - days(10), order_id="og", product_id="prod_0006", price=25, quantity=1)
    # Carted 49 hours ago: the last step (a push, 48 hours after entry) came due an hour
    # ago and has not gone out; half an hour ago they bought the product.
    t.person("bought_while_due", T1 - days(30), email="due@example.com", consent=("email", "push"))
    t.track("bought_while_due", "cart_added", T1 - hours(49), cart_id="kd", product_id="prod_0005", name="Rug", price=80)
    t.track("bought_while_due", "product_purchased", T1 - hours(0.5), order_id="od", product_id="prod_0005", price=80,
            quantity=1)
    return t


def second_timeline() -> Timeline:
    t = Timeline(prefix="later")
    t.track("carting", "purchase_made", T2 - hours(1), order_id="oc", cart_id="kc", revenue=3,
            products=[{"product_id": "prod_0002", "quantity": 1, "price": 3}])
    t.identify_device("late_login", "phone-of-late", T2 - hours(1))
    # The settled customer buys again and browses: no entry, so nothing to re-decide.
    t.track("settled", "purchase_made", T2 - hours(2), order_id="os2", cart_id="ks2", revenue=9,
            products=[{"product_id": "prod_0009", "quantity": 1, "price": 9}])
    t.track("settled", "page_viewed", T2 - hours(2), path="/pricing")
    return t


def as_of_by_customer(warehouse: JourneyWarehouse) -> dict[str, set[datetime]]:
    result: dict[str, set[datetime]] = {}
    for customer, as_of in warehouse.query(f"select customer_id, as_of from {CART}"):
        result.setdefault(customer, set()).add(as_of)
    return result


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory, dbt_manifest) -> JourneyWarehouse:
    warehouse = JourneyWarehouse(tmp_path_factory.mktemp("incremental"), first_timeline())
    warehouse.decide(T1)
    return warehouse


def test_a_run_re_decides_only_changed_and_open_customers(warehouse):
    phone_customer = warehouse.query(
        "select customer_id from identity.int_identity__customer_map where identifier_value = 'phone-of-late'")[0][0]
    before = as_of_by_customer(warehouse)
    assert before[warehouse.customer_of("settled")] == {T1}
    assert before[phone_customer] == {T1}
    assert warehouse.query(f"select state from {CART} where row_kind = 'customer' and customer_id = ?",
                           [warehouse.customer_of("settled")]) == [("settled",)]

    warehouse.load(second_timeline(), "second")
    warehouse.decide(T2)
    after = as_of_by_customer(warehouse)

    # Nothing happened to the settled customer: their rows are the ones decided at T1.
    assert after[warehouse.customer_of("settled")] == {T1}
    # The new purchase re-decided the carting customer: converted, the later steps suppressed.
    carting = warehouse.customer_of("carting")
    assert after[carting] == {T2}
    assert warehouse.instances("carting", "abandoned_cart")[0]["state"] == "converted"
    # The login merged the phone's customer into late_login's: its instance went with it.
    assert warehouse.query(f"select row_kind, state from {CART} where customer_id = ?", [phone_customer]) == [("customer", "settled")]
    late = warehouse.customer_of("late_login")
    assert after[late] == {T2}
    assert [i["entered_at"] for i in warehouse.instances("late_login", "abandoned_cart")] == [T1 - hours(2)]


def test_a_goal_after_the_last_step_converts_within_the_window_and_rewrites_no_decision(warehouse):
    """A purchase a week after the last reminder's time, inside the conversion window:
    the instance converted (for lift), its decisions stay as they were made. Forty
    days after entry it is no conversion of this journey."""
    [instance] = warehouse.instances("finished", "abandoned_cart")
    assert instance["arm"] == "treatment"
    assert (instance["state"], instance["exit_reason"], instance["exited_at"]) == (
        "converted", "goal:product_purchased", T1 - days(13))
    reasons = {d["step_id"]: d["reason_code"] for d in warehouse.decisions("finished", "abandoned_cart")}
    assert reasons == {"cart_email": "expired", "cart_sms": "no_address", "cart_push": "no_consent"}

    [late] = warehouse.instances("finished_late", "abandoned_cart")
    assert (late["state"], late["exit_reason"], late["exited_at"]) == ("completed", None, None)


def test_a_goal_after_the_last_step_still_stops_a_message_not_sent(warehouse):
    """The push came due an hour before T1 and has not gone out; the purchase half an
    hour before T1 stops it, though the instance had reached its last step's time."""
    [instance] = warehouse.instances("bought_while_due", "abandoned_cart")
    assert instance["arm"] == "treatment"
    assert (instance["state"], instance["exited_at"]) == ("converted", T1 - hours(0.5))  # within the window
    [push] = [d for d in warehouse.decisions("bought_while_due", "abandoned_cart") if d["step_id"] == "cart_push"]
    assert (push["status"], push["reason_code"]) == ("suppressed", "converted")
    assert push["reason"].startswith("Not sent: the customer left the journey (goal:product_purchased)")
    assert "before this message went out" in push["reason"]


def test_a_changed_definition_or_an_earlier_now_re_decides_everyone(warehouse):
    latest = max(max(v) for v in as_of_by_customer(warehouse).values())
    warehouse.execute(f"update {CART} set definition_hash = 'an older definition'")
    warehouse.decide(latest)
    assert {a for v in as_of_by_customer(warehouse).values() for a in v} == {latest}
    assert warehouse.query(f"select count(*) from {CART} where definition_hash = 'an older definition'") == [(0,)]

    earlier = T1 - hours(1)
    warehouse.decide(earlier)
    assert {a for v in as_of_by_customer(warehouse).values() for a in v} == {earlier}
    # An hour before T1 the carting customer had not bought yet: back in progress.
    assert warehouse.instances("carting", "abandoned_cart")[0]["state"] == "active"
