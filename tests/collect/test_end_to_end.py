"""From an SDK to the vendor: Segment's Python SDK posts to the collector, a tick loads what
it kept, decides and syncs to the local vendor servers. A shopper who carts a product and
then buys it (in another cart, on another device) never gets the cart reminder; shoppers
who leave theirs do."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from orchestration.cli import main
from orchestration.warehouse import raw_layer
from tests.collect.conftest import WRITE_KEY
from tests.syncs.conftest import local  # noqa: F401  (the local vendor servers)

# Dagster's dbt runs share dbt_project/target (partial parse, last_run): one xdist worker runs them all.
pytestmark = pytest.mark.xdist_group("dagster")

SHOPPERS = 4


def shop(client, user: str, *, buys: bool, at: datetime) -> None:
    device = f"{user}-phone"
    client.identify(user_id=user, anonymous_id=device, traits={"email": f"{user}@example.com", "first_name": "Sam"}, timestamp=at)
    client.track(user_id=user, anonymous_id=device, event="email_consent_given", properties={"source": "signup_form"}, timestamp=at)
    client.track(user_id=user, anonymous_id=device, event="cart_added", timestamp=at + timedelta(minutes=1),
                 properties={"cart_id": f"{user}-cart-1", "product_id": "prod_kettle", "name": "Kettle", "price": 39.0,
                             "quantity": 1, "currency": "USD"})
    if buys:  # the same product, bought ten minutes later from the laptop's cart
        client.track(user_id=user, anonymous_id=f"{user}-laptop", event="purchase_made", timestamp=at + timedelta(minutes=10),
                     properties={"order_id": f"{user}-order", "cart_id": f"{user}-cart-2", "revenue": 39.0, "currency": "USD",
                                 "products": [{"product_id": "prod_kettle", "name": "Kettle", "price": 39.0, "quantity": 1}]})


@pytest.mark.slow
def test_a_cart_then_a_purchase_from_the_sdk_never_gets_the_reminder(collector, local, dbt_manifest):  # noqa: F811
    from segment.analytics import Client

    errors = []
    client = Client(WRITE_KEY, host=collector.url, on_error=lambda error, batch: errors.append(error))
    carted_at = datetime.now(UTC) - timedelta(hours=3)  # the reminder's hour has passed
    for n in range(SHOPPERS):
        shop(client, f"sdk-buyer-{n}", buys=True, at=carted_at)
        shop(client, f"sdk-leaver-{n}", buys=False, at=carted_at)
    client.flush()
    client.join()
    assert errors == []
    collector.spool.rotate()

    assert main(["tick"]) == 0

    with raw_layer() as con:
        assert con.execute("select count(*) from raw.events where user_id like 'sdk-%'").fetchone()[0] == SHOPPERS * 7
        decisions = con.execute(
            "select c.identifier_value, d.step_id, d.status, d.reason_code from journeys.journey_decisions d "
            "join marts.customer_identifiers c on c.customer_id = d.customer_id and c.identifier_type = 'user_id' "
            "where d.journey = 'abandoned_cart'").fetchall()
    with local.servers["sendgrid"].lock:
        emailed = {to["email"] for m in local.servers["sendgrid"].messages for to in m["personalization"].get("to", [])}

    buyers = {f"sdk-buyer-{n}" for n in range(SHOPPERS)}
    assert not {f"{user}@example.com" for user in buyers} & emailed, "a buyer got a reminder for the product they bought"
    assert {(status, reason) for user, _, status, reason in decisions if user in buyers} == {("suppressed", "converted")}
    leavers_emailed = {f"sdk-leaver-{n}@example.com" for n in range(SHOPPERS)} & emailed
    leaver_outcomes = {(status, reason) for user, step, status, reason in decisions if user.startswith("sdk-leaver") and step == "cart_email"}
    assert leavers_emailed, f"the shoppers who left their cart got the reminder (or were held out): {leaver_outcomes}"
