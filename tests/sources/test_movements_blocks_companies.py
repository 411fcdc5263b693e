"""Issue 19, the rest: Stripe MRR movements from the subscription history, HubSpot email
events blocking email, and HubSpot companies on the customer.

The Fivetran seeds are landed as in test_sources, with rows of this test's own appended in
the same layouts (marked OURS below) where the seeds have no such case: the seed history
has one version per subscription and no history-mode times, its email events are opens,
sends and deliveries, and its contacts name no company. One build per engine serves every
test of the module; the numbers are compared with a pandas computation over the same tables.
"""

from __future__ import annotations

from decimal import Decimal

import pandas as pd
import pytest

from tests.engines import selected
from tests.sources.conftest import Dbt, load_segment_calls, query
from tests.sources.landing import TABLES, fixtures, land
from tests.sources.test_sources import ZERO_DECIMAL, append

NOW = "2026-03-01T00:00:00"
MODELS = ("+fct_mrr_movements +mrr_movements +source_rejects +fct_subscriptions +int_journeys__events "
          "+int_journeys__reachability +dim_customers +customer_identifiers")
SYNCED = "2026-02-20 00:00:00"
PAYING = {"active", "past_due"}


def with_columns(frame: pd.DataFrame, *columns: str) -> pd.DataFrame:
    """`frame` with more columns, null in its rows: columns a connector lands that the seed lacks."""
    return frame.assign(**{column: pd.Series([None] * len(frame), dtype=object) for column in columns})


def stripe_tables() -> dict[str, pd.DataFrame]:
    stripe = fixtures("stripe")
    # OURS: the history as a history-mode table lands it, with its version times.
    history = with_columns(stripe["subscription_history"], "_fivetran_start", "_fivetran_end")

    def subscription(sub_id: str, customer: str, quantity: int, status: str = "active") -> None:
        stripe["customer"] = append(stripe["customer"], id=customer, email=f"{customer}@example.com",
                                    created="2025-12-01 00:00:00", _fivetran_synced=SYNCED)
        stripe["subscription"] = append(stripe["subscription"], id=sub_id, customer_id=customer, status=status,
                                        start_date="2026-01-01 00:00:00", created="2026-01-01 00:00:00",
                                        quantity=str(quantity), _fivetran_synced=SYNCED)
        stripe["subscription_item"] = append(stripe["subscription_item"], id=f"si_{sub_id}", subscription_id=sub_id,
                                             plan_id="price_2", quantity=str(quantity), created="2026-01-01 00:00:00",
                                             _fivetran_synced=SYNCED)

    def version(sub_id: str, customer: str, start: str, status: str, quantity: int, current: bool = False) -> None:
        nonlocal history
        history = append(history, id=sub_id, customer_id=customer, status=status, quantity=str(quantity),
                         start_date="2026-01-01 00:00:00", _fivetran_start=start,
                         _fivetran_end=None if current else "9999-12-31 00:00:00",
                         _fivetran_active="true" if current else "false", _fivetran_synced=SYNCED)

    # OURS: seats 2, then 5 (an upgrade), then 3 (a downgrade), then past due at 3 (no movement).
    subscription("sub_seats", "cus_seats", 3, "past_due")
    version("sub_seats", "cus_seats", "2026-01-01 00:00:00", "active", 2)
    version("sub_seats", "cus_seats", "2026-01-15 00:00:00", "active", 5)
    version("sub_seats", "cus_seats", "2026-02-01 00:00:00", "active", 3)
    version("sub_seats", "cus_seats", "2026-02-10 00:00:00", "past_due", 3, current=True)
    # OURS: one seat, cancelled, then back (churn, then reactivation).
    subscription("sub_back", "cus_back", 1)
    version("sub_back", "cus_back", "2026-01-01 00:00:00", "active", 1)
    version("sub_back", "cus_back", "2026-01-20 00:00:00", "canceled", 1)
    version("sub_back", "cus_back", "2026-02-05 00:00:00", "active", 1, current=True)
    # OURS, bad: a version of a subscription never landed, and one with a negative quantity.
    version("sub_ghost", "cus_seats", "2026-01-05 00:00:00", "active", 1)
    version("sub_seats", "cus_seats", "2026-01-20 00:00:00", "active", -2)
    stripe["subscription_history"] = history
    return stripe


