"""Snap Audience Match contract tests against the local Marketing API server."""

import json
import logging

import pytest
import requests

from connectors import AuthenticationError, Operation, Record, RecordStatus, create
from connectors.pii import Platform, hash_identifier
from connectors.vendor_servers import Fault, SnapServer, WindowLimit
from connectors.vendor_servers.snap import TOKEN_PATH


@pytest.fixture
def snap_server():
    with SnapServer(rate_limits=()) as server:
        yield server


@pytest.fixture
def snap_env(snap_server, env_for):
    return env_for("THROUGHLINE_SNAP", ACCESS_TOKEN=snap_server.access_token, BASE_URL=snap_server.base_url)


@pytest.fixture
def refresh_env(snap_server, env_for):
    return env_for("THROUGHLINE_SNAP", CLIENT_ID=snap_server.client_id, CLIENT_SECRET=snap_server.client_secret,
                   REFRESH_TOKEN=snap_server.refresh_token, BASE_URL=snap_server.base_url,
                   TOKEN_URL=snap_server.base_url + TOKEN_PATH)


@pytest.fixture
def snap(snap_env):
    with create("snap", snap_env) as destination:
        yield destination


def people(count, start=0):
    return [Record(f"s-{i}", {"email": f" Person{i}@Example.com"}) for i in range(start, start + count)]


def email_hash(i):
    return hash_identifier("email", f"person{i}@example.com", Platform.SNAP)


def test_check_accepts_the_token(snap):
    assert snap.check().ok


def test_members_are_added_as_snap_hashes_one_schema_per_request(snap, snap_server):
    # Snap's published vectors (https://developers.snap.com/api/marketing-api/Conversions-API/Parameters):
    # the raw address and number never reach the server.
    segment = snap_server.create_segment()
    maid = "5F3A2B18-9C4D-4E7F-B8E2-17D3A1E69B25"
    records = [Record("vec", {"email": "Person@Example.com", "phone": "+44 844 412 4653", "mobile_ad_id": maid}),
               *people(2)]
    result = snap.write(Operation.ADD_AUDIENCE_MEMBERS, records, target=segment)
    assert result.counts()["accepted"] == 3 and result.requests == 3  # EMAIL, PHONE, MOBILE_AD_ID requests
    assert snap_server.members(segment) == {"542d240129883c019e106e3b1b2d3f3cb3537c43c425364de8e951d5a3083345",
                                            email_hash(0), email_hash(1)}
    assert snap_server.members(segment, "PHONE_SHA256") == {
        "dc008fda46e2e64002cf2f82a4906236282d431c4f75e5b60bfe79fc48546383"}
    assert snap_server.members(segment, "MOBILE_AD_ID_SHA256") == {
        hash_identifier("mobile_ad_id", maid.lower(), Platform.SNAP)}


def test_batches_split_at_100000_identifiers(snap, snap_server):
    segment = snap_server.create_segment()
    result = snap.write(Operation.ADD_AUDIENCE_MEMBERS, people(100_001), target=segment)
    assert result.counts()["accepted"] == 100_001 and result.requests == 2
    assert len(snap_server.members(segment)) == 100_001


def test_remove_members(snap, snap_server):
    segment = snap_server.create_segment()
    snap.write(Operation.ADD_AUDIENCE_MEMBERS, people(5), target=segment)
    result = snap.write(Operation.REMOVE_AUDIENCE_MEMBERS, people(3), target=segment)
    assert result.counts()["accepted"] == 3
    assert snap_server.members(segment) == {email_hash(3), email_hash(4)}
    assert snap_server.requests_to(f"/v1/segments/{segment}/users", "DELETE")


