"""The sync process killed with SIGKILL between intent, send and acknowledgement, and at
random moments mid-batch; then re-run. No action is delivered twice where the destination
deduplicates, none is lost, unknowns stay within the batch that was in flight, and the
audience at the destination equals the warehouse audience."""

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from connectors.vendor_servers.meta import DEMO_AUDIENCE

from .helpers import audience_spec, deliveries, ledger, member, message_spec, run_until_complete, write_actions, write_audience

RUN_SYNC = Path(__file__).resolve().parent / "run_sync.py"
BATCH = 25
ACTIONS = 100  # four batches


def start(kind: str, destination: str, crash_at: str | None = None) -> subprocess.Popen:
    env = {**os.environ, "THROUGHLINE_SYNC_CRASH_AT": crash_at or ""}
    return subprocess.Popen([sys.executable, str(RUN_SYNC), kind, destination, str(BATCH)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def assert_messages_settled(local, destination: str, actions: list[str], in_flight: int) -> None:
    delivered = deliveries(local, destination)
    states = ledger()
    assert all(times == 1 for times in delivered.values()), f"delivered twice: {[a for a, n in delivered.items() if n > 1]}"
    assert {states[a] for a in actions} <= {"sent", "unknown"}, "none lost: every action is sent or marked unknown"
    sent = {a for a in actions if states[a] == "sent"}
    unknown = {a for a in actions if states[a] == "unknown"}
    assert sent <= set(delivered) <= sent | unknown
    if destination == "webhook":  # deduplicates: the pending batch was resent with the same key
        assert not unknown and set(delivered) == set(actions)
    else:
        assert len(unknown) <= in_flight, f"{len(unknown)} unknown, but at most {in_flight} were in flight"


PHASES = [f"{phase}:{n}" for phase in ("intents_written", "sent", "acknowledged") for n in (1, 3)]


@pytest.mark.parametrize("crash_at", PHASES)
@pytest.mark.parametrize("destination", ["webhook", "twilio"])
def test_killed_between_intent_send_and_acknowledgement(engine, local, destination, crash_at):
    actions = write_actions(destination, ACTIONS)
    process = start("messages", destination, crash_at)
    process.wait(timeout=60)
    assert process.returncode == -signal.SIGKILL, process.stderr.read()[-2000:]
    run_until_complete(message_spec(destination, batch_size=BATCH))
    assert_messages_settled(local, destination, actions, in_flight=BATCH)
    states = ledger()
    if crash_at.startswith("acknowledged") or destination == "webhook":
        assert all(states[a] == "sent" for a in actions)
    else:
        assert sum(states[a] == "unknown" for a in actions) == BATCH, "exactly the batch in flight is unknown"


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("destination", ["webhook", "twilio", "sendgrid"])
def test_killed_at_a_random_request(engine, local, destination, seed):
    actions = write_actions(destination, ACTIONS)
    server = local.servers[destination]
    requests_per_run = {"twilio": ACTIONS, "webhook": ACTIONS // BATCH, "sendgrid": ACTIONS // BATCH}[destination]
    kill_after = random.Random(seed).randint(1, requests_per_run)
    process = start("messages", destination)
    deadline = time.monotonic() + 60
    while process.poll() is None and len(server.request_log) < kill_after and time.monotonic() < deadline:
        time.sleep(0.001)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    run_until_complete(message_spec(destination, batch_size=BATCH))
    assert_messages_settled(local, destination, actions, in_flight=BATCH)


@pytest.mark.parametrize("crash_at", ["batch_sent:1", "batch_sent:3", "batch_acknowledged:2"])
def test_an_audience_killed_mid_sync_resumes_and_ends_equal(engine, local, crash_at):
    write_audience([member(i) for i in range(100)])
    process = start("audience", "meta", crash_at)
    process.wait(timeout=60)
    assert process.returncode == -signal.SIGKILL, process.stderr.read()[-2000:]
    from orchestration.warehouse import raw_layer

    with raw_layer() as con:
        acknowledged = con.execute("select count(*) from raw.sync_state").fetchone()[0]
    assert acknowledged == BATCH * (int(crash_at[-1]) - (crash_at.startswith("batch_sent"))), "state advanced per acknowledged batch"
    report = run_until_complete(audience_spec(batch_size=BATCH))[-1]
    assert report.tally()["added"] == 100 - acknowledged, "the re-run resumed where the killed one stopped"
    assert len(local.servers["meta"].audiences[DEMO_AUDIENCE]) == 100


def test_two_syncs_started_at_once_deliver_each_action_once(engine, local):
    for destination in ("twilio", "webhook"):
        actions = write_actions(destination, ACTIONS)
        first, second = start("messages", destination), start("messages", destination)
        for process in (first, second):
            process.wait(timeout=120)
            assert process.returncode == 0, process.stderr.read()[-2000:]
        assert deliveries(local, destination) == {a: 1 for a in actions}
        assert all(ledger()[a] == "sent" for a in actions)
