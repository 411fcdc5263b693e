"""Audience syncs against the local vendor servers: the diff, the modes, the state that
advances per acknowledged batch, the shrink guard, full resync and mirror cleanup."""

import gc

import pytest

from connectors.vendor_servers.meta import DEMO_AUDIENCE
from orchestration.syncs.runner import RunOptions, SyncRefused, preview_sync, run_sync
from orchestration.warehouse import raw_layer

from .helpers import audience_spec, member, write_audience


def meta_members(local) -> int:
    return len(local.servers["meta"].audiences[DEMO_AUDIENCE])


def sendgrid_list(local) -> set[str]:
    server = local.servers["sendgrid"]
    return server.list_emails(local.env["THROUGHLINE_SENDGRID_LIST_ID"])


def test_a_second_run_sends_only_the_difference(engine, local):
    spec = audience_spec(destination="sendgrid", name="champions_to_sendgrid")
    write_audience([member(i) for i in range(200)], "champions_to_sendgrid")
    first = run_sync(spec)
    assert first.kind == "first_sync" and first.tally()["added"] == 200
    assert sendgrid_list(local) == {f"person{i}@example.com" for i in range(200)}

    # 10 leave, 10 join, 5 change their name, and one changes email (an identity change)
    rows = [member(i, version=1 if i < 15 else 0) for i in range(10, 210)]
    rows = [(k, "new-address@example.com" if k == "cus_0000020" else e, p, n) for k, e, p, n in rows]
    write_audience(rows, "champions_to_sendgrid")
    requests_before = len(local.servers["sendgrid"].request_log)
    second = run_sync(spec)
    counts = second.tally()
    assert (counts["added"], counts["removed"], counts["changed"]) == (10, 10, 6)
    assert second.kind == "incremental"
    assert sendgrid_list(local) == {e for _, e, _, _ in rows}, "the list equals the warehouse audience exactly"
    assert len(local.servers["sendgrid"].request_log) - requests_before <= 4, "one batch per step, not one call per member"

    third = run_sync(spec)
    assert sum(third.tally().values()) == 0, "nothing changed, nothing sent"


@pytest.mark.parametrize(("mode", "expected"), [("upsert", 210), ("add_only", 210), ("mirror", 200)])
def test_modes_decide_what_departs_and_what_updates(engine, local, mode, expected):
    spec = audience_spec(mode=mode)
    write_audience([member(i) for i in range(200)])
    run_sync(spec)
    write_audience([member(i, version=1) for i in range(10, 210)])
    report = run_sync(spec)
    assert meta_members(local) == expected
    counts = report.tally()
    assert counts["removed"] == (10 if mode == "mirror" else 0)
    assert counts["changed"] == (0 if mode == "add_only" else 190)


def test_mirror_removes_only_what_throughline_added(engine, local):
    from connectors import Record, create
    from connectors.base import Operation

    with create("meta") as meta:  # someone else's member of the same audience
        meta.write(Operation.ADD_AUDIENCE_MEMBERS, [Record("theirs", {"email": "theirs@example.com"})], target=DEMO_AUDIENCE)
    spec = audience_spec()
    write_audience([member(i) for i in range(50)])
    run_sync(spec)
    assert meta_members(local) == 51
    run_sync(spec, RunOptions(cleanup=True))
    assert meta_members(local) == 1, "the cleanup removed every member Throughline added, and only those"


def test_an_audience_that_shrinks_past_its_threshold_is_refused_and_the_destination_untouched(engine, local):
    spec = audience_spec(max_shrink_percent=20)
    write_audience([member(i) for i in range(100)])
    run_sync(spec)
    requests = len(local.servers["meta"].request_log)
    write_audience([member(i) for i in range(70)])  # a 30% drop: perhaps a broken upstream model

    with pytest.raises(SyncRefused) as refused:
        run_sync(spec)
    message = str(refused.value)
    assert "refused" in message and "30.0%" in message and "max_shrink_percent of 20%" in message
    assert "--confirm-shrink champions_to_meta" in message, "the message says how to confirm"
    assert len(local.servers["meta"].request_log) == requests and meta_members(local) == 100, "nothing was sent"
    with raw_layer() as con:
        assert con.execute("select status from raw.sync_runs order by started_at desc limit 1").fetchone()[0] == "refused"
        assert con.execute("select count(*) from raw.sync_state").fetchone()[0] == 100

    assert preview_sync(spec)["refused"], "preview shows the refusal too"
    confirmed = run_sync(spec, RunOptions(confirm_shrink=True))
    assert confirmed.tally()["removed"] == 30 and meta_members(local) == 70


