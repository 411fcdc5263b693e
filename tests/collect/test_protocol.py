"""The collector's answers to what real clients get wrong: each refusal is Segment's status
with a specific reason, nothing refused is kept, and a batch's bad calls end in raw.rejects
with their reasons while its good calls are loaded."""

from __future__ import annotations

import gzip
import json
import uuid
from datetime import UTC, datetime, timedelta

import requests

from orchestration.warehouse import raw_layer
from tests.collect.conftest import WRITE_KEY, load_collected, settings


def track(**fields) -> dict:
    call = {"type": "track", "messageId": str(uuid.uuid4()), "userId": "u-1", "event": "cart_added",
            "properties": {"sku": "A"}, "timestamp": "2026-03-01T10:00:00Z"}
    call.update(fields)
    return {k: v for k, v in call.items() if v is not None}


def post(collector, path: str, body: bytes | dict, *, key: str | None = WRITE_KEY, headers: dict | None = None) -> requests.Response:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return requests.post(collector.url + path, data=data, auth=(key, "") if key else None,
                         headers={"Content-Type": "application/json", **(headers or {})}, timeout=10)


def collected_lines(collector) -> list[dict]:
    collector.spool.rotate()
    return [json.loads(line) for path in sorted(collector.spool.folder.glob("*.ndjson")) for line in path.read_text().splitlines()]


def test_every_endpoint_keeps_its_call_with_its_type(collector):
    for kind in ("track", "identify", "page", "screen", "group", "alias"):
        answer = post(collector, f"/v1/{kind}", {"userId": "u-1", "messageId": f"m-{kind}", "previousId": "a-1", "groupId": "g-1"})
        assert (answer.status_code, answer.json()) == (200, {"success": True})
    for path in ("/v1/batch", "/v1/import"):
        assert post(collector, path, {"batch": [track(messageId=f"m{path}")]}).status_code == 200
    kept = {line["messageId"]: line["type"] for line in collected_lines(collector)}
    assert kept == {"m-track": "track", "m-identify": "identify", "m-page": "page", "m-screen": "screen", "m-group": "group",
                    "m-alias": "alias", "m/v1/batch": "track", "m/v1/import": "track"}


def test_wrong_or_missing_key_is_401_and_keeps_nothing(collector):
    assert post(collector, "/v1/track", track(), key="not-a-key").status_code == 401
    assert post(collector, "/v1/track", track(), key=None).status_code == 401
    answer = post(collector, "/v1/batch", {"batch": [track()]}, key=None)
    assert answer.status_code == 401 and "write key" in answer.json()["message"]
    # The key may come in the body instead, as some clients send it; it is never stored.
    assert post(collector, "/v1/batch", {"batch": [track(messageId="body-key")], "writeKey": "second-source-key"}, key=None).status_code == 200
    lines = collected_lines(collector)
    assert [line["messageId"] for line in lines] == ["body-key"]
    assert "writeKey" not in json.dumps(lines) and "second-source-key" not in json.dumps(lines)


def test_broken_json_non_utf8_and_wrong_shapes_are_400_with_the_reason(collector):
    cases = {
        b'{"batch": [{"type": "track",': "invalid_json",
        '{"userId": "caf\xe9"}'.encode("latin-1"): "invalid_encoding",
        b'["not", "an", "object"]': "invalid_json",
    }
    for body, code in cases.items():
        answer = post(collector, "/v1/track", body)
        assert (answer.status_code, answer.json()["code"]) == (400, code), body
        assert answer.json()["success"] is False and len(answer.json()["message"]) > 15
    assert post(collector, "/v1/batch", {"batch": {"not": "a list"}}).json()["code"] == "invalid_batch"
    assert post(collector, "/v1/track", b"\x1f\x8b not gzip", headers={"Content-Encoding": "gzip"}).json()["code"] == "invalid_gzip"
    assert collected_lines(collector) == []


def test_over_the_limits_is_413(collector):
    big_call = track(properties={"blob": "x" * (33 * 1024)})
    assert post(collector, "/v1/track", big_call).status_code == 413
    answer = post(collector, "/v1/batch", {"batch": [track(), big_call]})
    assert answer.status_code == 413 and "call 1" in answer.json()["message"]
    many = {"batch": [track(properties={"blob": "y" * (20 * 1024)}) for _ in range(30)]}  # ~600 KB, each call under 32 KB
    assert post(collector, "/v1/batch", many).status_code == 413
    # The limit is on the inflated body: a gzipped batch that inflates past 500 KB is refused too.
    bomb = gzip.compress(json.dumps({"batch": [track(properties={"blob": "z" * 30000}) for _ in range(20)]}).encode())
    assert len(bomb) < 20_000
    assert post(collector, "/v1/batch", bomb, headers={"Content-Encoding": "gzip"}).status_code == 413
    assert collected_lines(collector) == []


def test_gzip_bodies_are_read(collector):
    body = gzip.compress(json.dumps({"batch": [track(messageId="gz-1"), track(messageId="gz-2")]}).encode())
    assert post(collector, "/v1/batch", body, headers={"Content-Encoding": "gzip"}).status_code == 200
    assert [line["messageId"] for line in collected_lines(collector)] == ["gz-1", "gz-2"]


