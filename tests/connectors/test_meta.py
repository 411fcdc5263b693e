"""Meta Custom Audiences contract tests against the local Graph API server."""

import json
import time

import pytest

from connectors import AuthenticationError, Operation, Record, RecordStatus, create
from connectors.pii import Platform, hash_identifier
from connectors.vendor_servers import Fault, MetaServer, WindowLimit


def people(count, start=0):
    return [Record(f"m-{i}", {"email": f" Person{i}@Example.com", "first_name": "Ada"}) for i in range(start, start + count)]


def email_hash(i):
    return hash_identifier("email", f"person{i}@example.com", Platform.META)


def test_check_accepts_the_token(meta):
    assert meta.check().ok


def test_members_are_added_as_meta_hashes(meta, meta_server):
    audience = meta_server.create_audience()
    records = [Record("vec", {"email": "John_Smith@gmail.com", "phone": "(650)555-1212"}), *people(2)]
    result = meta.write(Operation.ADD_AUDIENCE_MEMBERS, records, target=audience)
    assert result.counts()["accepted"] == 3
    # Meta's published vector: the raw address never reached the server
    assert "62a14e44f765419d10fea99367361a727c12365e2520f32218d505ed9aa0f62f" in meta_server.members(audience)
    assert email_hash(1) in meta_server.members(audience)
    assert result.results[0].vendor_id  # the upload session id


def test_upload_splits_at_10000_rows_in_one_session(meta, meta_server):
    audience = meta_server.create_audience()
    result = meta.write(Operation.ADD_AUDIENCE_MEMBERS, people(20_001), target=audience)
    assert result.counts()["accepted"] == 20_001 and result.requests == 3
    (session_id, state), = meta_server.sessions.items()
    assert state == {"seqs": {1, 2, 3}, "last": True}
    assert len(meta_server.members(audience)) == 20_001


def test_a_generator_streams_and_the_last_batch_is_flagged(meta, meta_server):
    audience = meta_server.create_audience()
    parts = list(meta.write_stream(Operation.ADD_AUDIENCE_MEMBERS, (r for r in people(10_500)), target=audience))
    assert [len(part.results) for part in parts] == [10_000, 500]
    (_, state), = meta_server.sessions.items()
    assert state["last"] and state["seqs"] == {1, 2}


def test_remove_members(meta, meta_server):
    audience = meta_server.create_audience()
    meta.write(Operation.ADD_AUDIENCE_MEMBERS, people(5), target=audience)
    result = meta.write(Operation.REMOVE_AUDIENCE_MEMBERS, people(3), target=audience)
    assert result.counts()["accepted"] == 3
    assert meta_server.members(audience) == {email_hash(3), email_hash(4)}
    assert meta_server.requests_to(f"/v25.0/{audience}/users", "DELETE")


def test_unusable_records_never_leave_and_vendor_rejects_carry_meta_reason(meta, meta_server):
    audience = meta_server.create_audience()
    meta_server.reject_values = {email_hash(1): "Invalid email format"}
    records = [*people(3), Record("nobody", {"email": "not-an-address", "phone": "12"})]
    result = meta.write(Operation.ADD_AUDIENCE_MEMBERS, records, target=audience)
    by_key = {r.key: r for r in result.results}
    assert by_key["m-1"].status is RecordStatus.REJECTED and by_key["m-1"].reason == "Invalid email format"
    assert by_key["nobody"].status is RecordStatus.REJECTED and by_key["nobody"].vendor_code == "no_identifier"
    assert by_key["m-0"].status is by_key["m-2"].status is RecordStatus.ACCEPTED
    assert meta_server.members(audience) == {email_hash(0), email_hash(2)}


def test_unknown_audience_is_rejected_and_not_retried(meta, meta_server):
    result = meta.write(Operation.ADD_AUDIENCE_MEMBERS, people(2), target="404404")
    assert result.counts()["rejected"] == 2 and result.results[0].vendor_code == "100"
    assert "does not exist" in result.results[0].reason
    assert len(meta_server.request_log) == 1


