"""Issue 19: journeys see the landed sources. A Shopify order ends a cart journey a Segment
`cart_added` started; a Shopify abandoned checkout enters it; a Stripe subscription makes
a customer and its cancellation a churned one, entered in the cancellation win-back, and a
Stripe upgrade (more seats in its history) is the upsell's goal; a HubSpot open deal keeps its contact out
of sales_ready_leads (so sales_handoff never reaches them). Each case has a twin without
the source record, which the journey treats as before."""

from __future__ import annotations

from datetime import datetime, timedelta

import pandas as pd

from tests.sources.conftest import Dbt, load_segment_calls, query
from tests.sources.landing import TABLES, fixtures, land
from tests.sources.test_sources import append

NOW = datetime(2026, 3, 1, 0, 0)
MODELS = "+journey_instances +sales_ready_leads +dim_customers +customer_identifiers"


def at(hours_before: float) -> datetime:
    return NOW - timedelta(hours=hours_before)


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def sql_time(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def person(calls: list, user: str, email: str, moment: datetime) -> None:
    calls.append({"type": "identify", "messageId": f"{user}-identify", "userId": user, "anonymousId": f"device-{user}",
                  "timestamp": iso(moment), "traits": {"email": email, "country": "US"}})


def track(calls: list, user: str, event: str, moment: datetime, **properties) -> None:
    calls.append({"type": "track", "messageId": f"{user}-{event}-{len(calls)}", "userId": user,
                  "anonymousId": f"device-{user}", "event": event, "properties": properties, "timestamp": iso(moment)})


def customer_of(warehouse, identifier_type: str, value: str) -> str:
    [(customer,)] = query(warehouse, "select customer_id from marts.customer_identifiers "
                                     f"where identifier_type = '{identifier_type}' and identifier_value = '{value}'")
    return customer


def instances(warehouse, customer: str, journey: str) -> list[tuple]:
    return query(warehouse, "select entered_at, state, exit_reason, exited_at from journeys.journey_instances "
                            f"where customer_id = '{customer}' and journey = '{journey}' order by entered_at")


def test_journeys_see_shopify_stripe_and_hubspot(warehouse, tmp_path, dbt: Dbt):
    tables = {source: {name: frame.iloc[0:0] for name, frame in fixtures(source).items()} for source in TABLES}
    shopify, stripe, hubspot = tables["shopify"], tables["stripe"], tables["hubspot"]
    calls: list[dict] = []
    synced = sql_time(at(0.5))

    # Ana carts on the site and buys the cart on Shopify half an hour later; Bob only carts.
    for user in ("ana", "bob"):
        person(calls, user, f"{user}@example.com", at(5))
        track(calls, user, "cart_added", at(3), cart_id=f"cart-{user}", product_id="prod_0001", name="Pen", price=4.5)
    shopify["customer"] = append(shopify["customer"], id="501", email="Ana@Example.com ", created_at=sql_time(at(5)),
                                 _fivetran_synced=synced)
    shopify["order"] = append(shopify["order"], id="601", customer_id="501", email="ana@example.com", currency="USD",
                              total_price="4.50", cart_token="cart-ana", created_at=sql_time(at(2.5)), test="false",
                              _fivetran_synced=synced)
    # Carol leaves a checkout on Shopify, never seen on the site.
    shopify["abandoned_checkout"] = append(shopify["abandoned_checkout"], id="701", customer_id="502",
                                           email="carol@example.com", cart_token="cart-carol", token="chk-carol",
                                           currency="USD", total_price="30.00", created_at=sql_time(at(4)),
                                           _fivetran_deleted="false", _fivetran_synced=synced)
    # Stripe: Dora pays, Eve cancelled.
    for name, status, cancelled in (("dora", "active", None), ("eve", "canceled", sql_time(at(48)))):
        stripe["customer"] = append(stripe["customer"], id=f"cus_{name}", email=f"{name}@example.com",
                                    created=sql_time(at(24 * 30)), _fivetran_synced=synced)
        stripe["subscription"] = append(stripe["subscription"], id=f"sub_{name}", customer_id=f"cus_{name}",
                                        status=status, start_date=sql_time(at(24 * 30)), canceled_at=cancelled,
                                        created=sql_time(at(24 * 30)), _fivetran_synced=synced)
    # Ugo pays for one seat through Stripe and uses the product on the site enough for the
    # upsell; Stripe's history then records him going to three seats: the upgrade is the
    # journey's goal. Vic, the same but no upgrade, is emailed and never converts.
    stripe["price"] = append(stripe["price"], id="price_seat", currency="usd", unit_amount="2900", type="recurring",
                             recurring_interval="month", recurring_interval_count="1", _fivetran_synced=synced)
    stripe["subscription_history"] = stripe["subscription_history"].assign(_fivetran_start=pd.Series(dtype=object))
    for name, seats in (("ugo", 3), ("vic", 1)):
        person(calls, name, f"{name}@example.com", at(24 * 10))
        for hour in range(15):
            track(calls, name, "feature_used", at(100 - hour), feature="dashboards")
        stripe["customer"] = append(stripe["customer"], id=f"cus_{name}", email=f"{name}@example.com",
                                    created=sql_time(at(24 * 30)), _fivetran_synced=synced)
        stripe["subscription"] = append(stripe["subscription"], id=f"sub_{name}", customer_id=f"cus_{name}",
                                        status="active", start_date=sql_time(at(24 * 30)), quantity=str(seats),
                                        created=sql_time(at(24 * 30)), _fivetran_synced=synced)
        stripe["subscription_item"] = append(stripe["subscription_item"], id=f"si_{name}", subscription_id=f"sub_{name}",
                                             plan_id="price_seat", quantity=str(seats), _fivetran_synced=synced)
        versions = [(at(24 * 30), 1, False), (at(24), 3, True)] if name == "ugo" else [(at(24 * 30), 1, True)]
        for start, quantity, current in versions:
            stripe["subscription_history"] = append(
                stripe["subscription_history"], id=f"sub_{name}", customer_id=f"cus_{name}", status="active",
                quantity=str(quantity), start_date=sql_time(at(24 * 30)), _fivetran_start=sql_time(start),
                _fivetran_active=str(current).lower(), _fivetran_synced=synced)
    # Two leads hot enough for sales; HubSpot has an open deal with Finn, none with Gus.
    for user in ("finn", "gus"):
        person(calls, user, f"{user}@example.com", at(10))
        for hour in range(6):
            track(calls, user, "pricing_page_viewed", at(9 - hour), plan_viewed="pro")
        track(calls, user, "newsletter_subscribed", at(2), source="footer")
    contacts = hubspot["contact"].assign(property_lifecyclestage=pd.Series(dtype=object))
    hubspot["contact"] = append(contacts, id="901", property_email="FINN@example.com", _fivetran_deleted="false",
                                property_lifecyclestage="opportunity", _fivetran_synced=synced)
    hubspot["deal_pipeline_stage"] = append(hubspot["deal_pipeline_stage"], stage_id="st-open", pipeline_id="p",
                                            label="Demo booked", is_closed="false", closed_won="false", active="true",
                                            _fivetran_deleted="false")
    hubspot["deal"] = append(hubspot["deal"], deal_id="951", is_deleted="false", deal_pipeline_id="p",
                             deal_pipeline_stage_id="st-open")
    hubspot["deal_contact"] = append(hubspot["deal_contact"], deal_id="951", contact_id="901")

    load_segment_calls(warehouse, tmp_path / "calls.jsonl", calls)
    for source, frames in tables.items():
        land(warehouse, source, frames)
    dbt.build(warehouse, MODELS, {"now": NOW.isoformat()})

    [(_, ana_state, ana_reason, ana_exited)] = instances(warehouse, customer_of(warehouse, "user_id", "ana"), "abandoned_cart")
    assert (ana_state, ana_reason, ana_exited) == ("exited", "exit_event:purchase_made", at(2.5))
    [(_, bob_state, _, _)] = instances(warehouse, customer_of(warehouse, "user_id", "bob"), "abandoned_cart")
    assert bob_state == "active"

    carol = customer_of(warehouse, "platform_customer_id", "shopify:502")
    assert [row[0] for row in instances(warehouse, carol, "abandoned_cart")] == [at(4)]

    stages = dict(query(warehouse, "select customer_id, lifecycle_stage from marts.dim_customers"))
    assert stages[customer_of(warehouse, "platform_customer_id", "stripe:cus_dora")] == "customer"
    assert stages[customer_of(warehouse, "platform_customer_id", "stripe:cus_eve")] == "churned"
    # Eve's cancellation enters the cancellation win-back; Dora, still paying, is not in it.
    eve, dora = (customer_of(warehouse, "platform_customer_id", f"stripe:cus_{n}") for n in ("eve", "dora"))
    assert [row[:2] for row in instances(warehouse, eve, "cancellation_win_back")] == [(at(48), "active")]
    assert instances(warehouse, dora, "cancellation_win_back") == []

    ugo, vic = customer_of(warehouse, "user_id", "ugo"), customer_of(warehouse, "user_id", "vic")
    [(_, ugo_state, ugo_reason, ugo_exited)] = instances(warehouse, ugo, "upsell")
    assert (ugo_state, ugo_reason, ugo_exited) == ("converted", "goal:subscription_upgraded", at(24))
    assert [row[1] for row in instances(warehouse, vic, "upsell")] == ["completed"]  # emailed, never upgraded

    finn, gus = customer_of(warehouse, "user_id", "finn"), customer_of(warehouse, "user_id", "gus")
    assert query(warehouse, f"select crm_lifecycle_stage, open_deals, lifecycle_stage from marts.dim_customers "
                            f"where customer_id = '{finn}'") == [("opportunity", 1, "lead")]
    leads = {row[0] for row in query(warehouse, "select customer_id from segments.sales_ready_leads")}
    assert gus in leads and finn not in leads

    # The next tick: the loader has synced Bob's Shopify order since. The journey re-decides
    # incrementally, the new order ends Bob's cart journey; Ana's stays as it was.
    shopify["order"] = append(shopify["order"], id="602", email="bob@example.com", currency="USD", total_price="4.50",
                              cart_token="cart-bob", created_at=sql_time(at(0.2)), test="false",
                              _fivetran_synced=sql_time(at(0.1)))
    land(warehouse, "shopify", shopify)
    dbt.build(warehouse, MODELS, {"now": NOW.isoformat()})
    [(_, bob_state, bob_reason, bob_exited)] = instances(warehouse, customer_of(warehouse, "user_id", "bob"), "abandoned_cart")
    assert (bob_state, bob_reason, bob_exited) == ("exited", "exit_event:purchase_made", at(0.2))
    assert instances(warehouse, customer_of(warehouse, "user_id", "ana"), "abandoned_cart")[0][1:] == (
        "exited", "exit_event:purchase_made", at(2.5))
