"""ActiveCampaign contract tests against the local API v3 and event tracking server."""

import logging
import time

import pytest
import requests

from connectors import AuthenticationError, ConfigurationError, Operation, Record, RecordStatus, create
from connectors.vendor_servers import ActiveCampaignServer, Fault
from connectors.vendor_servers.base import WindowLimit
from tests.connectors.conftest import env_for

PREFIX = "THROUGHLINE_ACTIVECAMPAIGN"


@pytest.fixture
def ac_server():
    with ActiveCampaignServer(rate_limits=()) as server:
        yield server


def ac_env(server, **extra):
    return env_for(PREFIX, **{"API_TOKEN": server.api_token, "BASE_URL": server.base_url,
                              "ACCOUNT_ID": server.account_id, "EVENT_KEY": server.event_key,
                              "EVENTS_URL": server.base_url + "/event", **extra})


@pytest.fixture
def ac(ac_server):
    with create("activecampaign", ac_env(ac_server)) as destination:
        yield destination


def contacts(count, start=0, **extra):
    return [Record(f"c-{i}", {"email": f"Lead{i}@Example.com", "first_name": "Grace", **extra})
            for i in range(start, start + count)]


def test_capabilities_are_data():
    from connectors import destination_class

    capabilities = destination_class("activecampaign").capabilities
    assert capabilities.limits(Operation.UPSERT_PROFILES).max_records == 250
    assert capabilities.limits(Operation.UPSERT_PROFILES).rate.per_second == 5
    assert not capabilities.limits(Operation.TRACK_EVENTS).idempotent
    with pytest.raises(Exception, match="not supported"):
        capabilities.limits(Operation.SEND_MESSAGES)


def test_check_accepts_the_token(ac):
    assert ac.check().ok


def test_bulk_import_with_custom_fields_and_tags(ac, ac_server):
    result = ac.write(Operation.UPSERT_PROFILES, contacts(3, last_name="Hopper", properties={"1": "gold", "2": True},
                                                          tags=["vip"]))
    assert result.counts()["accepted"] == 3
    batch_id = result.results[0].vendor_id
    assert batch_id and ac.import_status(batch_id)["status"] == "completed"
    stored = ac_server.contact("lead1@example.com")
    assert stored["first_name"] == "Grace" and stored["last_name"] == "Hopper"
    assert stored["fields"] == {"1": "gold", "2": "true"}
    assert ac_server.tagged("vip") == {"Lead0@Example.com", "Lead1@Example.com", "Lead2@Example.com"}


def test_batches_split_at_250(ac, ac_server):
    result = ac.write(Operation.UPSERT_PROFILES, contacts(501))
    assert result.counts()["accepted"] == 501 and len(ac_server.contacts) == 501
    assert len(ac_server.requests_to("/api/3/import/bulk_import")) == 3


def test_server_refuses_more_than_250_contacts(ac_server):
    body = {"contacts": [{"email": f"p{i}@example.com"} for i in range(251)]}
    response = requests.post(f"{ac_server.base_url}/api/3/import/bulk_import", json=body,
                             headers={"Api-Token": ac_server.api_token}, timeout=5)
    assert response.status_code == 400 and "250" in response.json()["message"]


def test_per_contact_failures_carry_activecampaigns_reason(ac, ac_server):
    records = contacts(4)
    records[1] = Record("c-bad", {"email": "not-an-address"})
    records[3] = Record("c-field", {"email": "x@example.com", "properties": {"99": "v"}})
    result = ac.write(Operation.UPSERT_PROFILES, records)
    by_key = {r.key: r for r in result.results}
    assert by_key["c-bad"].status is RecordStatus.REJECTED and by_key["c-bad"].reason == "Invalid email address"
    assert by_key["c-field"].reason == "Custom field 99 does not exist"
    assert [r.status for r in result.results].count(RecordStatus.ACCEPTED) == 2
    assert set(ac_server.contacts) == {"lead0@example.com", "lead2@example.com"}


def test_list_subscribe_and_unsubscribe(ac, ac_server):
    added = ac.write(Operation.ADD_AUDIENCE_MEMBERS, contacts(2), target="1")
    assert added.counts()["accepted"] == 2
    ids = [ac_server.contact(f"lead{i}@example.com")["id"] for i in range(2)]
    assert ac_server.lists["1"] == {ids[0]: 1, ids[1]: 1}
    removed = ac.write(Operation.REMOVE_AUDIENCE_MEMBERS, contacts(1), target="list:1")
    assert removed.counts()["accepted"] == 1 and ac_server.lists["1"][ids[0]] == 2