def hubspot_tables() -> dict[str, pd.DataFrame]:
    hubspot = fixtures("hubspot")
    # OURS: the contact's primary company and the company's domain, as a portal using them lands them.
    hubspot["contact"] = with_columns(hubspot["contact"], "property_associatedcompanyid")
    hubspot["company"] = with_columns(hubspot["company"], "property_domain")
    hubspot["company"] = append(hubspot["company"], id="990001", is_deleted="false", property_name="Acme Pens",
                                property_domain=" Acme.Example ", property_industry="Stationery",
                                _fivetran_synced=SYNCED)
    for contact_id, email, company in (("880001", "cy@home.example", "990001"), ("880002", "bea@example.com", None),
                                       ("880003", "spam@example.com", "990404")):  # 990404: a company never landed
        hubspot["contact"] = append(hubspot["contact"], id=contact_id, property_email=email, _fivetran_deleted="false",
                                    property_associatedcompanyid=company, property_createdate="2026-01-01 00:00:00",
                                    _fivetran_synced=SYNCED)

    def event(event_id: str, kind: str, recipient: str, at: str = "2026-02-01 10:00:00") -> None:
        hubspot["email_event"] = append(hubspot["email_event"], id=event_id, type=kind, recipient=recipient, created=at,
                                        email_campaign_id="2", filtered_event="false", _fivetran_synced=SYNCED)

    # OURS: a bounce, a spam report, an unsubscribe and a re-subscribe; opens and clicks block nothing.
    event("ev-bounce", "BOUNCE", "CY@home.example ")  # Cy's other address: Cy's email is blocked all the same
    event("ev-spam", "SPAMREPORT", "spam@example.com")
    event("ev-unsub", "STATUSCHANGE", "unsub@example.com")
    event("ev-resub", "STATUSCHANGE", "resub@example.com")
    event("ev-open", "OPEN", "open@example.com")
    event("ev-click", "CLICK", "open@example.com")
    event("ev-later", "BOUNCE", "later@example.com", at="2026-03-05 10:00:00")  # after now: not yet
    # OURS, bad: a bounce with no recipient, an unsubscribe-or-not whose status change was never landed.
    event("ev-nobody", "BOUNCE", " ")
    event("ev-unknown-change", "STATUSCHANGE", "open@example.com")
    for event_id, status in (("ev-unsub", "UNSUBSCRIBED"), ("ev-resub", "SUBSCRIBED")):
        hubspot["email_event_status_change"] = append(hubspot["email_event_status_change"], id=event_id,
                                                      portal_subscription_status=status, source="SOURCE_RECIPIENT",
                                                      _fivetran_synced=SYNCED)
    return hubspot


USERS = {"cy": "cy@work.example", "bea": "bea@example.com", "spam": "spam@example.com", "unsub": "unsub@example.com",
         "resub": "resub@example.com", "open": "open@example.com", "later": "later@example.com"}


def site_calls() -> list[dict]:
    calls = []
    for n, (user, email) in enumerate(USERS.items()):
        emails = ["cy@home.example", email] if user == "cy" else [email]  # Cy identifies with both addresses
        for k, address in enumerate(emails):
            calls.append({"type": "identify", "messageId": f"mv-{user}-{k}", "userId": f"usr_{user}",
                          "anonymousId": f"dev-{user}", "timestamp": f"2026-01-1{n}T10:0{k}:00.000Z",
                          "traits": {"email": address}})
    return calls


