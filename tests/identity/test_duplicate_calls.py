"""A message stored twice in raw.events (replayed into the warehouse by another writer,
as Segment's own warehouse sync does; the loader itself skips known ids) counts once:
the append-only call models keep its first stored copy, on a full build and when a
later copy arrives in an incremental one."""

from __future__ import annotations

from pathlib import Path

from tests.identity.conftest import Calls, load, query

CALL_MODELS = ("identity.int_identity__calls", "journeys.int_journeys__calls")


def store_copy(warehouse: Path, message_id: str, *, event: str, loaded_at: str, line: int) -> None:
    """A copy of a stored track call with another event name, stored later, as a replay would."""
    from orchestration.warehouse import connect
    from tests.engines import environment, selected

    with environment(selected(warehouse)):
        con = connect(warehouse)
    try:
        con.execute(
            "insert into raw.events (message_id, type, event, name, user_id, anonymous_id, previous_id, occurred_at, "
            "properties, traits, context, load_id, source_file, source_line, loaded_at) "
            f"select message_id, type, '{event}', name, user_id, anonymous_id, previous_id, occurred_at, properties, traits, "
            f"context, 'replay', 'replay.jsonl', {line}, cast('{loaded_at}' as timestamp) "
            f"from raw.events where message_id = '{message_id}'"
        )
    finally:
        con.close()


def events_by_message(warehouse: Path, model: str) -> dict[str, list[str]]:
    rows = query(warehouse, f"select message_id, event_name from {model}")
    found: dict[str, list[str]] = {}
    for message_id, event_name in rows:
        found.setdefault(message_id, []).append(event_name)
    return found


def test_a_message_stored_twice_counts_once_with_its_first_copy(warehouse, dbt, tmp_path):
    calls = Calls()
    calls.identify(anonymous_id="dev-1", user_id="u1", traits={"email": "dup@example.com"})
    first = calls.track("cart_added", user_id="u1", properties={"product_id": "p1"})
    calls.track("checkout_started", user_id="u1")
    load(warehouse, calls.write(tmp_path / "day1.jsonl"))
    store_copy(warehouse, first["messageId"], event="replayed_copy", loaded_at="2099-01-01 00:00:00", line=1)

    dbt.build(warehouse, "+int_identity__calls +int_journeys__calls", full_refresh=True)
    for model in CALL_MODELS:
        stored = events_by_message(warehouse, model)
        assert stored[first["messageId"]] == ["cart_added"], model  # the first copy, once
        assert len(stored) == (3 if model.startswith("identity") else 2), model

    # an incremental run: a new message stored twice, and a third copy of the old one
    later = Calls()
    second = later.track("product_viewed", user_id="u1")
    load(warehouse, later.write(tmp_path / "day2.jsonl"))
    store_copy(warehouse, second["messageId"], event="replayed_copy", loaded_at="2099-01-02 00:00:00", line=2)
    store_copy(warehouse, first["messageId"], event="replayed_again", loaded_at="2099-01-02 00:00:00", line=3)

    dbt.build(warehouse, "+int_identity__calls +int_journeys__calls")
    for model in CALL_MODELS:
        stored = events_by_message(warehouse, model)
        assert stored[first["messageId"]] == ["cart_added"], model
        assert stored[second["messageId"]] == ["product_viewed"], model
