"""The collector killed (SIGKILL) in the middle of a stream from Segment's Python SDK:
every call it acknowledged is loaded, and after the SDK's retries none is loaded twice."""

from __future__ import annotations

import signal
import threading
import time

from orchestration.syncs.landing import collected_dir
from orchestration.warehouse import raw_layer
from tests.collect.conftest import WRITE_KEY, load_collected

CALLS = 6000


def test_sigkill_mid_stream_loses_no_acknowledged_call_and_doubles_none(collector_process):
    from segment.analytics import Client

    collector_process.start()
    errors: list = []
    client = Client(WRITE_KEY, host=collector_process.url, upload_size=50, max_retries=20,
                    on_error=lambda error, batch: errors.append((error, len(batch))))
    sent = [f"crash-{n:05d}" for n in range(CALLS)]

    def stream() -> None:
        for message_id in sent:
            client.track(user_id=f"user-{int(message_id[-5:]) % 97}", event="page_scrolled", properties={"depth": 50},
                         message_id=message_id)
            time.sleep(0.0002)  # a steady stream, so the kill lands in the middle of it

    sender = threading.Thread(target=stream)
    sender.start()
    time.sleep(0.6)
    collector_process.stop(signal.SIGKILL)  # no chance to close its segment
    left_behind = [path.name for path in collected_dir().iterdir()]
    time.sleep(0.5)  # the SDK meets a closed port and backs off
    collector_process.start()  # the restarted collector closes what the killed one left open
    sender.join()
    client.flush()
    client.join()
    collector_process.stop(signal.SIGTERM)

    assert any(name.endswith(".ndjson.open") for name in left_behind), "the kill left a segment open"
    assert errors == [], "the SDK's retries got every batch acknowledged in the end"
    counts = load_collected()
    with raw_layer() as con:
        loaded = [row[0] for row in con.execute("select message_id from raw.events order by message_id").fetchall()]
    assert loaded == sent, "every acknowledged call is loaded, exactly once"
    assert counts["read"] == counts["loaded"] + counts["duplicates"] + counts["rejected"]
    assert counts["rejected"] == 0