@pytest.fixture(scope="module", params=["duckdb", "postgres"])
def built(request, tmp_path_factory, dbt: Dbt):
    """One warehouse per engine: every source landed, the calls loaded, the models built once."""
    folder = tmp_path_factory.mktemp(f"movements_{request.param}")
    path = folder / "warehouse.duckdb"
    tables = {source: fixtures(source) for source in TABLES}
    tables["stripe"], tables["hubspot"] = stripe_tables(), hubspot_tables()
    with pytest.MonkeyPatch.context() as env:
        env.delenv("DAGSTER_HOME", raising=False)
        if request.param == "postgres":
            for key, value in request.getfixturevalue("postgres_server").env("postgres").items():
                env.setenv(key, value)
        else:
            env.setenv("THROUGHLINE_TARGET", "duckdb")
        for key, value in selected(path).items():
            env.setenv(key, value)
        for source, frames in tables.items():
            land(path, source, frames)
        load_segment_calls(path, folder / "calls.jsonl", site_calls())
        dbt.build(path, MODELS, {"now": NOW})
        yield path, tables


# --- the independent computation -------------------------------------------------------

def item_mrr(stripe: dict[str, pd.DataFrame]) -> dict[str, Decimal]:
    """Per subscription: its items' monthly amount at their quantities now (price, else plan)."""
    prices = {row.id: (Decimal(row.unit_amount), row.currency, row.recurring_interval, row.recurring_interval_count)
              for row in stripe["price"].itertuples()}
    for row in stripe["plan"].itertuples():
        prices.setdefault(row.id, (Decimal(row.amount), row.currency, row.interval, row.interval_count))
    months = {"day": Decimal(12) / 365, "week": Decimal(12) / 52, "month": Decimal(1), "year": Decimal(12)}
    landed = set(stripe["subscription"]["id"])
    totals: dict[str, Decimal] = {}
    for item in stripe["subscription_item"].itertuples():
        if item.subscription_id not in landed or item.plan_id not in prices:
            continue
        amount, currency, interval, count = prices[item.plan_id]
        minor = 1 if currency.upper() in ZERO_DECIMAL else 100
        monthly = amount / minor * int(item.quantity) / (months[interval] * int(count or 1))
        totals[item.subscription_id] = totals.get(item.subscription_id, Decimal(0)) + monthly
    return totals


def expected_movements(stripe: dict[str, pd.DataFrame]) -> list[tuple]:
    """(subscription, type, month, MRR before, MRR after) per movement, by the rules of
    docs/sources.md: versions in order, each at its items' MRR now scaled by its quantity
    over the current version's, 0 unless active or past due."""
    totals = item_mrr(stripe)
    history = stripe["subscription_history"].copy()
    history["quantity"] = history["quantity"].astype(int)
    history = history[history["id"].isin(totals) & (history["quantity"] >= 0)]
    history["at"] = pd.to_datetime(history["_fivetran_start"].fillna(history["_fivetran_synced"]))
    movements = []
    for sub_id, versions in history.sort_values(["at", "_fivetran_synced"]).groupby("id", sort=False):
        active = versions[versions["_fivetran_active"].str.lower() == "true"]
        current = (active if len(active) else versions.iloc[[-1]])["quantity"].iloc[0]
        previous, highest = Decimal(0), Decimal(0)
        for number, version in enumerate(versions.itertuples()):
            mrr = totals[sub_id] * version.quantity / current if version.status in PAYING else Decimal(0)
            kind = ("new" if previous == 0 and mrr > 0 and highest == 0 else
                    "reactivation" if previous == 0 and mrr > 0 else
                    "churn" if previous > 0 and mrr == 0 else
                    "expansion" if previous > 0 and mrr > previous else
                    "contraction" if previous > 0 and mrr < previous else None)
            moved = pd.to_datetime(version.start_date) if number == 0 and version.start_date else version.at
            if kind:
                movements.append((sub_id, kind, moved.strftime("%Y-%m"), previous, mrr))
            previous, highest = mrr, max(highest, mrr)
    return movements


