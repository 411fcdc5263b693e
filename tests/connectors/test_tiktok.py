"""TikTok customer-file audience contract tests against the local API for Business server."""

import hashlib
import logging

import pytest
import requests

from connectors import AuthenticationError, Operation, Record, RecordStatus, create
from connectors.pii import Platform, hash_identifier
from connectors.vendor_servers import Fault, TikTokServer, WindowLimit

UPLOAD, UPDATE = "/open_api/v1.3/dmp/custom_audience/file/upload/", "/open_api/v1.3/dmp/custom_audience/update/"


@pytest.fixture
def tiktok_server():
    with TikTokServer(rate_limits=()) as server:
        yield server


@pytest.fixture
def tiktok_env(tiktok_server, env_for):
    return env_for("THROUGHLINE_TIKTOK", ACCESS_TOKEN=tiktok_server.access_token, BASE_URL=tiktok_server.base_url,
                   ADVERTISER_ID=tiktok_server.advertiser_id)


@pytest.fixture
def tiktok(tiktok_env):
    with create("tiktok", tiktok_env) as destination:
        yield destination


def people(count, start=0):
    return [Record(f"t-{i}", {"email": f" Person{i}@Example.com"}) for i in range(start, start + count)]


def email_hash(i):
    return hash_identifier("email", f"person{i}@example.com", Platform.TIKTOK)


def test_check_accepts_the_token(tiktok):
    assert tiktok.check().ok


def test_members_are_appended_from_an_uploaded_file_of_tiktok_hashes(tiktok, tiktok_server):
    # TikTok's published example (https://ads.tiktok.com/help/article/how-to-create-a-custom-audience-with-a-customer-file):
    # "janedoe@gmail.com" hashes to d6117306...; the raw address never reaches the server.
    audience = tiktok_server.create_audience()
    result = tiktok.write(Operation.ADD_AUDIENCE_MEMBERS, [Record("vec", {"email": " JaneDoe@Gmail.com"}), *people(2)],
                          target=audience)
    assert result.counts()["accepted"] == 3 and result.requests == 2  # one upload, one update
    assert tiktok_server.members(audience) == {
        "d6117306485ed0e50afab3ac871e98f81699151f30281527d63ff5f233656c69", email_hash(0), email_hash(1)}
    (file_path, times), = tiktok_server.updates.items()
    assert times == 1 and result.results[0].vendor_id == file_path


def test_a_phone_audience_takes_e164_with_plus(tiktok_env, tiktok_server):
    audience = tiktok_server.create_audience(calculate_type="PHONE_SHA256")
    with create("tiktok", {**tiktok_env, "THROUGHLINE_TIKTOK_CALCULATE_TYPE": "PHONE_SHA256"}) as tiktok:
        result = tiktok.write(Operation.ADD_AUDIENCE_MEMBERS, [Record("p", {"phone": "(657) 777-0000"})], target=audience)
    assert result.counts()["accepted"] == 1
    assert tiktok_server.members(audience) == {hashlib.sha256(b"+16577770000").hexdigest()}


def test_an_idfa_audience_takes_lower_case_maids(tiktok_env, tiktok_server):
    # the same page: MAID 5f3a2b18-9c4d-4e7f-b8e2-17d3a1e69b25 hashes to 83dc3f5f...
    audience = tiktok_server.create_audience(calculate_type="IDFA_SHA256")
    with create("tiktok", {**tiktok_env, "THROUGHLINE_TIKTOK_CALCULATE_TYPE": "IDFA_SHA256"}) as tiktok:
        result = tiktok.write(Operation.ADD_AUDIENCE_MEMBERS,
                              [Record("m", {"mobile_ad_id": "5F3A2B18-9C4D-4E7F-B8E2-17D3A1E69B25 "})], target=audience)
    assert result.counts()["accepted"] == 1
    assert tiktok_server.members(audience) == {"83dc3f5f32b9472613b0f038d36f22585a609d018af6f6067f50da318bf354bd"}


def test_files_split_at_100000_lines(tiktok, tiktok_server):
    audience = tiktok_server.create_audience()
    result = tiktok.write(Operation.ADD_AUDIENCE_MEMBERS, people(100_001), target=audience)
    assert result.counts()["accepted"] == 100_001 and result.requests == 4
    assert len(tiktok_server.requests_to(UPLOAD)) == 2 and len(tiktok_server.members(audience)) == 100_001


