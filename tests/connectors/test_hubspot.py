"""HubSpot contract tests against the local CRM v3 server."""

import logging
import time

import pytest

from connectors import AuthenticationError, Operation, Record, RecordStatus, create
from connectors.vendor_servers import Fault, HubSpotServer, WindowLimit


def contacts(count, start=0, **extra):
    return [Record(f"c-{i}", {"email": f"Person{i}@Example.com", "first_name": "Grace", "last_name": "Hopper", **extra})
            for i in range(start, start + count)]


def events(count, name="pe1234567_journey_step"):
    return [Record(f"ev-{i}", {"email": f"person{i}@example.com", "event_name": name,
                               "occurred_at": "2026-01-02T03:04:05Z", "properties": {"step": str(i)}})
            for i in range(count)]


def handoffs(count):
    return [Record(f"act-{i}", {"email": f"lead{i}@example.com", "subject": "Call this lead",
                                "text": "Visited pricing three times this week"}) for i in range(count)]


def test_capabilities_are_data():
    from connectors import destination_class

    capabilities = destination_class("hubspot").capabilities
    assert capabilities.limits(Operation.UPSERT_PROFILES).max_records == 100
    assert capabilities.limits(Operation.TRACK_EVENTS).max_records == 500
    assert not capabilities.limits(Operation.SEND_MESSAGES).idempotent


def test_check_accepts_the_token(hubspot):
    assert hubspot.check().ok


def test_upsert_contacts_by_email(hubspot, hubspot_server):
    hubspot_server.custom_properties.add("vip")
    records = contacts(3, phone="+16505551212", properties={"company": "Acme", "vip": True})
    result = hubspot.write(Operation.UPSERT_PROFILES, records)
    assert result.counts()["accepted"] == 3 and result.requests == 1
    stored = hubspot_server.contact_by_email("person1@example.com")
    assert stored["properties"] == {"email": "person1@example.com", "firstname": "Grace", "lastname": "Hopper",
                                    "phone": "+16505551212", "company": "Acme", "vip": "true"}
    assert result.results[1].vendor_id == stored["id"]
    again = hubspot.write(Operation.UPSERT_PROFILES, contacts(3, first_name="Ada"))  # an upsert, not a duplicate
    assert again.counts()["accepted"] == 3 and len(hubspot_server.contacts) == 3


def test_batches_split_at_100(hubspot, hubspot_server):
    result = hubspot.write(Operation.UPSERT_PROFILES, contacts(250))
    assert result.counts()["accepted"] == 250
    assert len(hubspot_server.requests_to("/crm/v3/objects/contacts/batch/upsert")) == 3
    assert len(hubspot_server.contacts) == 250


def test_a_repeated_email_goes_to_the_next_batch(hubspot, hubspot_server):
    records = contacts(3) + [Record("dup", {"email": "person1@example.com", "first_name": "Ada"})] + contacts(2, 3)
    result = hubspot.write(Operation.UPSERT_PROFILES, records)
    assert result.counts()["accepted"] == 6 and len(hubspot_server.contacts) == 5
    assert len(hubspot_server.requests_to("/crm/v3/objects/contacts/batch/upsert")) == 2
    assert hubspot_server.contact_by_email("person1@example.com")["properties"]["firstname"] == "Ada"  # last wins


def test_server_refuses_an_oversized_batch(hubspot_server):
    import requests

    body = {"inputs": [{"idProperty": "email", "id": f"p{i}@example.com", "properties": {}} for i in range(101)]}
    response = requests.post(hubspot_server.base_url + "/crm/v3/objects/contacts/batch/upsert", json=body,
                             headers={"Authorization": f"Bearer {hubspot_server.access_token}"}, timeout=5)
    assert response.status_code == 400 and response.json()["category"] == "VALIDATION_ERROR"


def test_207_rejects_name_the_record_and_hubspots_reason(hubspot, hubspot_server):
    records = contacts(4)
    records[1] = Record("c-1", {"email": "person1-at-example.com"})
    records[3] = Record("c-3", {"email": "person3@example.com", "properties": {"favourite_colour": "teal"}})
    result = hubspot.write(Operation.UPSERT_PROFILES, records)
    assert [r.status for r in result.results] == [RecordStatus.ACCEPTED, RecordStatus.REJECTED,
                                                  RecordStatus.ACCEPTED, RecordStatus.REJECTED]
    assert result.results[1].reason == "Email address <email> is invalid"
    assert result.results[1].vendor_code == "INVALID_EMAIL"
    assert result.results[3].reason == 'Property "favourite_colour" does not exist'
    assert result.results[3].vendor_code == "PROPERTY_DOESNT_EXIST"
    assert len(hubspot_server.contacts) == 2 and result.requests == 1  # not resent


