"""Issue 19: Shopify, Stripe and HubSpot as Fivetran lands them, into the canonical models.

The Fivetran seeds (tests/fixtures/fivetran/) are landed in the source schemas, with a few
rows of the test's own appended in the same layout where the seeds have no such case (a
refund of a landed order; one person in all three sources). The project is built with the
sources on, on DuckDB and PostgreSQL, and its orders, revenue net of refunds, MRR and
contacts are compared with a pandas computation over the same tables.
"""

from __future__ import annotations

from decimal import Decimal

import pandas as pd
import pytest

from orchestration.dbt.runner import in_process_dbt
from tests.sources.conftest import Dbt, load_segment_calls, query
from tests.sources.landing import TABLES, fixtures, land

MODELS = "+fct_orders +fct_subscriptions +fct_payments +source_rejects +customer_identifiers +source_revenue"
ZERO_DECIMAL = {"JPY", "KRW"}  # of Stripe's zero-decimal currencies, those a test could meet


def append(frame: pd.DataFrame, **values) -> pd.DataFrame:
    """`frame` with one more row: `values` in their columns, every other column null."""
    row = {column: values.get(column) for column in frame.columns}
    assert set(values) <= set(frame.columns), set(values) - set(frame.columns)
    return pd.concat([frame, pd.DataFrame([row], dtype=object)], ignore_index=True)


def landed_tables() -> dict[str, dict[str, pd.DataFrame]]:
    """The seeds, plus refunds of a landed order and of a landed charge (the seeds' refunds
    are of orders and charges they lack, and their charges all failed), and a charge in a
    currency with no exchange rate."""
    tables = {source: fixtures(source) for source in TABLES}
    stripe = tables["stripe"]
    for charge_id, amount, currency in (("ch_paid", "5000", "usd"), ("ch_yen", "3000", "jpy")):
        stripe["charge"] = append(stripe["charge"], id=charge_id, amount=amount, amount_refunded="0", currency=currency,
                                  status="succeeded", paid="TRUE", captured="TRUE", customer_id="cus_ImVzJQmSlYHjZL",
                                  created="2021-02-20 10:00:00", _fivetran_synced="2021-02-20 11:00:00")
    stripe["refund"] = append(stripe["refund"], id="re_part", charge_id="ch_paid", amount="1250", currency="usd",
                              status="succeeded", created="2021-02-21 10:00:00", _fivetran_synced="2021-02-21 11:00:00")
    shopify = tables["shopify"]
    shopify["refund"] = append(shopify["refund"], id="9001", order_id="1000004", created_at="2025-05-06 10:00:00",
                               _fivetran_synced="2025-05-06 11:00:00")
    for line, (subtotal, tax) in enumerate([("40.00", "3.20"), ("10.00", None)]):
        shopify["order_line_refund"] = append(shopify["order_line_refund"], id=f"9101{line}", refund_id="9001",
                                              order_line_id=f"9201{line}", quantity="1", subtotal=subtotal,
                                              total_tax=tax, _fivetran_synced="2025-05-06 11:00:00")
    return tables


def land_all(warehouse, tmp_path, tables, calls=()) -> None:
    """The loader lands the tables, then a tick loads the calls and runs the phone step."""
    for source, frames in tables.items():
        land(warehouse, source, frames)
    load_segment_calls(warehouse, tmp_path / "calls.jsonl", list(calls))