def test_unusable_records_never_leave_and_a_refused_sub_request_carries_snap_reason(snap, snap_server):
    segment = snap_server.create_segment()
    snap_server.reject_values = {hash_identifier("phone", "+14155550100", Platform.SNAP): "Invalid data for schema"}
    records = [Record("both", {"email": "ada@example.com", "phone": "+14155550100"}),
               Record("phone-only", {"phone": "+14155550100"}),
               Record("nobody", {"email": "not-an-address", "phone": "12"})]
    result = snap.write(Operation.ADD_AUDIENCE_MEMBERS, records, target=segment)
    by_key = {r.key: r for r in result.results}
    assert by_key["both"].status is RecordStatus.ACCEPTED  # its email was taken
    assert by_key["phone-only"].status is RecordStatus.REJECTED and by_key["phone-only"].reason == "Invalid data for schema"
    assert by_key["nobody"].vendor_code == "no_identifier" and "email: not an email address" in by_key["nobody"].reason
    assert result.requests == 2


def test_unknown_segment_is_rejected_with_snap_error_and_not_retried(snap, snap_server):
    result = snap.write(Operation.ADD_AUDIENCE_MEMBERS, people(2), target="404404")
    assert result.counts()["rejected"] == 2 and result.results[0].vendor_code == "E3003"
    assert result.results[0].reason == "Resource can not be found"
    assert len(snap_server.request_log) == 1 and result.retries == 0


@pytest.mark.parametrize("retry_after", [None, 1])
def test_429_with_and_without_retry_after_is_backed_off(snap, snap_server, retry_after):
    segment = snap_server.create_segment()
    snap_server.inject(Fault.THROTTLE, count=2, retry_after=retry_after)
    result = snap.write(Operation.ADD_AUDIENCE_MEMBERS, people(3), target=segment)
    assert result.counts()["accepted"] == 3 and result.retries == 2
    assert result.throttled_seconds >= (2.0 if retry_after else 0.0) and result.throttled_seconds > 0
    assert len(snap_server.members(segment)) == 3


def test_server_window_throttles_and_everything_lands(snap_env):
    # 10 requests/s per token in production; here 1 per 0.5 s, and three requests a batch.
    with SnapServer(rate_limits=(WindowLimit(1, 0.5),)) as server:
        segment = server.create_segment()
        env = {**snap_env, "THROUGHLINE_SNAP_BASE_URL": server.base_url, "THROUGHLINE_SNAP_HTTP_BACKOFF_BASE": "0.2",
               "THROUGHLINE_SNAP_HTTP_BACKOFF_MAX": "1", "THROUGHLINE_SNAP_HTTP_MAX_ATTEMPTS": "8"}
        records = [Record(f"r{i}", {"email": f"p{i}@example.com", "phone": f"+1415555{i:04d}",
                                    "mobile_ad_id": f"5f3a2b18-9c4d-4e7f-b8e2-{i:012d}"}) for i in range(10)]
        with create("snap", env) as snap:
            result = snap.write(Operation.ADD_AUDIENCE_MEMBERS, records, target=segment)
        assert result.counts()["accepted"] == 10 and server.throttled >= 1
        assert len(server.members(segment, "MOBILE_AD_ID_SHA256")) == 10


@pytest.mark.parametrize("status", [500, 503])
def test_server_errors_are_retried(snap, snap_server, status):
    segment = snap_server.create_segment()
    snap_server.inject(Fault.STATUS, count=2, status=status)
    result = snap.write(Operation.ADD_AUDIENCE_MEMBERS, people(2), target=segment)
    assert result.counts()["accepted"] == 2 and result.retries == 2


def test_bad_token_is_one_clear_error(snap_env, snap_server):
    segment = snap_server.create_segment()
    with create("snap", {**snap_env, "THROUGHLINE_SNAP_ACCESS_TOKEN": "wrong-token-9876"}) as snap:
        assert not snap.check().ok
        with pytest.raises(AuthenticationError, match="snap rejected the configured credentials"):
            snap.write(Operation.ADD_AUDIENCE_MEMBERS, people(250_000), target=segment)
    assert len(snap_server.requests_to(f"/v1/segments/{segment}/users")) == 1


def test_refresh_token_flow_gets_a_token_and_renews_it_once_on_401(refresh_env, snap_server):
    segment = snap_server.create_segment()
    with create("snap", refresh_env) as snap:
        assert snap.write(Operation.ADD_AUDIENCE_MEMBERS, people(2), target=segment).counts()["accepted"] == 2
        assert snap_server.tokens_issued == 1
        snap_server.expire_tokens()  # the 30-minute token ran out mid-sync
        result = snap.write(Operation.ADD_AUDIENCE_MEMBERS, people(2, 2), target=segment)
    assert result.counts()["accepted"] == 2 and snap_server.tokens_issued == 2
    assert len(snap_server.members(segment)) == 4


