"""A push token FCM answers 404 UNREGISTERED for blocks the push channel like an email bounce:
the sync writes the same raw.delivery_events record a vendor's bounce report makes (hard_bounce,
channel push, the token as the address, the customer), which int_journeys__reachability turns
into blocked_by while that token is the customer's latest (tests/journeys/test_push_tokens.py)."""

import pytest

from orchestration.syncs.local import local_destinations
from orchestration.syncs.runner import run_sync
from orchestration.warehouse import raw_layer

from .helpers import ledger, message_spec, write_actions


@pytest.fixture
def fcm_local(monkeypatch):
    with local_destinations(("fcm",)) as destinations:
        for name, value in destinations.env.items():
            monkeypatch.setenv(name, value)
        yield destinations


def test_unregistered_token_is_recorded_as_a_push_bounce(engine, fcm_local):
    server = fcm_local.servers["fcm"]
    actions = write_actions("fcm", 4)
    server.unregistered.add("cus_0000002")  # the test model's external_id column carries the device token
    spec = message_spec("fcm", fields={"token": "external_id"})
    report = run_sync(spec)
    assert (report.tally()["sent"], report.tally()["rejected"]) == (3, 1)
    assert ledger()[actions[2]] == "failed"
    assert {m["token"] for m in server.messages} == {"cus_0000000", "cus_0000001", "cus_0000003"}
    assert all(m["notification"].get("body") for m in server.messages), "the rendered push parts are sent"
    with raw_layer() as con:
        rows = con.execute("select provider, event_type, channel, address, action_id, customer_id from raw.delivery_events").fetchall()
    assert rows == [("fcm", "hard_bounce", "push", "cus_0000002", actions[2], "cus_0000002")], "the dead token is the address"

    assert run_sync(spec).tally()["rejected"] == 0, "nothing sent again"
    with raw_layer() as con:
        assert con.execute("select count(*) from raw.delivery_events").fetchone()[0] == 1