@pytest.mark.parametrize("code", [80003, 17, 4, 613])
def test_throttling_codes_in_400_bodies_are_backed_off(meta, meta_server, code):
    audience = meta_server.create_audience()
    meta_server.throttle_code = code
    meta_server.inject(Fault.THROTTLE, count=2, retry_after=None)
    result = meta.write(Operation.ADD_AUDIENCE_MEMBERS, people(3), target=audience)
    assert result.counts()["accepted"] == 3 and result.retries == 2 and result.throttled_seconds > 0
    assert len(meta_server.members(audience)) == 3


def test_business_use_case_header_wait_is_honoured(meta_env, meta_server):
    # X-Business-Use-Case-Usage says access returns in 1 minute; a run allowed to
    # wait 30 s at most gives the records back as retryable instead of blocking.
    audience = meta_server.create_audience()
    meta_server.inject(Fault.THROTTLE, retry_after=60)
    with create("meta", {**meta_env, "THROUGHLINE_META_HTTP_MAX_SERVER_WAIT": "30"}) as meta:
        result = meta.write(Operation.ADD_AUDIENCE_MEMBERS, people(2), target=audience)
    assert result.counts()["retryable"] == 2
    assert "asked to wait 60s" in result.results[0].reason
    assert not meta_server.members(audience)


def test_server_window_throttles_and_everything_lands(meta_env):
    # Meta states waits in whole minutes; with no stated wait the client backs off.
    # One request a second: the second of the three is throttled even on a busy machine, and
    # three backoffs (at least 0.2 + 0.4 + 0.8 s) outlast the window within the 4 attempts.
    with MetaServer(rate_limits=(WindowLimit(1, 1.0),)) as server:
        server.send_retry_after = False
        audience = server.create_audience()
        env = {**meta_env, "THROUGHLINE_META_BASE_URL": server.base_url,
               "THROUGHLINE_META_HTTP_BACKOFF_BASE": "0.4", "THROUGHLINE_META_HTTP_BACKOFF_MAX": "2"}
        with create("meta", env) as meta:
            result = meta.write(Operation.ADD_AUDIENCE_MEMBERS, people(30_000), target=audience)
        assert result.counts()["accepted"] == 30_000 and server.throttled >= 1
        assert len(server.members(audience)) == 30_000


@pytest.mark.parametrize("status", [500, 503])
def test_server_errors_are_retried(meta, meta_server, status):
    audience = meta_server.create_audience()
    meta_server.inject(Fault.STATUS, count=2, status=status)
    result = meta.write(Operation.ADD_AUDIENCE_MEMBERS, people(2), target=audience)
    assert result.counts()["accepted"] == 2 and result.retries == 2


def test_lost_answer_is_resent_once_and_counted_once(meta_env, meta_server):
    audience = meta_server.create_audience()
    meta_server.inject(Fault.TIMEOUT, delay=0.5, process_first=True)
    with create("meta", {**meta_env, "THROUGHLINE_META_HTTP_READ_TIMEOUT": "0.25"}) as meta:
        result = meta.write(Operation.ADD_AUDIENCE_MEMBERS, people(4), target=audience)
    assert result.counts()["accepted"] == 4 and result.retries == 1
    assert list(meta_server.batches_applied.values()) == [2]  # sent twice, applied once
    assert meta_server.rows_applied == 4


def test_connection_reset_is_retried(meta, meta_server):
    audience = meta_server.create_audience()
    meta_server.inject(Fault.RESET)
    assert meta.write(Operation.ADD_AUDIENCE_MEMBERS, people(2), target=audience).counts()["accepted"] == 2


def test_bad_token_is_one_clear_error(meta_env, meta_server):
    audience = meta_server.create_audience()
    env = {**meta_env, "THROUGHLINE_META_ACCESS_TOKEN": "EAAwrong-token-9876543"}
    with create("meta", env) as meta:
        assert not meta.check().ok
        with pytest.raises(AuthenticationError, match="meta rejected the configured credentials"):
            meta.write(Operation.ADD_AUDIENCE_MEMBERS, people(25_000), target=audience)
    assert len(meta_server.requests_to(f"/v25.0/{audience}/users")) == 1


