"""Message syncs and the delivery ledger: intent, send, acknowledgement; render failures
suppressed with the reason; refusals recorded as failed; nothing sent twice."""

from orchestration.syncs.runner import run_sync
from orchestration.warehouse import raw_layer

from connectors.vendor_servers.slack import DEMO_CHANNEL
from orchestration.syncs.spec import parse_sync

from .helpers import deliveries, ledger, message_spec, sync_node, write_actions


def test_each_due_action_is_sent_once_and_recorded(engine, local):
    actions = write_actions("sendgrid", 120)
    spec = message_spec("sendgrid")
    report = run_sync(spec)
    assert report.tally()["sent"] == 120
    assert deliveries(local, "sendgrid") == {a: 1 for a in actions}
    with raw_layer() as con:
        rows = con.execute("select status, count(*), count(provider_message_id), count(sent_at) from raw.delivery_ledger group by 1 order by 1").fetchall()
    assert rows == [("pending", 120, 0, 0), ("sent", 120, 120, 120)], "an intent before the send, the outcome after"

    again = run_sync(spec)
    assert again.tally()["sent"] == 0 and deliveries(local, "sendgrid") == {a: 1 for a in actions}


def test_render_failures_are_suppressed_and_refusals_failed_with_reasons(engine, local):
    actions = write_actions("twilio", 12, bad={3})
    with raw_layer() as con:  # a number the carrier refuses
        con.execute("update syncs.messages_to_twilio set phone = '+15005550001' where action_id = ?", [actions[5]])
    report = run_sync(message_spec("twilio"))
    counts = report.tally()
    assert (counts["sent"], counts["suppressed"], counts["rejected"]) == (10, 1, 1)
    states = ledger()
    assert states[actions[3]] == "suppressed" and states[actions[5]] == "failed"
    with raw_layer() as con:
        errors = dict(con.execute("select action_id, error from raw.delivery_ledger where status in ('suppressed', 'failed')").fetchall())
    assert errors[actions[3]].startswith("missing_variable: ") and "name" in errors[actions[3]]
    assert errors[actions[5]] and "15005550001" not in errors[actions[5]], "the vendor's reason, without the number"
    assert report.rejected_sample[0]["key"] == actions[5]


def test_an_action_already_in_the_ledger_is_never_sent(engine, local):
    actions = write_actions("webhook", 5)
    with raw_layer() as con:
        con.execute("insert into raw.delivery_ledger (action_id, status, recorded_at) values (?, 'pending', now()), (?, 'unknown', now())",
                    [actions[0], actions[1]])
    report = run_sync(message_spec("webhook"))
    assert report.tally()["sent"] == 3
    assert set(deliveries(local, "webhook")) == set(actions[2:])


def test_braze_push_carries_the_rendered_parts_and_the_action_id(engine, local):
    actions = write_actions("braze", 60)
    run_sync(message_spec("braze"))
    assert deliveries(local, "braze") == {a: 1 for a in actions}


def test_a_sales_handoff_is_a_hubspot_task_on_the_leads_contact(engine, local):
    actions = write_actions("hubspot", 7)
    report = run_sync(message_spec("hubspot"))
    assert report.tally()["sent"] == 7
    assert deliveries(local, "hubspot") == {a: 1 for a in actions}
    server = local.servers["hubspot"]
    task = next(t for t in server.engagements["tasks"] if t["objectWriteTraceId"] == actions[2])
    contact = server.contact_by_email("person2@example.com")
    assert task["contacts"] == [contact["id"]]
    assert task["properties"]["hs_task_subject"].startswith("Sales-ready lead: Name2") and "Acme" in task["properties"]["hs_task_subject"]
    assert "Lead score 31.5" in task["properties"]["hs_task_body"]
    # The journey's context travels with the task, not as contact properties HubSpot does not have.
    assert set(contact["properties"]) <= {"email", "firstname", "lastname", "phone"}
    assert set(ledger().values()) == {"sent"}
    assert run_sync(message_spec("hubspot")).tally()["sent"] == 0 and len(server.engagements["tasks"]) == 7


def test_render_failures_do_not_break_the_batches(engine, local):
    """Batches of 10 with render failures among them: every message sent once, in batches of
    exactly 10 (the intents show the batches), failures suppressed."""
    actions = write_actions("twilio", 45, bad={0, 12, 44})
    report = run_sync(message_spec("twilio", batch_size=10))
    assert (report.tally()["sent"], report.tally()["suppressed"]) == (42, 3)
    assert deliveries(local, "twilio") == {a: 1 for i, a in enumerate(actions) if i not in (0, 12, 44)}
    with raw_layer() as con:
        sizes = [n for (n,) in con.execute("select count(*) from raw.delivery_intents group by batch_id order by min(action_id)").fetchall()]
    assert sizes == [10, 10, 10, 10, 2]


def test_a_lead_becoming_sales_ready_is_posted_to_slack_once(engine, local):
    """An events sync: each new row one Slack message; a row seen before is never posted again."""
    columns = ["segment_change_id", "event_name", "occurred_at", "subject", "text"]
    spec = parse_sync(sync_node("sales_ready_leads_to_slack", {"destination": "slack", "operation": "events",
                                                               "key": "segment_change_id"}, columns))
    with raw_layer() as con:
        con.execute("create schema if not exists syncs")
        con.execute("create table syncs.sales_ready_leads_to_slack (segment_change_id varchar, event_name varchar, "
                    "occurred_at timestamp, subject varchar, text varchar)")
        insert = "insert into syncs.sales_ready_leads_to_slack values (?, 'sales_ready_lead', timestamp '2026-11-01', 'Sales-ready lead', ?)"
        con.executemany(insert, [[f"chg_{i}", f"Lead {i} at Acme reached lead score 3{i}."] for i in range(3)])
    assert run_sync(spec).tally()["added"] == 3
    posted = [m["text"] for m in local.servers["slack"].in_channel(DEMO_CHANNEL)]
    assert sorted(posted) == [f"*Sales-ready lead*\nLead {i} at Acme reached lead score 3{i}." for i in range(3)]

    with raw_layer() as con:
        con.execute("update syncs.sales_ready_leads_to_slack set text = text || ' (edited)'")
        con.execute(insert, ["chg_3", "Lead 3 at Acme reached lead score 33."])
    assert run_sync(spec).tally()["added"] == 1, "only the new entry: an events sync never re-posts a changed row"
    assert len(local.servers["slack"].in_channel(DEMO_CHANNEL)) == 4