def test_unknown_list_is_rejected_with_the_vendor_message(ac):
    result = ac.write(Operation.ADD_AUDIENCE_MEMBERS, contacts(1), target="77")
    assert result.results[0].status is RecordStatus.REJECTED
    assert "No Result found for List with id 77" in result.results[0].reason


def test_tags_by_id_added_and_removed(ac, ac_server):
    assert ac.write(Operation.ADD_AUDIENCE_MEMBERS, contacts(2), target="tag:1").counts()["accepted"] == 2
    assert ac_server.tagged("1") == {"Lead0@Example.com", "Lead1@Example.com"}
    assert ac.write(Operation.REMOVE_AUDIENCE_MEMBERS, contacts(1), target="tag:1").counts()["accepted"] == 1
    assert ac_server.tagged("1") == {"Lead1@Example.com"}
    assert ac_server.requests_to("/api/3/contactTags/", "DELETE")


def test_bad_target_is_a_configuration_error(ac):
    with pytest.raises(ConfigurationError, match="tag:<id>"):
        ac.write(Operation.ADD_AUDIENCE_MEMBERS, contacts(1), target="segment:x")


def test_events_posted_as_form_to_event_tracking(ac, ac_server):
    records = [Record("e-1", {"email": "lead1@example.com", "event_name": "sales_ready", "properties": {"score": 91}}),
               Record("e-2", {"email": "lead2@example.com"})]
    result = ac.write(Operation.TRACK_EVENTS, records)
    assert [r.status for r in result.results] == [RecordStatus.ACCEPTED, RecordStatus.REJECTED]
    (event,) = ac_server.events
    assert event["event"] == "sales_ready" and event["eventdata"] == '{"score":91}'
    assert event["visit"] == {"email": "lead1@example.com"} and event["actid"] == ac_server.account_id


def test_bad_event_key_is_one_clear_error(ac_server):
    with create("activecampaign", ac_env(ac_server, EVENT_KEY="wrong")) as ac:
        with pytest.raises(AuthenticationError, match="event tracking key"):
            ac.write(Operation.TRACK_EVENTS, [Record("e", {"email": "a@example.com", "event_name": "x"})])


def test_bad_token_is_one_authentication_error(ac_server):
    with create("activecampaign", ac_env(ac_server, API_TOKEN="nope")) as ac:
        with pytest.raises(AuthenticationError, match="activecampaign rejected the configured credentials"):
            ac.write(Operation.UPSERT_PROFILES, contacts(3))
        assert not ac.check().ok
    assert len(ac_server.request_log) == 2  # the import once, the check once: never retried


@pytest.mark.parametrize("retry_after", [1, None])
def test_429_with_and_without_retry_after_is_retried(ac, ac_server, retry_after):
    ac_server.inject(Fault.THROTTLE, count=1, retry_after=retry_after)
    started = time.monotonic()
    result = ac.write(Operation.UPSERT_PROFILES, contacts(2))
    assert result.counts()["accepted"] == 2 and result.retries == 1
    if retry_after:
        assert time.monotonic() - started >= 0.9 and result.throttled_seconds >= 0.9


def test_5xx_is_retried(ac, ac_server):
    ac_server.inject(Fault.STATUS, count=2, status=503)
    result = ac.write(Operation.UPSERT_PROFILES, contacts(2))
    assert result.counts()["accepted"] == 2 and result.retries == 2


def test_4xx_is_not_retried(ac, ac_server):
    result = ac.write(Operation.ADD_AUDIENCE_MEMBERS, [Record("m", {"email": "broken@@"})], target="1")
    assert result.results[0].status is RecordStatus.REJECTED and result.results[0].vendor_code == "email_invalid"
    assert len(ac_server.requests_to("/api/3/contact/sync")) == 1 and result.retries == 0


def test_lost_event_answer_is_unknown_never_resent(ac, ac_server):
    ac_server.inject(Fault.RESET, count=1, process_first=True, path_prefix="/event")
    result = ac.write(Operation.TRACK_EVENTS, [Record("e", {"email": "a@example.com", "event_name": "x"})])
    assert result.results[0].status is RecordStatus.UNKNOWN and len(ac_server.events) == 1