def close(a, b) -> bool:
    return abs(Decimal(str(a)) - Decimal(str(b))) < Decimal("0.0001")


# --- Stripe ----------------------------------------------------------------------------

def test_mrr_movements_match_pandas(built):
    warehouse, tables = built
    rows = query(warehouse, "select subscription_id, movement_type, moved_at, previous_mrr, mrr from marts.fct_mrr_movements")
    built_rows = sorted((s, t, m.strftime("%Y-%m"), p, n) for s, t, m, p, n in rows)
    expected = sorted(expected_movements(tables["stripe"]))
    assert [row[:3] for row in built_rows] == [row[:3] for row in expected]
    assert all(close(b[3], e[3]) and close(b[4], e[4]) for b, e in zip(built_rows, expected)), (built_rows, expected)
    kinds = {(s, t) for s, t, *_ in built_rows}
    assert {("sub_seats", "new"), ("sub_seats", "expansion"), ("sub_seats", "contraction"),
            ("sub_back", "churn"), ("sub_back", "reactivation")} <= kinds
    seats = [(t, p, n) for s, t, _, p, n in sorted(rows, key=lambda r: r[2]) if s == "sub_seats"]
    assert [t for t, *_ in seats] == ["new", "expansion", "contraction"]  # past due at 3 seats moved nothing
    assert close(seats[1][1], Decimal("59.98")) and close(seats[1][2], Decimal("149.95"))  # 2 -> 5 seats of 29.99


def test_the_last_movement_ends_at_the_mrr_now(built):
    warehouse, _ = built
    latest = query(warehouse, """
        select movements.subscription_id, movements.mrr, subscriptions.mrr
        from marts.fct_mrr_movements as movements
        inner join marts.fct_subscriptions as subscriptions on subscriptions.subscription_id = movements.subscription_id
        where movements.subscription_id in ('sub_seats', 'sub_back')
          and movements.version_number = (select max(version_number) from marts.fct_mrr_movements as later
                                          where later.subscription_id = movements.subscription_id)""")
    assert len(latest) == 2
    assert all(close(after, now) for _, after, now in latest), latest


def test_mrr_movements_per_month_match_pandas(built):
    warehouse, tables = built
    expected: dict[str, dict[str, Decimal]] = {}
    for _, kind, month, before, after in expected_movements(tables["stripe"]):
        month_row = expected.setdefault(month, {})
        month_row[kind] = month_row.get(kind, Decimal(0)) + abs(after - before)  # USD: every price here is in USD
    rows = query(warehouse, "select movement_month, new_mrr_usd, expansion_mrr_usd, contraction_mrr_usd, churned_mrr_usd, "
                            "reactivation_mrr_usd, net_new_mrr_usd from analytics.mrr_movements")
    assert {str(row[0])[:7] for row in rows} == set(expected)
    for month, new, expansion, contraction, churned, reactivation, net in rows:
        want = expected[str(month)[:7]]
        got = {"new": new, "expansion": expansion, "contraction": contraction, "churn": churned, "reactivation": reactivation}
        assert all(close(got[kind], want.get(kind, 0)) for kind in got), (month, got, want)
        assert close(net, want.get("new", 0) + want.get("expansion", 0) + want.get("reactivation", 0)
                     - want.get("contraction", 0) - want.get("churn", 0))


def test_upgrades_and_downgrades_reach_journeys_as_events(built):
    warehouse, _ = built
    [(seats_customer,)] = query(warehouse, "select customer_id from marts.customer_identifiers "
                                           "where identifier_value = 'stripe:cus_seats'")
    events = query(warehouse, "select event_name, occurred_at from journeys.int_journeys__events "
                              f"where customer_id = '{seats_customer}' and event_name like 'subscription_%' "
                              "order by occurred_at")
    assert [(name, str(at)[:10]) for name, at in events] == [
        ("subscription_started", "2026-01-01"), ("subscription_upgraded", "2026-01-15"),
        ("subscription_downgraded", "2026-02-01")]
    # churn and reactivation are not upgrades: sub_back's customer has none
    assert query(warehouse, "select count(*) from journeys.int_journeys__source_events where event_name in "
                            "('subscription_upgraded', 'subscription_downgraded') and platform_customer_id = 'stripe:cus_back'") == [(0,)]