def test_bad_refresh_token_is_one_clear_error(refresh_env, snap_server):
    env = {**refresh_env, "THROUGHLINE_SNAP_REFRESH_TOKEN": "revoked-refresh"}
    with create("snap", env) as snap, pytest.raises(AuthenticationError, match="snap refused the refresh token"):
        snap.write(Operation.ADD_AUDIENCE_MEMBERS, people(2), target=snap_server.create_segment())
    assert snap_server.tokens_issued == 0


def test_over_100000_identifiers_is_refused_by_the_server(snap_server):
    segment = snap_server.create_segment()
    body = {"users": [{"schema": ["EMAIL_SHA256"], "data": [[email_hash(i)] for i in range(100_001)]}]}
    answer = requests.post(f"{snap_server.base_url}/v1/segments/{segment}/users", json=body, timeout=30,
                           headers={"Authorization": f"Bearer {snap_server.access_token}"})
    assert answer.status_code == 400 and answer.json()["request_status"] == "ERROR"
    assert "100000" in answer.json()["debug_message"] and not snap_server.members(segment)


def test_two_schemas_in_one_request_are_refused(snap_server):
    body = {"users": [{"schema": ["EMAIL_SHA256", "PHONE_SHA256"], "data": [[email_hash(1)]]}]}
    answer = requests.post(f"{snap_server.base_url}/v1/segments/{snap_server.create_segment()}/users", json=body,
                           timeout=10, headers={"Authorization": f"Bearer {snap_server.access_token}"})
    assert answer.status_code == 400 and answer.json()["debug_message"]== "Invalid parameter /users/0/schema"


def test_logs_carry_no_token_and_no_pii(caplog, refresh_env, snap_server):
    caplog.set_level(logging.DEBUG)
    emails = ["ada.lovelace@example.com", "grace-hopper@example.org"]
    records = [Record(f"p{i}", {"email": e, "phone": "+14155550123"}) for i, e in enumerate(emails)]
    records.append(Record("bad", {"email": "broken-address.example.com"}))
    segment = snap_server.create_segment()
    snap_server.inject(Fault.STATUS, count=1, status=503)
    snap_server.inject(Fault.THROTTLE, count=1, retry_after=None)
    with create("snap", refresh_env) as snap:
        summary = snap.write(Operation.ADD_AUDIENCE_MEMBERS, records, target=segment).summary()
        snap_server.expire_tokens()
        snap.write(Operation.REMOVE_AUDIENCE_MEMBERS, records, target=segment)
    with create("snap", {**refresh_env, "THROUGHLINE_SNAP_CLIENT_SECRET": "leaked-if-you-see-this"}) as snap, \
            pytest.raises(AuthenticationError) as raised:
        snap.write(Operation.ADD_AUDIENCE_MEMBERS, records, target=segment)
    assert summary["rejected"] == 1 and summary["retries"] == 2  # the failures really happened
    assert snap_server.tokens_issued == 2
    haystacks = {"logs": caplog.text, "errors": str(raised.value), "metadata": repr(summary)}
    secrets = [snap_server.client_secret, snap_server.refresh_token, "leaked-if-you-see-this", *snap_server.tokens]
    for where, text in haystacks.items():
        for needle in [*secrets, *emails, "broken-address.example.com", "4155550123"]:
            assert needle not in text, f"{needle!r} leaked into {where}"


def test_the_joined_body_is_the_json_of_the_users_object():
    from connectors.destinations.snap import _body

    digests = [hash_identifier("email", f"person{i}@example.com", Platform.SNAP) for i in range(3)]
    assert json.loads(_body("EMAIL_SHA256", digests)) == {
        "users": [{"schema": ["EMAIL_SHA256"], "data": [[digest] for digest in digests]}]}