def test_remove_members(tiktok, tiktok_server):
    audience = tiktok_server.create_audience()
    tiktok.write(Operation.ADD_AUDIENCE_MEMBERS, people(5), target=audience)
    result = tiktok.write(Operation.REMOVE_AUDIENCE_MEMBERS, people(3), target=audience)
    assert result.counts()["accepted"] == 3
    assert tiktok_server.members(audience) == {email_hash(3), email_hash(4)}


def test_unusable_records_never_leave(tiktok, tiktok_server):
    audience = tiktok_server.create_audience()
    records = [*people(2), Record("nobody", {"email": "not-an-address"}), Record("phone-only", {"phone": "+14155550100"})]
    result = tiktok.write(Operation.ADD_AUDIENCE_MEMBERS, records, target=audience)
    by_key = {r.key: r for r in result.results}
    assert by_key["nobody"].vendor_code == "no_identifier" and "not an email address" in by_key["nobody"].reason
    assert by_key["phone-only"].status is RecordStatus.REJECTED  # an email audience takes emails only
    assert tiktok_server.members(audience) == {email_hash(0), email_hash(1)}


def test_unknown_audience_is_rejected_with_tiktok_code_and_not_retried(tiktok, tiktok_server):
    result = tiktok.write(Operation.ADD_AUDIENCE_MEMBERS, people(2), target="404404")
    assert result.counts()["rejected"] == 2 and result.results[0].vendor_code == "40002"
    assert "does not exist" in result.results[0].reason
    assert result.requests == 2 and result.retries == 0


def test_an_audience_of_another_type_refuses_the_file(tiktok, tiktok_server):
    audience = tiktok_server.create_audience(calculate_type="PHONE_SHA256")
    result = tiktok.write(Operation.ADD_AUDIENCE_MEMBERS, people(2), target=audience)
    assert result.counts()["rejected"] == 2 and result.results[0].vendor_code == "40909"


def test_an_audience_left_under_1000_members_refuses_the_update(tiktok, tiktok_server):
    audience = tiktok_server.create_audience()
    tiktok_server.audiences[audience]["members"] = set()  # a new audience: TikTok wants 1,000 after any update
    result = tiktok.write(Operation.ADD_AUDIENCE_MEMBERS, people(5), target=audience)
    assert result.counts()["rejected"] == 5 and "less than 1,000" in result.results[0].reason
    assert not tiktok_server.audiences[audience]["members"]


@pytest.mark.parametrize("retry_after", [None, 1])
def test_code_40100_with_and_without_retry_after_is_backed_off(tiktok, tiktok_server, retry_after):
    audience = tiktok_server.create_audience()
    tiktok_server.inject(Fault.THROTTLE, count=2, retry_after=retry_after)
    result = tiktok.write(Operation.ADD_AUDIENCE_MEMBERS, people(3), target=audience)
    assert result.counts()["accepted"] == 3 and result.retries == 2
    assert result.throttled_seconds >= (2.0 if retry_after else 0.0) and result.throttled_seconds > 0
    assert all(r.status == 200 for r in tiktok_server.request_log), "TikTok throttles with HTTP 200 and code 40100"


def test_server_window_throttles_and_everything_lands(tiktok_env):
    with TikTokServer(rate_limits=(WindowLimit(1, 0.5),)) as server:
        audience = server.create_audience()
        env = {**tiktok_env, "THROUGHLINE_TIKTOK_BASE_URL": server.base_url, "THROUGHLINE_TIKTOK_HTTP_BACKOFF_BASE": "0.2",
               "THROUGHLINE_TIKTOK_HTTP_BACKOFF_MAX": "1", "THROUGHLINE_TIKTOK_HTTP_MAX_ATTEMPTS": "8"}
        with create("tiktok", env) as tiktok:
            result = tiktok.write(Operation.ADD_AUDIENCE_MEMBERS, people(3), target=audience)
        assert result.counts()["accepted"] == 3 and server.throttled >= 1


@pytest.mark.parametrize("fault", ["http-503", "code-50002", "code-50000"])
def test_server_errors_are_retried(tiktok, tiktok_server, fault):
    audience = tiktok_server.create_audience()
    if fault == "http-503":
        tiktok_server.inject(Fault.STATUS, count=2, status=503)
    else:
        tiktok_server.envelope_errors = [int(fault[5:])] * 2
    result = tiktok.write(Operation.ADD_AUDIENCE_MEMBERS, people(2), target=audience)
    assert result.counts()["accepted"] == 2 and result.retries == 2