def test_list_membership_add_and_remove(hubspot, hubspot_server):
    list_id = hubspot_server.create_list()
    members = contacts(5)
    assert hubspot.write(Operation.ADD_AUDIENCE_MEMBERS, members, target=list_id).counts()["accepted"] == 5
    assert len(hubspot_server.list_emails(list_id)) == 5
    gone = members[:3] + [Record("stranger", {"email": "nobody@example.com"})]
    result = hubspot.write(Operation.REMOVE_AUDIENCE_MEMBERS, gone, target=list_id)
    assert result.counts()["accepted"] == 4  # a contact HubSpot does not know is not on the list
    assert hubspot_server.list_emails(list_id) == {"person3@example.com", "person4@example.com"}
    assert len(hubspot_server.requests_to(f"/crm/v3/lists/{list_id}/memberships/remove")) == 1


def test_a_dynamic_list_is_refused_not_retried(hubspot, hubspot_server):
    list_id = hubspot_server.create_list(processing_type="DYNAMIC")
    result = hubspot.write(Operation.ADD_AUDIENCE_MEMBERS, contacts(2), target=list_id)
    assert result.counts()["rejected"] == 2
    assert result.results[0].reason == f"List {list_id} is not a MANUAL or SNAPSHOT list."
    assert len(hubspot_server.requests_to("/crm/v3/lists/")) == 1


def test_events_split_at_500_and_resends_are_stored_once(hubspot, hubspot_server):
    assert hubspot.write(Operation.TRACK_EVENTS, events(501)).counts()["accepted"] == 501
    assert len(hubspot_server.requests_to("/events/v3/send/batch")) == 2
    hubspot.write(Operation.TRACK_EVENTS, events(3))  # a crashed run replays
    assert len(hubspot_server.events) == 501 and hubspot_server.event_submissions.most_common(1)[0][1] == 2


def test_bad_events_are_rejected_by_input_index_and_the_rest_delivered(hubspot, hubspot_server):
    records = events(3)
    records[1] = Record("ev-1", {"email": "person1@example.com", "event_name": "pe1234567_unknown"})
    result = hubspot.write(Operation.TRACK_EVENTS, records)
    assert [r.status.value for r in result.results] == ["accepted", "rejected", "accepted"]
    assert result.results[1].reason == "Event definition <event_name> not found"  # record values are masked
    assert len(hubspot_server.events) == 2


def test_sales_handoff_creates_a_task_on_the_contact(hubspot, hubspot_server):
    result = hubspot.write(Operation.SEND_MESSAGES, handoffs(3))
    assert result.counts()["accepted"] == 3 and all(r.vendor_id for r in result.results)
    tasks = hubspot_server.engagements["tasks"]
    assert len(tasks) == 3 and tasks[0]["properties"]["hs_task_subject"] == "Call this lead"
    assert tasks[0]["contacts"] == [hubspot_server.contact_by_email("lead0@example.com")["id"]]


def test_sales_handoff_as_a_note(hubspot_env, hubspot_server):
    with create("hubspot", {**hubspot_env, "THROUGHLINE_HUBSPOT_HANDOFF_OBJECT": "note"}) as hubspot:
        assert hubspot.write(Operation.SEND_MESSAGES, handoffs(1)).counts()["accepted"] == 1
    assert hubspot_server.engagements["notes"][0]["properties"]["hs_note_body"].startswith("Visited pricing")


def test_lost_answer_on_a_handoff_is_unknown_and_not_resent(hubspot, hubspot_server):
    hubspot_server.inject(Fault.RESET, process_first=True, path_prefix="/crm/v3/objects/tasks")
    result = hubspot.write(Operation.SEND_MESSAGES, handoffs(1))
    assert result.results[0].status is RecordStatus.UNKNOWN
    assert len(hubspot_server.engagements["tasks"]) == 1


def test_ten_secondly_429_honours_retry_after(hubspot, hubspot_server):
    hubspot_server.inject(Fault.THROTTLE, retry_after=1)
    started = time.monotonic()
    result = hubspot.write(Operation.UPSERT_PROFILES, contacts(2))
    assert time.monotonic() - started >= 1.0
    assert result.counts()["accepted"] == 2 and result.throttled_seconds >= 1.0