def test_server_enforces_five_per_second_and_client_stays_under():
    with ActiveCampaignServer() as server:
        env = ac_env(server)
        env.pop(f"{PREFIX}_RATE_PER_SECOND")
        with create("activecampaign", env) as ac:
            result = ac.write(Operation.ADD_AUDIENCE_MEMBERS, contacts(4), target="1")  # 8 calls
        assert result.counts()["accepted"] == 4 and server.throttled == 0
        burst = [requests.get(f"{server.base_url}/api/3/users/me", headers={"Api-Token": server.api_token},
                              timeout=5).status_code for _ in range(6)]
        assert 429 in burst


def test_imports_keep_to_the_importers_own_limit():
    """100 imports a minute (20 of one contact), beside the account's 5 a second: the client
    paces imports by their own bucket, and the server refuses what goes past the window."""
    with ActiveCampaignServer() as server:
        env = ac_env(server)
        env.pop(f"{PREFIX}_RATE_PER_SECOND")
        with create("activecampaign", env) as ac:
            assert ac.write(Operation.UPSERT_PROFILES, contacts(600)).counts()["accepted"] == 600  # 250 + 250 + 100
        imports = [r.at for r in server.requests_to("/api/3/import/bulk_import", "POST")]
        assert len(imports) == 3 and server.throttled == 0
        assert min(b - a for a, b in zip(imports, imports[1:])) >= 0.55, "at most 100 a minute: 0.6 s apart"

    with ActiveCampaignServer(rate_limits=(), bulk_windows={False: WindowLimit(2, 60.0)}) as server:
        body = {"contacts": [{"email": "a@example.com"}, {"email": "b@example.com"}]}
        answers = [requests.post(f"{server.base_url}/api/3/import/bulk_import", json=body, timeout=5,
                                 headers={"Api-Token": server.api_token}).status_code for _ in range(3)]
        assert answers == [200, 200, 429]


def test_server_checks_the_import_body_against_its_schema(ac_server):
    def post(contact):
        return requests.post(f"{ac_server.base_url}/api/3/import/bulk_import", json={"contacts": [contact]}, timeout=5,
                             headers={"Api-Token": ac_server.api_token})

    assert post({"email": "a@example.com", "fields": [{"id": 1, "value": "x"}]}).status_code == 200
    for bad, where in (({"email": "a@example.com", "firstName": "Ada"}, "/contacts/0"),
                       ({"email": "a@example.com", "fields": [{"id": "plan", "value": "x"}]}, "/contacts/0/fields/0/id")):
        answer = post(bad)
        assert answer.status_code == 400 and answer.json()["message"] == f"Invalid request at {where}"


def test_an_import_over_the_byte_limit_is_halved_until_it_fits(ac, ac_server):
    big = contacts(250, properties={"1": "x" * 2_000})  # about 510 KB as one import
    assert ac.write(Operation.UPSERT_PROFILES, big).counts()["accepted"] == 250
    assert len(ac_server.bulk_body_sizes) == 2 and max(ac_server.bulk_body_sizes) <= 399_999
    refused = requests.post(f"{ac_server.base_url}/api/3/import/bulk_import", timeout=5, headers={"Api-Token": ac_server.api_token},
                            json={"contacts": [{"email": f"p{i}@example.com", "first_name": "y" * 2_000} for i in range(250)]})
    assert refused.status_code == 413


def test_no_secret_and_no_pii_in_logs(ac_server, caplog):
    caplog.set_level(logging.DEBUG)
    ac_server.inject(Fault.STATUS, count=1, status=500)
    with create("activecampaign", ac_env(ac_server)) as ac:
        ac.write(Operation.UPSERT_PROFILES, contacts(1) + [Record("bad", {"email": "secret.person@nowhere"})])
    with create("activecampaign", ac_env(ac_server, API_TOKEN="wrong-token-123")) as bad:
        with pytest.raises(AuthenticationError) as error:
            bad.write(Operation.UPSERT_PROFILES, contacts(1))
    text = caplog.text + str(error.value)
    assert caplog.records
    for secret in (ac_server.api_token, "wrong-token-123", ac_server.event_key, "Lead0@Example.com",
                   "secret.person@nowhere"):
        assert secret.lower() not in text.lower()