def test_a_batch_with_bad_calls_keeps_the_good_ones_and_rejects_the_bad_with_reasons(collector):
    good = [track(messageId="good-1"), track(messageId="good-2", type="identify", traits={"email": "a@example.com"})]
    bad = [track(messageId="no-identity", userId=None), track(messageId="no-event", event=" "),
           "not an object", track(messageId="bad-time", timestamp="yesterday")]
    assert post(collector, "/v1/batch", {"batch": good[:1] + bad + good[1:]}).status_code == 200

    counts = load_collected(collector)
    with raw_layer() as con:
        loaded = sorted(r[0] for r in con.execute("select message_id from raw.events").fetchall())
        reasons = sorted(r[0] for r in con.execute("select reason_code from raw.rejects").fetchall())
    assert loaded == ["good-1", "good-2"]
    assert reasons == sorted(["missing_identity", "missing_event_name", "not_an_object", "unparseable_timestamp"])
    assert counts["read"] == counts["loaded"] + counts["duplicates"] + counts["rejected"] == 6
    assert list(collector.spool.folder.glob("*.ndjson")) == [], "a loaded segment leaves the backlog"


def test_timestamps_are_corrected_for_the_clients_clock_skew(collector):
    """receivedAt - (sentAt - originalTimestamp): a client whose clock runs an hour fast."""
    skew = timedelta(hours=1)
    client_now = datetime.now(UTC) + skew
    happened = client_now - timedelta(minutes=5)
    body = {"batch": [track(messageId="skewed", timestamp=happened.isoformat())], "sentAt": client_now.isoformat()}
    before = datetime.now(UTC)
    assert post(collector, "/v1/batch", body).status_code == 200
    after = datetime.now(UTC)
    [line] = collected_lines(collector)
    corrected = datetime.fromisoformat(line["timestamp"])
    assert before - timedelta(minutes=5, seconds=1) <= corrected <= after - timedelta(minutes=5) + timedelta(seconds=1)
    assert line["originalTimestamp"] == happened.isoformat() and line["sentAt"] == client_now.isoformat()
    assert before - timedelta(seconds=1) <= datetime.fromisoformat(line["receivedAt"]) <= after + timedelta(seconds=1)

    # No sentAt: nothing to correct with, the client's time is kept; no time at all: the server's.
    post(collector, "/v1/track", track(messageId="unsent", timestamp="2026-03-01T10:00:00Z"))
    post(collector, "/v1/track", track(messageId="timeless", timestamp=None))
    lines = {line["messageId"]: line for line in collected_lines(collector)}
    assert lines["unsent"]["timestamp"] == "2026-03-01T10:00:00Z"
    assert lines["timeless"]["timestamp"] == lines["timeless"]["receivedAt"]


def test_a_call_without_message_id_gets_one_that_a_retry_repeats(collector):
    call = track(messageId=None)
    for _ in range(2):  # the client's retry of the same call
        post(collector, "/v1/batch", {"batch": [call], "sentAt": datetime.now(UTC).isoformat()})
    first, second = collected_lines(collector)
    assert first["messageId"] == second["messageId"] and first["messageId"].startswith("collect-")
    counts = load_collected()
    assert (counts["loaded"], counts["duplicates"]) == (1, 1)


def test_a_full_backlog_is_503_with_retry_after_until_the_loader_takes_it(landing):
    from orchestration.collect.server import Collector

    small = Collector(settings(landing / "collected", max_backlog_bytes=4096)).start()
    try:
        batch = {"batch": [track() for _ in range(10)]}
        assert post(small, "/v1/batch", batch).status_code == 200
        refused = post(small, "/v1/batch", {"batch": [track() for _ in range(20)]})
        assert refused.status_code == 503 and refused.headers["Retry-After"].isdigit()
        load_collected(small)  # the tick took the backlog: the folder is empty again
        small.spool.rescan()
        assert post(small, "/v1/batch", batch).status_code == 200
    finally:
        small.close()


def test_the_landing_sensor_starts_a_tick_once_a_segment_is_closed(collector):
    import dagster as dg

    from orchestration.syncs.landing import landing_sensor

    collector.spool.rotate_seconds = 3600  # this test closes the segment itself
    context = dg.build_sensor_context()
    assert post(collector, "/v1/track", track()).status_code == 200
    assert isinstance(landing_sensor(context), dg.SkipReason), "an open segment is still being written: no tick yet"
    collector.spool.rotate()
    assert isinstance(landing_sensor(context), dg.RunRequest)
    assert isinstance(landing_sensor(context), dg.SkipReason), "the same segment starts one tick, not one per look"


def test_a_restart_closes_what_a_dead_collector_left_open_and_no_live_ones(landing):
    import os
    import subprocess

    from orchestration.collect.spool import Spool

    folder = landing / "collected"
    folder.mkdir(parents=True)
    dead = subprocess.Popen(["true"])
    dead.wait()
    (folder / f"1-{dead.pid}-000001.ndjson.open").write_bytes(b'{"messageId": "acked"}\n{"messageId": "torn')
    (folder / f"2-{os.getppid()}-000001.ndjson.open").write_bytes(b'{"messageId": "another live collector"}\n')
    spool = Spool(folder, max_backlog_bytes=1 << 20)
    try:
        assert (folder / f"1-{dead.pid}-000001.ndjson").read_bytes() == b'{"messageId": "acked"}\n', "the torn line was never acknowledged"
        assert (folder / f"2-{os.getppid()}-000001.ndjson.open").exists(), "a running collector's segment is left alone"
    finally:
        spool.close()