@pytest.mark.parametrize("token", ["wrong-token-9876", None])
def test_bad_token_is_one_clear_error(tiktok_env, tiktok_server, token):
    audience = tiktok_server.create_audience()
    with create("tiktok", {**tiktok_env, "THROUGHLINE_TIKTOK_ACCESS_TOKEN": "wrong-token-9876"}) as tiktok:
        if token is None:
            tiktok.client.session.headers.pop("Access-Token")
        assert not tiktok.check().ok
        with pytest.raises(AuthenticationError, match=r"tiktok rejected the configured credentials \(TikTok code 4010[45]\)"):
            tiktok.write(Operation.ADD_AUDIENCE_MEMBERS, people(250_000), target=audience)
    assert len(tiktok_server.requests_to(UPLOAD)) == 1 and not tiktok_server.requests_to(UPDATE)


def test_another_advertiser_is_an_authorisation_error(tiktok_env, tiktok_server):
    with create("tiktok", {**tiktok_env, "THROUGHLINE_TIKTOK_ADVERTISER_ID": "1"}) as tiktok, \
            pytest.raises(AuthenticationError, match="40001"):
        tiktok.write(Operation.ADD_AUDIENCE_MEMBERS, people(2), target=tiktok_server.create_audience())


def _upload(server, content: bytes, signature: str | None = None, calculate_type="EMAIL_SHA256", name="a.txt"):
    form = {"advertiser_id": server.advertiser_id, "calculate_type": calculate_type,
            "file_signature": signature or hashlib.md5(content).hexdigest()}
    return requests.post(server.base_url + UPLOAD, data=form, files={"file": (name, content, "text/plain")},
                         headers={"Access-Token": server.access_token}, timeout=30).json()


def test_the_server_checks_the_file_as_tiktok_does(tiktok_server):
    good = (email_hash(1) + "\n" + email_hash(2)).encode()
    assert _upload(tiktok_server, good)["data"]["file_path"]
    assert _upload(tiktok_server, good, signature="0" * 32)["code"] == 40900
    assert _upload(tiktok_server, good, calculate_type="EMAIL")["code"] == 40002
    assert _upload(tiktok_server, good, name="a.json")["code"] == 40908
    assert _upload(tiktok_server, b"\n")["code"] == 40906
    assert _upload(tiktok_server, b"0" * (50 * 1024 * 1024 + 1))["code"] == 40907
    answer = requests.post(tiktok_server.base_url + UPDATE, json={"advertiser_id": tiktok_server.advertiser_id},
                           headers={"Access-Token": tiktok_server.access_token}, timeout=10)
    assert answer.status_code == 200 and answer.json()["code"] == 40002  # the spec's required custom_audience_id


def test_logs_carry_no_token_and_no_pii(caplog, tiktok_env, tiktok_server):
    caplog.set_level(logging.DEBUG)
    emails = ["ada.lovelace@example.com", "grace-hopper@example.org"]
    records = [*(Record(f"p{i}", {"email": e}) for i, e in enumerate(emails)), Record("bad", {"email": "broken.example"})]
    audience = tiktok_server.create_audience()
    tiktok_server.inject(Fault.STATUS, count=1, status=503)
    tiktok_server.inject(Fault.THROTTLE, count=1, retry_after=None)
    with create("tiktok", tiktok_env) as tiktok:
        summaries = [tiktok.write(Operation.ADD_AUDIENCE_MEMBERS, records, target=audience).summary(),
                     tiktok.write(Operation.REMOVE_AUDIENCE_MEMBERS, records, target="404").summary()]
    bad = "tiktok-leaked-if-you-see-this"
    with create("tiktok", {**tiktok_env, "THROUGHLINE_TIKTOK_ACCESS_TOKEN": bad}) as tiktok, \
            pytest.raises(AuthenticationError) as raised:
        tiktok.write(Operation.ADD_AUDIENCE_MEMBERS, records, target=audience)
    assert summaries[0]["rejected"] == 1 and summaries[0]["retries"] == 2 and summaries[1]["rejected"] == 3
    haystacks = {"logs": caplog.text, "errors": str(raised.value), "metadata": repr(summaries)}
    for where, text in haystacks.items():
        for needle in [tiktok_server.access_token, bad, *emails, "broken.example"]:
            assert needle not in text, f"{needle!r} leaked into {where}"