def expected_shopify_orders(shopify: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Per order: its revenue net of what its refunded lines gave back (subtotal + tax)."""
    lines = shopify["order_line_refund"].merge(shopify["refund"][["id", "order_id"]], left_on="refund_id",
                                               right_on="id", suffixes=("", "_refund"))
    lines["given_back"] = lines["subtotal"].fillna("0").map(Decimal) + lines["total_tax"].fillna("0").map(Decimal)
    refunded = lines.groupby("order_id")["given_back"].sum()
    orders = shopify["order"].copy()
    orders["revenue"] = orders["total_price"].map(Decimal) - orders["id"].map(refunded).fillna(Decimal(0))
    return orders


def expected_mrr(stripe: dict[str, pd.DataFrame]) -> Decimal:
    """MRR of the active subscriptions: item quantity x unit price per month, price or plan."""
    prices = {row.id: (Decimal(row.unit_amount), row.currency, row.recurring_interval, row.recurring_interval_count)
              for row in stripe["price"].itertuples()}
    for row in stripe["plan"].itertuples():
        prices.setdefault(row.id, (Decimal(row.amount), row.currency, row.interval, row.interval_count))
    months = {"day": Decimal(12) / 365, "week": Decimal(12) / 52, "month": Decimal(1), "year": Decimal(12)}
    active = set(stripe["subscription"].query("status in ['active', 'past_due']")["id"])
    total = Decimal(0)
    for item in stripe["subscription_item"].itertuples():
        if item.subscription_id not in active or item.plan_id not in prices:
            continue
        amount, currency, interval, count = prices[item.plan_id]
        minor = 1 if currency.upper() in ZERO_DECIMAL else 100
        total += amount / minor * int(item.quantity) / (months[interval] * int(count or 1))
    return total


def expected_stripe_revenue(stripe: dict[str, pd.DataFrame]) -> dict[str, Decimal]:
    """Per succeeded charge of a currency with a rate: its amount less its succeeded refunds, in dollars."""
    refunds = stripe["refund"].query("status == 'succeeded'").groupby("charge_id")["amount"].agg(
        lambda amounts: sum(Decimal(a) for a in amounts))
    charges = stripe["charge"][stripe["charge"]["currency"].str.upper().isin(["USD", "EUR", "GBP"])]
    return {row.id: ((Decimal(row.amount) - refunds.get(row.id, Decimal(0))) / 100 if row.status == "succeeded" else Decimal(0))
            for row in charges.itertuples()}


def test_orders_revenue_mrr_and_contacts_match_pandas(warehouse, tmp_path, dbt: Dbt):
    tables = landed_tables()
    land_all(warehouse, tmp_path, tables)
    dbt.build(warehouse, MODELS)

    orders = expected_shopify_orders(tables["shopify"])
    built = dict(query(warehouse, "select order_id, revenue from marts.fct_orders"))
    assert built == {row.id: row.revenue for row in orders.itertuples()}
    assert built["1000004"] == Decimal("205.00") - Decimal("53.20")  # the planted refund, netted
    revenue_usd = query(warehouse, "select sum(revenue_usd) from marts.fct_orders")[0][0]
    rates = {"USD": Decimal("1.00"), "GBP": Decimal("1.27")}  # seed exchange_rates
    assert revenue_usd == sum(row.revenue * rates[row.currency] for row in orders.itertuples())

    payments = dict(query(warehouse, "select charge_id, revenue from marts.fct_payments"))
    assert payments == expected_stripe_revenue(tables["stripe"])
    assert payments["ch_paid"] == Decimal("37.50")  # 50.00 charged, 12.50 refunded

    mrr = query(warehouse, "select sum(mrr) from marts.fct_subscriptions")[0][0]
    assert mrr == expected_mrr(tables["stripe"]) and mrr > 0

    summary = {row[0]: row[1:] for row in query(
        warehouse, "select source, orders, revenue_usd, average_order_value_usd, mrr_usd, active_subscriptions "
                   "from analytics.source_revenue")}
    orders_n, shop_revenue, aov, _, _ = summary["shopify"]
    assert (orders_n, shop_revenue) == (len(orders), revenue_usd)
    assert abs(aov - revenue_usd / len(orders)) < Decimal("0.000001")
    assert summary["stripe"] == (None, sum(payments.values()), None, mrr, 2)  # every counted charge is in USD

    contacts = tables["hubspot"]["contact"]
    contacts = contacts[contacts["_fivetran_deleted"].str.lower() != "true"]
    built_contacts = query(warehouse, "select count(*) from marts.customer_identifiers "
                                      "where identifier_type = 'platform_customer_id' and identifier_value like 'hubspot:%'")
    assert built_contacts == [(contacts["id"].nunique(),)]


def test_every_landed_row_is_counted_or_rejected_with_a_reason(warehouse, tmp_path, dbt: Dbt):
    tables = landed_tables()
    land_all(warehouse, tmp_path, tables)
    dbt.build(warehouse, MODELS)
    rejects = query(warehouse, "select record_table, record_id, reject_reason from marts.source_rejects")
    by_table: dict[str, set] = {}
    for table, record_id, reason in rejects:
        assert reason, (table, record_id)
        by_table.setdefault(table, set()).add(record_id)

    orders = {row[0] for row in query(warehouse, "select order_id from marts.fct_orders")}
    assert orders | by_table.get("shopify.order", set()) == set(tables["shopify"]["order"]["id"])
    assert not orders & by_table.get("shopify.order", set())

    netted = set(tables["shopify"]["order_line_refund"].merge(
        tables["shopify"]["refund"], left_on="refund_id", right_on="id", suffixes=("", "_r"))
        .query("order_id in @orders")["id"])
    assert netted == {"91010", "91011"}
    assert netted | by_table["shopify.order_line_refund"] == set(tables["shopify"]["order_line_refund"]["id"])

    charges = {row[0] for row in query(warehouse, "select charge_id from marts.fct_payments")}
    assert by_table["stripe.charge"] == {"ch_yen"}  # no rate for JPY
    assert charges | by_table["stripe.charge"] == set(tables["stripe"]["charge"]["id"])
    refunds = tables["stripe"]["refund"]
    assert by_table["stripe.refund"] == set(refunds[~refunds["charge_id"].isin(charges | {"ch_yen"})]["id"])
    assert "re_part" not in by_table["stripe.refund"]

    items = tables["stripe"]["subscription_item"]
    landed_subscriptions = set(tables["stripe"]["subscription"]["id"])
    unmatched = set(items[~items["subscription_id"].isin(landed_subscriptions)]["id"])
    assert by_table["stripe.subscription_item"] == unmatched and unmatched


def test_one_person_in_every_source_is_one_customer(warehouse, tmp_path, dbt: Dbt):
    """Ana buys on Shopify, pays through Stripe, is a HubSpot contact and identifies on the
    site, her email written four ways: one customer. Her namesake with another email stays
    apart. Zoe's Stripe account has another email but the phone she gave the site."""
    tables = landed_tables()
    shopify, stripe, hubspot = tables["shopify"], tables["stripe"], tables["hubspot"]
    synced = "2026-02-01 00:00:00"
    shopify["customer"] = append(shopify["customer"], id="777001", email=" Ana.Lima@Example.com",
                                 created_at="2026-01-02 10:00:00", _fivetran_synced=synced)
    shopify["order"] = append(shopify["order"], id="777101", customer_id="777001", email="ana.lima@example.com",
                              currency="EUR", total_price="80.00", created_at="2026-01-05 10:00:00",
                              test="false", _fivetran_synced=synced)
    stripe["customer"] = append(stripe["customer"], id="cus_ana", email="ANA.LIMA@EXAMPLE.COM\t",
                                created="2026-01-03 10:00:00", _fivetran_synced=synced)
    stripe["customer"] = append(stripe["customer"], id="cus_other", email="ana.lima@example.org",
                                created="2026-01-03 10:00:00", _fivetran_synced=synced)
    stripe["customer"] = append(stripe["customer"], id="cus_zoe", email="zoe.billing@example.net",
                                phone="+1 (415) 555-0199", created="2026-01-03 10:00:00", _fivetran_synced=synced)
    hubspot["contact"] = append(hubspot["contact"], id="888001", property_email="Ana.Lima@example.COM ",
                                _fivetran_deleted="false", property_createdate="2026-01-04 10:00:00",
                                _fivetran_synced=synced)
    identify = {"type": "identify", "messageId": "ana-identify-1", "userId": "usr_ana", "anonymousId": "dev-ana",
                "timestamp": "2026-01-06T10:00:00.000Z", "traits": {"email": "ana.lima@example.com"}}
    zoe = {"type": "identify", "messageId": "zoe-identify-1", "userId": "usr_zoe", "anonymousId": "dev-zoe",
           "timestamp": "2026-01-06T11:00:00.000Z", "traits": {"email": "zoe@example.com", "phone": "415-555-0199",
                                                              "country": "US"}}
    land_all(warehouse, tmp_path, tables, [identify, zoe])
    dbt.build(warehouse, MODELS)

    customers = dict(query(warehouse, "select identifier_type || ':' || identifier_value, customer_id "
                                      "from marts.customer_identifiers"))
    ana = {customers[key] for key in ["platform_customer_id:shopify:777001", "platform_customer_id:stripe:cus_ana",
                                      "platform_customer_id:hubspot:888001", "email:ana.lima@example.com",
                                      "user_id:usr_ana", "anonymous_id:dev-ana"]}
    assert len(ana) == 1
    assert customers["platform_customer_id:stripe:cus_other"] not in ana
    assert query(warehouse, "select customer_id from marts.fct_orders where order_id = '777101'") == [(ana.pop(),)]
    assert customers["platform_customer_id:stripe:cus_zoe"] == customers["user_id:usr_zoe"] == customers["phone:+14155550199"]


# One bad order each, landed together: one build judges them all.
BAD_ORDERS = {
    "1000002": ({"currency": "XYZ"}, "unknown_currency"),
    "1000003": ({"total_price": "-5.00"}, "negative_amount"),
    "1000004": ({"customer_id": None, "email": None}, "no_customer"),
    "1000005": ({"test": "TRUE"}, "test_order"),
}


def test_bad_orders_are_quarantined_each_with_its_reason(warehouse, tmp_path, dbt: Dbt):
    tables = landed_tables()
    orders = tables["shopify"]["order"]
    for order_id, (change, _) in BAD_ORDERS.items():
        orders.loc[orders["id"] == order_id, list(change)] = list(change.values())
    land_all(warehouse, tmp_path, tables)
    dbt.build(warehouse, MODELS)
    rejected = dict(query(warehouse, "select record_id, reject_reason from marts.source_rejects where record_table = 'shopify.order'"))
    assert rejected == {order_id: reason for order_id, (_, reason) in BAD_ORDERS.items()}
    kept = {row[0] for row in query(warehouse, "select order_id from marts.fct_orders")}
    assert kept == set(orders["id"]) - set(BAD_ORDERS)


def test_a_missing_column_fails_the_build_naming_it(warehouse, tmp_path, dbt: Dbt):
    tables = landed_tables()
    tables["shopify"]["order"] = tables["shopify"]["order"].drop(columns=["total_price"])
    land_all(warehouse, tmp_path, tables)
    result = dbt.run(warehouse, "build", MODELS, {"shopify_enabled": True, "stripe_enabled": True, "hubspot_enabled": True})
    assert not result.success
    assert "total_price" in result.output and "stg_shopify__orders" in result.output


def test_a_source_switched_off_builds_nothing(tmp_path):
    """Off by default: none of a source's models or tables is in the project, so a tick
    neither builds nor reads it. (That the models downstream are unchanged with every
    source off is what the rest of the suite proves.)"""
    def listed(variables: dict) -> set[str]:
        result = in_process_dbt().invoke(["ls", "--resource-type", "model", "--resource-type", "source", "--output", "name"],
                                         target_path=tmp_path / "target", variables=variables).raise_on_failure()
        return set(result.result)

    off = listed({})
    on = listed({"stripe_enabled": True})
    stripe_models = {"stg_stripe__charges", "int_profiles__subscription_items", "fct_subscriptions", "source_rejects",
                     "int_identity__source_records", "stg_stripe__subscription_history",
                     "int_profiles__subscription_versions", "fct_mrr_movements", "mrr_movements"}
    assert stripe_models <= on
    assert not stripe_models & off
    assert not any(name.startswith(("shopify.", "stripe.", "hubspot.")) for name in off)
    assert {"stg_shopify__orders", "stg_hubspot__contacts", "stg_hubspot__email_status_changes",
            "int_journeys__hubspot_email_blocks"}.isdisjoint(on)


def test_the_phone_step_reads_the_phones_of_sources_switched_on_only(warehouse, tmp_path):
    from orchestration.phone_numbers import normalise_new_phone_numbers
    from orchestration.warehouse import raw_layer
    from tests.engines import environment, selected

    stripe = fixtures("stripe")
    stripe["customer"] = append(stripe["customer"], id="cus_p", phone=" +44 20 7946 0958 ", _fivetran_synced="2026-01-01 00:00:00")
    land(warehouse, "stripe", stripe)
    with environment(selected(warehouse)), raw_layer(warehouse) as con:
        assert normalise_new_phone_numbers(con, sources=set())["new_pairs"] == 0
        assert normalise_new_phone_numbers(con, sources={"stripe"}) == {"new_pairs": 1, "valid": 1, "not_valid": 0}
        assert normalise_new_phone_numbers(con, sources={"stripe"})["new_pairs"] == 0  # parsed once
        rows = con.execute("select raw_phone, country_code, e164, first_loaded_at from raw.phone_numbers").fetchall()
    assert [row[:3] for row in rows] == [("+44 20 7946 0958", None, "+442079460958")]
    assert rows[0][3].year == 1900  # no call loaded yet: the watermark did not move
