"""Customer ids are stable: growing keeps the id, a merge keeps the earlier one and
records the other, and incremental, full-refresh and from-scratch builds agree."""

from __future__ import annotations

from datetime import timedelta

from conftest import PROFILE_MARTS, START, Calls, customers_by_identifier, load, query

# Every analyst-facing table that is a function of the data (not build history).
DERIVED_MARTS = ["customer_identifiers", "dim_customers", "fct_orders", "fct_sessions", "customer_rfm", "excluded_identifiers"]


def snapshot(warehouse) -> dict[str, list[tuple]]:
    """Every row of every derived mart, without load bookkeeping (when a file was loaded)."""
    tables = {}
    for table in DERIVED_MARTS:
        columns = [c for (c,) in query(warehouse, f"select column_name from information_schema.columns where table_schema = 'marts' and table_name = '{table}' order by ordinal_position") if c != "last_loaded_at"]
        tables[table] = sorted(query(warehouse, f"select {', '.join(columns)} from marts.{table}"), key=repr)
    return tables


def day(n: int, hour: int = 10):
    return START + timedelta(days=n, hours=hour)


def write_batches(tmp_path):
    """Three loads: Ana and Ben appear; Ana comes back on a phone; Ben logs in as Ana."""
    first = Calls()
    first.track("session_started", anonymous_id="ana-laptop", at=day(0))
    first.identify(anonymous_id="ana-laptop", user_id="usr-ana", traits={"email": "Ana@Example.com ", "first_name": "Ana"}, at=day(0, 11))
    first.track("purchase_made", anonymous_id="ana-laptop", user_id="usr-ana", at=day(1),
                properties={"order_id": "o1", "revenue": 40.5, "currency": "USD"})
    first.track("session_started", anonymous_id="ben-laptop", at=day(2))
    first.identify(anonymous_id="ben-laptop", user_id="usr-ben", traits={"email": "ben@example.com"}, at=day(2, 11))
    first.track("purchase_made", anonymous_id="ben-laptop", user_id="usr-ben", at=day(3),
                properties={"order_id": "o2", "revenue": 12, "currency": "GBP"})

    grow = Calls()
    grow.track("session_started", anonymous_id="ana-phone", at=day(5))
    grow.identify(anonymous_id="ana-phone", user_id="usr-ana", traits={"phone": "(415) 555-0132", "country": "US"}, at=day(5, 11))
    grow.track("purchase_made", anonymous_id="ana-phone", user_id="usr-ana", at=day(6),
                properties={"order_id": "o3", "revenue": 9.99, "currency": "EUR"})

    merge = Calls()
    # Ben's laptop turns out to be Ana's too: an alias ties the device to Ana's account.
    merge.alias("ben-laptop", "usr-ana", at=day(8))
    merge.track("session_started", anonymous_id="ben-laptop", user_id="usr-ana", at=day(8, 1))

    return [first.write(tmp_path / "1.jsonl"), grow.write(tmp_path / "2.jsonl"), merge.write(tmp_path / "3.jsonl")]


def test_ids_survive_growth_and_merges_and_full_refresh_agrees(warehouse, tmp_path, dbt):
    first, grow, merge = write_batches(tmp_path)

    load(warehouse, first)
    dbt.build(warehouse, select=PROFILE_MARTS)
    ids = customers_by_identifier(warehouse)
    ana, ben = ids["user_id:usr-ana"], ids["user_id:usr-ben"]
    assert ana != ben
    assert ids["email:ana@example.com"] == ana, "emails are normalised before linking"

    load(warehouse, grow)
    dbt.build(warehouse, select=PROFILE_MARTS)
    ids = customers_by_identifier(warehouse)
    assert ids["anonymous_id:ana-phone"] == ids["phone:+14155550132"] == ana, "a growing customer keeps its id"
    assert ids["user_id:usr-ben"] == ben
    assert query(warehouse, "select count(*) from marts.customer_id_merges") == [(0,)]

    load(warehouse, merge)
    dbt.build(warehouse, select=PROFILE_MARTS)
    ids = customers_by_identifier(warehouse)
    assert set(ids.values()) == {ana}, "Ben's identifiers joined Ana, whose anchor was loaded first"
    assert query(warehouse, "select merged_customer_id, customer_id from marts.customer_id_merges") == [(ben, ana)]
    [(orders, revenue)] = query(warehouse, "select orders, revenue_usd from marts.dim_customers")
    assert orders == 3 and float(revenue) == round(40.5 + 12 * 1.27 + 9.99 * 1.08, 6)
    incremental = snapshot(warehouse)

    # A full refresh rebuilds every model from the raw data: same ids, same tables;
    # the merge log is history and survives it.
    dbt.build(warehouse, select=PROFILE_MARTS, full_refresh=True)
    assert snapshot(warehouse) == incremental
    assert query(warehouse, "select merged_customer_id, customer_id from marts.customer_id_merges") == [(ben, ana)]

    # And a warehouse that gets all three loads at once builds the same tables.
    other = tmp_path / "other.duckdb"
    load(other, first, grow, merge)
    dbt.build(other, select=PROFILE_MARTS)
    assert snapshot(other) == incremental