def test_ten_secondly_429_without_retry_after_backs_off(hubspot, hubspot_server):
    hubspot_server.inject(Fault.THROTTLE, count=2, retry_after=None)
    result = hubspot.write(Operation.UPSERT_PROFILES, contacts(2))
    assert result.counts()["accepted"] == 2 and result.retries == 2


def test_daily_limit_leaves_records_retryable_at_once(hubspot, hubspot_server):
    hubspot_server.throttle_policy = "DAILY"
    hubspot_server.inject(Fault.THROTTLE, count=5, retry_after=None)
    result = hubspot.write(Operation.UPSERT_PROFILES, contacts(2))
    assert result.counts()["retryable"] == 2 and result.requests == 1
    assert "daily limit" in result.results[0].reason


def test_published_window_is_enforced_and_survived(hubspot_env):
    with HubSpotServer(rate_limits=(WindowLimit(3, 1.0),)) as server:
        env = {**hubspot_env, "THROUGHLINE_HUBSPOT_BASE_URL": server.base_url}
        with create("hubspot", env) as hubspot:
            result = hubspot.write(Operation.UPSERT_PROFILES, contacts(500))
        assert result.counts()["accepted"] == 500 and server.throttled >= 1


@pytest.mark.parametrize("status", [500, 502, 503])
def test_server_errors_are_retried(hubspot, hubspot_server, status):
    hubspot_server.inject(Fault.STATUS, count=2, status=status)
    result = hubspot.write(Operation.UPSERT_PROFILES, contacts(2))
    assert result.counts()["accepted"] == 2 and result.retries == 2


def test_client_errors_are_not_retried(hubspot, hubspot_server):
    result = hubspot.write(Operation.ADD_AUDIENCE_MEMBERS, contacts(2), target="404404")
    assert result.counts()["rejected"] == 2 and result.results[0].reason == "List with id 404404 does not exist."
    assert len(hubspot_server.requests_to("/crm/v3/lists/")) == 1 and result.retries == 0


def test_bad_token_is_one_clear_error(hubspot_env, hubspot_server):
    env = {**hubspot_env, "THROUGHLINE_HUBSPOT_ACCESS_TOKEN": "pat-na1-wrong-token-000"}
    with create("hubspot", env) as hubspot:
        assert not hubspot.check().ok
        with pytest.raises(AuthenticationError, match="hubspot rejected"):
            hubspot.write(Operation.UPSERT_PROFILES, contacts(1000))
    assert len(hubspot_server.requests_to("/crm/v3/objects/contacts/batch/upsert")) == 1


def test_logs_carry_no_token_and_no_pii(caplog, hubspot_env, hubspot_server):
    caplog.set_level(logging.DEBUG)
    emails = ["ada.lovelace@example.com", "grace-hopper@example.org", "broken-address.example.com"]
    people = [Record(f"p{i}", {"email": e, "first_name": "Ada"}) for i, e in enumerate(emails)]
    list_id = hubspot_server.create_list()
    hubspot_server.inject(Fault.STATUS, count=1, status=503)
    hubspot_server.inject(Fault.THROTTLE, count=1, retry_after=None)
    with create("hubspot", hubspot_env) as hubspot:
        summaries = [hubspot.write(Operation.ADD_AUDIENCE_MEMBERS, people, target=list_id).summary(),
                     hubspot.write(Operation.REMOVE_AUDIENCE_MEMBERS, people, target=list_id).summary()]
    bad = "pat-na1-leaked-if-you-see-this"
    with create("hubspot", {**hubspot_env, "THROUGHLINE_HUBSPOT_ACCESS_TOKEN": bad}) as hubspot, \
            pytest.raises(AuthenticationError) as raised:
        hubspot.write(Operation.UPSERT_PROFILES, people)
    assert summaries[0]["rejected"] == 1 and summaries[0]["retries"] == 2  # the failures really happened
    assert any(r.name.startswith("urllib3") for r in caplog.records)
    haystacks = {"logs": caplog.text, "errors": str(raised.value), "metadata": repr(summaries)}
    for where, text in haystacks.items():
        for needle in [hubspot_server.access_token, bad, *emails]:
            assert needle not in text, f"{needle!r} leaked into {where}"
