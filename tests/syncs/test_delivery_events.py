"""Destination reports, as each provider sends them, loaded into raw.delivery_events with
the event types the journey models suppress on (hard_bounce, complaint, unsubscribe)."""

import json

from orchestration.syncs.delivery_events import load_delivery_events
from orchestration.syncs.landing import load_landing
from orchestration.warehouse import raw_layer

SENDGRID = [
    {"email": "ada@example.com", "timestamp": 1793491200, "event": "delivered", "sg_event_id": "e1", "throughline_action_id": "a1"},
    {"email": "ada@example.com", "timestamp": 1793491260, "event": "bounce", "type": "bounce", "sg_event_id": "e2"},
    {"email": "bob@example.com", "timestamp": 1793491260, "event": "bounce", "type": "blocked", "sg_event_id": "e3"},
    {"email": "cy@example.com", "timestamp": 1793491300, "event": "spamreport", "sg_event_id": "e4"},
    {"email": "cy@example.com", "timestamp": 1793491300, "event": "processed", "sg_event_id": "e5"},
]
TWILIO = "\n".join([
    "MessageSid=SM1&MessageStatus=delivered&To=%2B14155550100&throughline_action_id=a2",
    "MessageSid=SM2&MessageStatus=undelivered&ErrorCode=21610&To=%2B14155550101",
    json.dumps({"MessageSid": "SM3", "MessageStatus": "failed", "ErrorCode": "30006", "To": "+14155550102"}),
    "MessageSid=SM4&MessageStatus=sent&To=%2B14155550103",
])
BRAZE = "\n".join(json.dumps(e) for e in [
    {"id": "b1", "event_type": "users.messages.email.Unsubscribe", "time": 1793491200, "external_user_id": "cus_1",
     "email_address": "dee@example.com"},
    {"id": "b2", "event_type": "users.messages.pushnotification.Open", "time": 1793491200, "external_user_id": "cus_2"},
])
CUSTOMERIO = json.dumps([{"event_id": "c1", "metric": "bounced", "object_type": "email", "timestamp": 1793491200,
                          "data": {"recipient": "eve@example.com", "identifiers": {"id": "cus_3"}}}])


def test_each_providers_reports_load_once_with_suppressing_event_types(engine, tmp_path):
    files = {"sendgrid": json.dumps(SENDGRID), "twilio": TWILIO, "braze": BRAZE, "customerio": CUSTOMERIO}
    with raw_layer() as con:
        for provider, text in files.items():
            path = tmp_path / f"{provider}.txt"
            path.write_text(text)
            load_delivery_events(con, provider, path)
            assert load_delivery_events(con, provider, path)["added"] == 0, "loading twice adds nothing"
        rows = con.execute("select provider, event_type, channel, address, action_id, customer_id from raw.delivery_events "
                           "order by provider, event_id").fetchall()
    assert rows == [
        ("braze", "unsubscribe", "email", "dee@example.com", None, "cus_1"),
        ("braze", "open", "push", None, None, "cus_2"),
        ("customerio", "hard_bounce", "email", "eve@example.com", None, "cus_3"),
        ("sendgrid", "delivered", "email", "ada@example.com", "a1", None),
        ("sendgrid", "hard_bounce", "email", "ada@example.com", None, None),
        ("sendgrid", "soft_bounce", "email", "bob@example.com", None, None),
        ("sendgrid", "complaint", "email", "cy@example.com", None, None),
        ("twilio", "delivered", "sms", "+14155550100", "a2", None),
        ("twilio", "unsubscribe", "sms", "+14155550101", None, None),
        ("twilio", "hard_bounce", "sms", "+14155550102", None, None),
    ]


def test_reports_dropped_in_the_landing_folder_load_with_the_next_tick(engine, tmp_path):
    folder = tmp_path / "landing" / "delivery_events" / "sendgrid"
    folder.mkdir(parents=True)
    (folder / "batch-1.json").write_text(json.dumps(SENDGRID))
    counts = load_landing(tmp_path / "landing")
    assert counts["delivery_events_added"] == 4 and counts["files"] == 0, "reports are not Segment calls"
    with raw_layer() as con:
        assert con.execute("select count(*) from raw.delivery_events").fetchone()[0] == 4