def test_rejected_rows_are_recorded_and_skipped_until_they_change(engine, local):
    spec = audience_spec(destination="sendgrid", name="champions_to_sendgrid")
    rows = [member(i) for i in range(20)] + [("cus_bad", "not-an-address", None, "Bad")]
    write_audience(rows, "champions_to_sendgrid")
    first = run_sync(spec)
    assert first.tally()["rejected"] == 1 and first.tally()["added"] == 20
    assert first.rejected_sample[0]["key"] == "cus_bad" and "not-an-address" not in str(first.rejected_sample)
    second = run_sync(spec)
    assert second.tally()["skipped"] == 1 and second.tally()["rejected"] == 0, "the same refused row is not resent"
    write_audience([*rows[:20], ("cus_bad", "fixed@example.com", None, "Bad")], "champions_to_sendgrid")
    assert run_sync(spec).tally()["added"] == 1, "once fixed, it is sent"


def test_a_full_resync_resends_everyone_and_rebuilds_the_state(engine, local):
    spec = audience_spec()
    write_audience([member(i) for i in range(30)])
    run_sync(spec)
    local.servers["meta"].audiences[DEMO_AUDIENCE].clear()  # the destination lost its audience
    assert run_sync(spec).tally()["added"] == 0, "an incremental run trusts the acknowledged state"
    report = run_sync(spec, RunOptions(full_resync=True))
    assert report.kind == "full_resync" and report.tally()["changed"] == 30 and meta_members(local) == 30


def test_meta_identifiers_hashed_in_the_warehouse_are_what_the_connector_would_send(engine, local):
    """On DuckDB the plan hashes the common shapes itself (pii.sql_prehash); the state then
    holds digests, not addresses, and every value hashes as the connector's rules say."""
    import hashlib
    import json

    from connectors.pii import Platform, hash_identifier

    rows = [member(i) for i in range(20)] + [
        ("cus_padded", " Padded.Person@Example.COM ", "+1 (415) 555-0199", " O'Brien "),
        ("cus_unicode", "\u00e9l\u00e8ve@example.fr", "+442071838750", "Zo\u00eb"),
        ("cus_phone_only", None, "+14155550123", "Ada"),
    ]
    write_audience(rows)
    assert run_sync(audience_spec()).tally()["added"] == 23 and meta_members(local) == 23
    with raw_layer() as con:
        state = {key: json.loads(fields) for key, fields in con.execute("select member_key, fields from raw.sync_state").fetchall()}
    for key, *values in rows:
        for kind, value in zip(("email", "phone", "first_name"), values):
            if value is not None:
                assert hash_identifier(kind, state[key][kind], Platform.META) == hash_identifier(kind, value, Platform.META), (key, kind)
    if engine == "duckdb":
        assert state["cus_0000001"]["email"] == hashlib.sha256(b"person1@example.com").hexdigest(), "no raw address in the state"
        assert state["cus_unicode"]["email"] == "\u00e9l\u00e8ve@example.fr", "left for the connector's Unicode rules"


def test_a_run_keeps_the_collector_off_earlier_objects_and_hands_them_back(engine, local):
    """During a run the process's earlier objects are frozen (so the collector's full passes
    skip them); after it, refused or not, they are collectable again."""
    from orchestration.syncs.runner import default_destination

    frozen_during: list[int] = []

    def destination(spec):
        frozen_during.append(gc.get_freeze_count())
        return default_destination(spec)

    spec = audience_spec(max_shrink_percent=20)
    write_audience([member(i) for i in range(100)])
    assert run_sync(spec, destination_factory=destination).tally()["added"] == 100
    assert frozen_during[-1] > 1000 and gc.get_freeze_count() == 0

    write_audience([member(i) for i in range(50)])
    with pytest.raises(SyncRefused):
        run_sync(spec, destination_factory=destination)
    assert len(frozen_during) == 2 and gc.get_freeze_count() == 0