def test_over_10000_rows_is_refused_by_the_server(meta_server):
    import requests

    audience = meta_server.create_audience()
    rows = [[email_hash(i)] for i in range(10_001)]
    body = {"payload": {"schema": ["EMAIL"], "data": rows}, "access_token": meta_server.access_token}
    answer = requests.post(f"{meta_server.base_url}/v25.0/{audience}/users", json=body, timeout=10)
    assert answer.status_code == 400 and answer.json()["error"]["code"] == 100
    assert json.dumps(rows[0]) not in answer.text


def test_digests_pass_through_a_column_at_a_time_and_raw_values_are_still_hashed(meta, meta_server):
    """A batch mixing warehouse digests, raw values, upper-case digests and unusable values: each
    row gets exactly what hashing it alone gives, and a row with nothing usable never leaves."""
    audience = meta_server.create_audience()
    digest = email_hash(7)
    records = [
        Record("digest", {"email": digest, "phone": hash_identifier("phone", "+14155550007", Platform.META)}),
        Record("raw", {"email": " Person8@Example.com", "phone": "+1 415 555 0008"}),
        Record("upper", {"email": email_hash(9).upper()}),
        Record("half", {"email": "not-an-address", "phone": "+14155550010"}),
        Record("nobody", {"email": "not-an-address", "first_name": ""}),
    ]
    result = meta.write(Operation.ADD_AUDIENCE_MEMBERS, records, target=audience)
    by_key = {r.key: r for r in result.results}
    assert [r.key for r in result.results] == [r.key for r in records]
    assert by_key["nobody"].status is RecordStatus.REJECTED and "email: not an email address" in by_key["nobody"].reason
    assert all(by_key[k].status is RecordStatus.ACCEPTED for k in ("digest", "raw", "upper", "half"))
    phone_10 = hash_identifier("phone", "+14155550010", Platform.META)
    assert meta_server.members(audience) == {digest, email_hash(8), email_hash(9), phone_10}
    assert result.requests == 1 and meta_server.rows_applied == 4, "the unusable row never left"


def test_a_batch_of_warehouse_digests_is_sent_as_it_is(meta, meta_server):
    audience = meta_server.create_audience()
    records = [Record(f"m-{i}", {"email": email_hash(i), "first_name": hash_identifier("first_name", "ada", Platform.META)})
               for i in range(50)]
    result = meta.write(Operation.ADD_AUDIENCE_MEMBERS, records, target=audience)
    assert result.counts()["accepted"] == 50
    assert meta_server.members(audience) == {email_hash(i) for i in range(50)}


def test_batches_are_sent_back_to_back_while_the_caller_acknowledges(meta, meta_server):
    """Two batches queue behind the one being acknowledged: a slow caller does not hold up
    the requests, which still go out one at a time and in order."""
    audience = meta_server.create_audience()
    answered, acknowledged_at = [], None
    for part in meta.write_stream(Operation.ADD_AUDIENCE_MEMBERS, people(40_000), target=audience):
        if not answered:
            time.sleep(2.0)  # a slow acknowledgement of the first batch
            acknowledged_at = time.monotonic()  # the clock the server stamps requests with
        answered.append(len(part.results))
    assert answered == [10_000] * 4
    (_, state), = meta_server.sessions.items()
    assert state == {"seqs": {1, 2, 3, 4}, "last": True}
    times = [r.at for r in meta_server.requests_to(f"/v25.0/{audience}/users")]
    assert times == sorted(times) and len(times) == 4
    # Compared with the end of the acknowledgement, not with a duration: a loaded machine
    # slows the hashing, not the order of events.
    assert times[2] < acknowledged_at, "batches 2 and 3 went out while batch 1 was being acknowledged"


def test_nothing_more_is_sent_after_a_batch_is_refused(meta, meta_server):
    audience = meta_server.create_audience()
    meta_server.access_token = "revoked"
    with pytest.raises(AuthenticationError):
        list(meta.write_stream(Operation.ADD_AUDIENCE_MEMBERS, people(40_000), target=audience))
    assert len(meta_server.requests_to(f"/v25.0/{audience}/users")) == 1, "the queued batches never left"