def test_every_history_row_is_counted_or_rejected_with_a_reason(built):
    warehouse, tables = built
    rejects = dict(query(warehouse, "select record_id, reject_reason from marts.source_rejects "
                                    "where record_table = 'stripe.subscription_history'"))
    assert sorted(rejects.values()) == ["negative_amount", "subscription_not_landed"]
    assert {record.split("@")[0] for record in rejects} == {"sub_ghost", "sub_seats"}
    [(counted,)] = query(warehouse, "select count(*) from profiles.int_profiles__subscription_versions where reject_reason is null")
    assert counted + len(rejects) == len(tables["stripe"]["subscription_history"])


# --- HubSpot ---------------------------------------------------------------------------

def expected_email_blocks(hubspot: dict[str, pd.DataFrame]) -> dict[str, str]:
    """Recipient (normalized) -> what blocks it, by the rules of docs/sources.md, up to now."""
    events = hubspot["email_event"].merge(hubspot["email_event_status_change"][["id", "portal_subscription_status"]],
                                          on="id", how="left")
    events = events[pd.to_datetime(events["created"], format="mixed") <= pd.Timestamp(NOW)]
    blocks = {}
    for row in events.assign(at=pd.to_datetime(events["created"], format="mixed")).sort_values("at").itertuples():
        kind = {"BOUNCE": "hard_bounce", "SPAMREPORT": "complaint"}.get(row.type)
        if row.type == "STATUSCHANGE" and row.portal_subscription_status == "UNSUBSCRIBED":
            kind = "unsubscribe"
        if kind and row.recipient:
            blocks.setdefault(row.recipient.strip().lower(), kind)
    return blocks


def test_hubspot_bounces_spam_reports_and_unsubscribes_block_email(built):
    warehouse, tables = built
    blocks = expected_email_blocks(tables["hubspot"])
    assert set(blocks.values()) == {"hard_bounce", "complaint", "unsubscribe"}
    customers = dict(query(warehouse, "select identifier_value, customer_id from marts.customer_identifiers "
                                      "where identifier_type = 'user_id'"))
    addresses = {user: {"cy@home.example", email} if user == "cy" else {email} for user, email in USERS.items()}
    expected = {customers[f"usr_{user}"]: next(blocks[a] for a in emails if a in blocks)
                for user, emails in addresses.items() if emails & set(blocks)}
    reach = dict(query(warehouse, "select customer_id, blocked_by from journeys.int_journeys__reachability "
                                  "where channel = 'email' and blocked_by is not null"))
    assert reach == expected
    assert reach[customers["usr_cy"]] == "hard_bounce"  # bounced at the address Cy no longer gives
    for user in ("bea", "resub", "open", "later"):
        assert customers[f"usr_{user}"] not in reach, user
    # the other channels stay open
    assert query(warehouse, "select count(*) from journeys.int_journeys__reachability "
                            "where channel <> 'email' and blocked_by is not null") == [(0,)]


def test_email_events_that_cannot_block_are_rejected_with_a_reason(built):
    warehouse, tables = built
    rejects = dict(query(warehouse, "select record_id, reject_reason from marts.source_rejects "
                                    "where record_table = 'hubspot.email_event'"))
    assert rejects == {"ev-nobody": "no_recipient", "ev-unknown-change": "status_change_not_landed"}
    events = tables["hubspot"]["email_event"]
    blocking = events[events["type"].isin(["BOUNCE", "SPAMREPORT", "STATUSCHANGE"])]
    [(blocks,)] = query(warehouse, "select count(*) from journeys.int_journeys__hubspot_email_blocks")
    resubscribed = set(tables["hubspot"]["email_event_status_change"].query("portal_subscription_status != 'UNSUBSCRIBED'")["id"])
    # every blocking kind of event landed is a block, a reject, or a status change to subscribed
    assert blocks + len(rejects) + len(set(blocking["id"]) & resubscribed) == len(blocking)


