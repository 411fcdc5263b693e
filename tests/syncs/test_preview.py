"""`throughline preview` is a dry run: the local servers count zero requests, and its plan
is exactly what the next real run does."""


from connectors.vendor_servers import Fault
from orchestration.syncs.runner import RunOptions, SyncIncomplete, planned_keys, preview_sync, run_sync
from orchestration.warehouse import raw_layer

from .helpers import audience_spec, deliveries, ledger, member, message_spec, write_actions, write_audience


def warehouse_rows() -> dict[str, int]:
    with raw_layer() as con:
        return {t: con.execute(f"select count(*) from raw.{t}").fetchone()[0]
                for t in ("delivery_ledger", "delivery_intents", "sync_state", "sync_runs", "sync_rejections")}


def test_an_audience_preview_sends_nothing_and_matches_the_next_run(engine, local):
    spec = audience_spec()
    write_audience([member(i) for i in range(100)])
    run_sync(spec)
    write_audience([member(i, version=int(i % 10 == 0)) for i in range(15, 110)])
    requests, rows = local.requests(), warehouse_rows()

    plan = preview_sync(spec)
    keys = planned_keys(spec)
    assert local.requests() == requests and warehouse_rows() == rows, "nothing sent, nothing recorded"
    assert (plan["add"], plan["remove"], plan["change"]) == (10, 15, 8)
    assert plan["sample"]["add"][0].startswith("cus_0000100 (email=p***@example.com")

    report = run_sync(spec)
    counts = report.tally()
    assert (counts["added"], counts["removed"], counts["changed"]) == (len(keys["add"]), len(keys["remove"]), len(keys["change"]))
    assert keys["add"] == {f"cus_{i:07d}" for i in range(100, 110)} and keys["remove"] == {f"cus_{i:07d}" for i in range(15)}


def test_a_message_preview_sends_nothing_and_matches_the_next_run(engine, local):
    actions = write_actions("twilio", 40, bad={7})
    spec = message_spec("twilio", batch_size=10)
    local.servers["twilio"].inject(Fault.RESET, count=1, process_first=True)  # one answer lost...
    try:
        run_sync(spec)
    except SyncIncomplete:
        pass
    write_actions("twilio", 5, start=40)  # ...and five new actions since
    requests, rows = local.requests(), warehouse_rows()

    keys = planned_keys(spec)
    plan = preview_sync(spec)
    assert local.requests() == requests and warehouse_rows() == rows, "nothing sent, nothing recorded"
    assert plan["send"] == 5 and plan["suppress"] == 0 and plan["mark_unknown"] == 0

    before = set(deliveries(local, "twilio"))
    run_sync(spec, RunOptions())
    sent_now = set(deliveries(local, "twilio")) - before
    assert sent_now == keys["send"] | keys["resend"], "the run sent exactly what the preview listed"
    assert {a for a, s in ledger().items() if s == "unknown"} >= keys["mark_unknown"]
    assert set(actions) | keys["send"] == set(ledger())