# --- HubSpot companies ----------------------------------------------------------------

def test_the_contacts_company_is_on_the_customer(built):
    warehouse, tables = built
    hubspot = tables["hubspot"]
    contacts = hubspot["contact"].dropna(subset=["property_associatedcompanyid"])
    companies = hubspot["company"][hubspot["company"]["is_deleted"].str.lower() != "true"]
    joined = contacts.merge(companies, left_on="property_associatedcompanyid", right_on="id", suffixes=("", "_company"))
    by_email = {row.property_email: (row.property_name, row.property_domain.strip().lower() if row.property_domain else None,
                                      row.property_industry) for row in joined.itertuples()}
    rows = {user: company for user, *company in query(warehouse, """
        select ids.identifier_value, customers.crm_company, customers.crm_company_domain, customers.crm_company_industry
        from marts.dim_customers as customers
        inner join marts.customer_identifiers as ids on ids.customer_id = customers.customer_id and ids.identifier_type = 'user_id'""")}
    assert rows["usr_cy"] == list(by_email["cy@home.example"]) == ["Acme Pens", "acme.example", "Stationery"]
    assert rows["usr_bea"] == [None, None, None]    # a contact with no company
    assert rows["usr_spam"] == [None, None, None]   # its company was never landed
    assert rows["usr_open"] == [None, None, None]   # no contact at all


# --- a connection lands one of the two subscription tables ------------------------------

def test_a_connection_with_either_subscription_table_is_read(warehouse, tmp_path, dbt: Dbt):
    """Stripe connections made before February 2022 land `subscription`, later ones
    `subscription_history` (history mode) instead: each builds from what it has."""
    stripe = stripe_tables()
    models = "+fct_mrr_movements +fct_subscriptions"
    for source in ("shopify", "hubspot"):
        land(warehouse, source, fixtures(source))
    load_segment_calls(warehouse, tmp_path / "calls.jsonl", [])

    # Before history mode: each subscription is one version, a `new` movement at its MRR now.
    land(warehouse, "stripe", {name: frame for name, frame in stripe.items() if name != "subscription_history"})
    dbt.build(warehouse, models, {"now": NOW})
    now = {sub: mrr for sub, mrr in query(warehouse, "select subscription_id, mrr from marts.fct_subscriptions") if mrr > 0}
    movements = query(warehouse, "select subscription_id, movement_type, mrr from marts.fct_mrr_movements")
    assert {sub for sub, *_ in movements} == set(now) and {"sub_seats", "sub_back"} <= set(now)
    assert all(kind == "new" and close(mrr, now[sub]) for sub, kind, mrr in movements), movements

    # History mode only: the subscriptions are the current versions, the movements as above.
    land(warehouse, "stripe", {name: frame for name, frame in stripe.items() if name != "subscription"})
    dbt.build(warehouse, models, {"now": NOW})
    history = stripe["subscription_history"]
    current = history[history["_fivetran_active"].str.lower() == "true"]
    assert {row[0] for row in query(warehouse, "select subscription_id from marts.fct_subscriptions")} == set(current["id"])
    rows = query(warehouse, "select subscription_id, movement_type, moved_at, previous_mrr, mrr from marts.fct_mrr_movements")
    built_rows = sorted((s, t, m.strftime("%Y-%m"), p, n) for s, t, m, p, n in rows)
    expected = sorted(expected_movements({**stripe, "subscription": current}))
    assert [row[:3] for row in built_rows] == [row[:3] for row in expected]
    assert all(close(b[3], e[3]) and close(b[4], e[4]) for b, e in zip(built_rows, expected))
