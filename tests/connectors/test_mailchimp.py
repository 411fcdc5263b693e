"""Mailchimp contract tests against the local Marketing API server."""

import logging
import time

import pytest

from connectors import AuthenticationError, ConfigurationError, Operation, Record, RecordStatus, create
from connectors.destinations.mailchimp import MailchimpDestination, subscriber_hash
from connectors.vendor_servers import Fault, MailchimpServer

LIST = "9e67587f52"


def members(count, start=0, **extra):
    fields = {"status": "subscribed", **extra}  # a sync derives the status from the customer's email consent
    return [Record(f"m-{i}", {"email": f"Member{i}@Example.com", "first_name": "Grace", **fields})
            for i in range(start, start + count)]


def events(count):
    return [Record(f"ev-{i}", {"email": f"member{i}@example.com", "event_name": "journey_step",
                               "occurred_at": "2026-01-02T03:04:05Z", "properties": {"step": i}}) for i in range(count)]


def test_subscriber_hash_matches_mailchimps_documented_example():
    # "Manage subscribers with the Mailchimp API": the MD5 of the lower-cased address.
    assert subscriber_hash("Urist.McVankab@freddiesjokes.com") == "62eeb292278cc15f5817cb78f7790b08"


def test_data_center_comes_from_the_key():
    destination = MailchimpDestination("0123456789abcdef-us21")
    assert destination.client.base_url == "https://us21.api.mailchimp.com"
    with pytest.raises(ConfigurationError, match="data center"):
        MailchimpDestination("0123456789abcdef")


def test_capabilities_are_data():
    from connectors import destination_class

    capabilities = destination_class("mailchimp").capabilities
    assert capabilities.limits(Operation.UPSERT_PROFILES).max_records == 500
    assert capabilities.max_concurrency < 10 and not capabilities.limits(Operation.TRACK_EVENTS).idempotent


def test_check_accepts_the_key(mailchimp):
    assert mailchimp.check().ok


def test_batch_upsert_with_merge_fields_and_tags(mailchimp, mailchimp_server):
    records = members(3, last_name="Hopper", properties={"birthday": "12/09", "shoe_size": "42"}, tags=["vip"])
    result = mailchimp.write(Operation.UPSERT_PROFILES, records)
    assert result.counts()["accepted"] == 3
    assert result.results[0].vendor_id == subscriber_hash("member0@example.com")
    stored = mailchimp_server.member(LIST, "member1@example.com")
    assert stored["status"] == "subscribed" and stored["tags"] == {"vip"}
    # only the audience's own merge fields are sent (SHOE_SIZE is not one)
    assert stored["merge_fields"] == {"FNAME": "Grace", "LNAME": "Hopper", "BIRTHDAY": "12/09"}
    again = mailchimp.write(Operation.UPSERT_PROFILES, members(3, first_name="Ada"))
    assert again.counts()["accepted"] == 3 and len(mailchimp_server.lists[LIST]["members"]) == 3
    assert len(mailchimp_server.requests_to(f"/3.0/lists/{LIST}/merge-fields")) == 1  # read once


def test_batches_split_at_500(mailchimp, mailchimp_server):
    result = mailchimp.write(Operation.UPSERT_PROFILES, members(1001))
    assert result.counts()["accepted"] == 1001
    assert len(mailchimp_server.requests_to(f"/3.0/lists/{LIST}", "POST")) == 3


def test_server_refuses_more_than_500_members(mailchimp_server):
    import requests

    body = {"members": [{"email_address": f"m{i}@example.com", "status": "subscribed"} for i in range(501)]}
    response = requests.post(f"{mailchimp_server.base_url}/3.0/lists/{LIST}", json=body,
                             auth=("anystring", mailchimp_server.api_key), timeout=5)
    assert response.status_code == 400 and "500 members" in response.json()["detail"]


def test_per_member_errors_carry_mailchimps_reason(mailchimp, mailchimp_server):
    mailchimp_server.forgotten.add("member2@example.com")
    records = members(4)
    records[1] = Record("m-1", {"email": "member1@example", "status": "subscribed"})
    result = mailchimp.write(Operation.UPSERT_PROFILES, records)
    assert [r.status for r in result.results] == [RecordStatus.ACCEPTED, RecordStatus.REJECTED,
                                                  RecordStatus.REJECTED, RecordStatus.ACCEPTED]
    assert result.results[1].reason == "<email> looks fake or invalid, please enter a real email address."
    assert result.results[1].vendor_code == "ERROR_GENERIC"
    assert result.results[2].reason.startswith("<email> was permanently deleted and cannot be re-imported")
    assert result.requests == 2  # the merge fields, then one batch: rejects are not resent


def test_audience_mirrors_into_a_static_segment(mailchimp, mailchimp_server):
    segment = mailchimp_server.create_segment(LIST, "42")
    target = f"{LIST}/segments/{segment}"
    assert mailchimp.write(Operation.ADD_AUDIENCE_MEMBERS, members(5), target=target).counts()["accepted"] == 5
    assert len(mailchimp_server.segment_emails(LIST, segment)) == 5
    gone = members(3) + [Record("stranger", {"email": "nobody@example.com"})]
    assert mailchimp.write(Operation.REMOVE_AUDIENCE_MEMBERS, gone, target=target).counts()["accepted"] == 4
    assert mailchimp_server.segment_emails(LIST, segment) == {"Member3@Example.com", "Member4@Example.com"}


def test_audience_mirrors_into_a_tag(mailchimp, mailchimp_server):
    target = f"{LIST}/tags/Champions"
    assert mailchimp.write(Operation.ADD_AUDIENCE_MEMBERS, members(4), target=target).counts()["accepted"] == 4
    assert all("Champions" in mailchimp_server.member(LIST, f"member{i}@example.com")["tags"] for i in range(4))
    mailchimp.write(Operation.REMOVE_AUDIENCE_MEMBERS, members(2), target=target)
    assert "Champions" not in mailchimp_server.member(LIST, "member0@example.com")["tags"]
    assert "Champions" in mailchimp_server.member(LIST, "member3@example.com")["tags"]


def test_removal_from_the_audience_unsubscribes(mailchimp, mailchimp_server):
    mailchimp.write(Operation.ADD_AUDIENCE_MEMBERS, members(2), target=LIST)
    mailchimp.write(Operation.REMOVE_AUDIENCE_MEMBERS, members(1), target=LIST)
    assert mailchimp_server.member(LIST, "member0@example.com")["status"] == "unsubscribed"
    assert mailchimp_server.member(LIST, "member1@example.com")["status"] == "subscribed"


def test_no_status_is_a_reject_never_a_subscription(mailchimp, mailchimp_server):
    unknown = [Record("m-0", {"email": "member0@example.com"}), Record("m-1", {"email": "member1@example.com",
                                                                             "status": "opted_in"})]
    result = mailchimp.write(Operation.UPSERT_PROFILES, unknown)
    assert [r.status for r in result.results] == [RecordStatus.REJECTED] * 2
    assert "email consent" in result.results[0].reason and "is not a Mailchimp status" in result.results[1].reason
    assert result.requests == 0 and mailchimp_server.member(LIST, "member0@example.com") is None
    with pytest.raises(ConfigurationError, match="STATUS 'yes'"):
        MailchimpDestination(mailchimp_server.api_key, base_url=mailchimp_server.base_url, status="yes")


def test_someone_who_unsubscribed_is_never_subscribed_again(mailchimp, mailchimp_server):
    mailchimp_server.unsubscribed_by_member(LIST, "member0@example.com")
    result = mailchimp.write(Operation.UPSERT_PROFILES, members(2))
    assert [r.status for r in result.results] == [RecordStatus.REJECTED, RecordStatus.ACCEPTED]
    assert "compliance state" in result.results[0].reason
    assert mailchimp_server.member(LIST, "member0@example.com")["status"] == "unsubscribed"


def test_an_audience_sync_keeps_each_members_status(mailchimp, mailchimp_server):
    # Mirroring a segment into a tag creates new members but never changes an existing one's status.
    mailchimp.write(Operation.UPSERT_PROFILES, members(1, status="unsubscribed"))
    result = mailchimp.write(Operation.ADD_AUDIENCE_MEMBERS, members(2), target=f"{LIST}/tags/Champions")
    assert result.counts()["accepted"] == 2
    assert [mailchimp_server.member(LIST, f"member{i}@example.com")["status"] for i in range(2)] == \
        ["unsubscribed", "subscribed"]
    assert all("Champions" in mailchimp_server.member(LIST, f"member{i}@example.com")["tags"] for i in range(2))


def test_events_per_member_and_an_unknown_member_rejected(mailchimp, mailchimp_server):
    mailchimp.write(Operation.UPSERT_PROFILES, members(3))
    result = mailchimp.write(Operation.TRACK_EVENTS, events(4))
    assert [r.status.value for r in result.results] == ["accepted"] * 3 + ["rejected"]
    assert result.results[3].reason == "The requested resource could not be found."
    assert {e["properties"]["step"] for e in mailchimp_server.events} == {"0", "1", "2"}


def test_invalid_event_name_is_rejected_with_the_field(mailchimp, mailchimp_server):
    mailchimp.write(Operation.UPSERT_PROFILES, members(1))
    result = mailchimp.write(Operation.TRACK_EVENTS, [Record("e", {"email": "member0@example.com",
                                                                    "event_name": "journey step!"})])
    assert result.results[0].status is RecordStatus.REJECTED and "name:" in result.results[0].reason


def test_ten_simultaneous_connections_are_enforced_and_survived(mailchimp_env, mailchimp_server):
    with create("mailchimp", mailchimp_env) as mailchimp:
        mailchimp.write(Operation.UPSERT_PROFILES, members(14))
    mailchimp_server.inject(Fault.SLOW, count=14, delay=0.3, path_prefix=f"/3.0/lists/{LIST}/members/")
    env = {**mailchimp_env, "THROUGHLINE_MAILCHIMP_MAX_CONCURRENCY": "14"}  # capped at Mailchimp's 10
    with create("mailchimp", env) as mailchimp:
        result = mailchimp.write(Operation.TRACK_EVENTS, events(14))
    assert result.counts()["accepted"] == 14 and mailchimp_server.peak_in_flight <= 10
    with MailchimpServer(rate_limits=(), max_connections=3) as server:
        server.create_list(LIST)
        env = {**mailchimp_env, "THROUGHLINE_MAILCHIMP_BASE_URL": server.base_url,
               "THROUGHLINE_MAILCHIMP_HTTP_BACKOFF_BASE": "0.2", "THROUGHLINE_MAILCHIMP_HTTP_BACKOFF_MAX": "1",
               "THROUGHLINE_MAILCHIMP_HTTP_MAX_ATTEMPTS": "8"}
        with create("mailchimp", env) as tight:
            tight.write(Operation.UPSERT_PROFILES, members(8))
            server.inject(Fault.SLOW, count=8, delay=0.2, path_prefix=f"/3.0/lists/{LIST}/members/")
            result = tight.write(Operation.TRACK_EVENTS, events(8))
        # a 429 answer means the event was not processed, so even this non-idempotent call is resent
        assert server.throttled >= 1 and result.retries >= 1
        assert result.counts()["accepted"] == 8 and len(server.events) == 8


def test_429_honours_retry_after(mailchimp, mailchimp_server):
    mailchimp_server.inject(Fault.THROTTLE, retry_after=1)
    started = time.monotonic()
    result = mailchimp.write(Operation.UPSERT_PROFILES, members(2))
    assert time.monotonic() - started >= 1.0
    assert result.counts()["accepted"] == 2 and result.throttled_seconds >= 1.0


def test_429_without_retry_after_backs_off(mailchimp, mailchimp_server):
    mailchimp_server.inject(Fault.THROTTLE, count=2, retry_after=None)
    result = mailchimp.write(Operation.UPSERT_PROFILES, members(2))
    assert result.counts()["accepted"] == 2 and result.retries == 2


@pytest.mark.parametrize("status", [500, 502, 503])
def test_server_errors_are_retried(mailchimp, mailchimp_server, status):
    mailchimp_server.inject(Fault.STATUS, count=2, status=status)
    result = mailchimp.write(Operation.UPSERT_PROFILES, members(2))
    assert result.counts()["accepted"] == 2 and result.retries == 2


def test_client_errors_are_not_retried(mailchimp, mailchimp_server):
    result = mailchimp.write(Operation.ADD_AUDIENCE_MEMBERS, members(2), target=f"{LIST}/segments/999")
    assert result.counts()["rejected"] == 2 and result.retries == 0
    assert result.results[0].reason == "The requested resource could not be found."
    assert len(mailchimp_server.requests_to(f"/3.0/lists/{LIST}/segments/")) == 1


def test_bad_key_is_one_clear_error(mailchimp_env, mailchimp_server):
    env = {**mailchimp_env, "THROUGHLINE_MAILCHIMP_API_KEY": "ffffffffffffffffffffffffffffffff-us21"}
    with create("mailchimp", env) as mailchimp:
        assert not mailchimp.check().ok
        with pytest.raises(AuthenticationError, match="mailchimp rejected"):
            mailchimp.write(Operation.UPSERT_PROFILES, members(2000))
    assert len(mailchimp_server.requests_to(f"/3.0/lists/{LIST}")) == 1


def test_logs_carry_no_key_and_no_pii(caplog, mailchimp_env, mailchimp_server):
    caplog.set_level(logging.DEBUG)
    emails = ["ada.lovelace@example.com", "grace-hopper@example.org", "broken-address@example"]
    people = [Record(f"p{i}", {"email": e, "first_name": "Ada", "status": "subscribed"}) for i, e in enumerate(emails)]
    mailchimp_server.inject(Fault.STATUS, count=1, status=503)
    mailchimp_server.inject(Fault.THROTTLE, count=1, retry_after=None)
    with create("mailchimp", mailchimp_env) as mailchimp:
        summaries = [mailchimp.write(Operation.ADD_AUDIENCE_MEMBERS, people, target=f"{LIST}/tags/VIP").summary(),
                     mailchimp.write(Operation.TRACK_EVENTS, [Record("e", {"email": emails[0],
                                                                           "event_name": "seen"})]).summary()]
    bad = "deadbeefleakedifyouseethis-us21"
    with create("mailchimp", {**mailchimp_env, "THROUGHLINE_MAILCHIMP_API_KEY": bad}) as mailchimp, \
            pytest.raises(AuthenticationError) as raised:
        mailchimp.write(Operation.UPSERT_PROFILES, people)
    assert summaries[0]["rejected"] == 1 and summaries[0]["retries"] == 2  # the failures really happened
    assert any(r.name.startswith("urllib3") for r in caplog.records)
    hashes = [subscriber_hash(e) for e in emails]  # not secret, but the path must still be logged safely
    assert any(h in caplog.text for h in hashes)
    haystacks = {"logs": caplog.text, "errors": str(raised.value), "metadata": repr(summaries)}
    for where, text in haystacks.items():
        for needle in [mailchimp_server.api_key, bad, *emails]:
            assert needle not in text, f"{needle!r} leaked into {where}"


def test_local_servers_are_wired_like_production():
    from orchestration.syncs.local import local_destinations

    with local_destinations(("hubspot", "mailchimp")) as local:
        with create("mailchimp", local.env) as mailchimp:
            target = local.env["THROUGHLINE_MAILCHIMP_SEGMENT"]
            assert mailchimp.write(Operation.ADD_AUDIENCE_MEMBERS, members(3), target=target).counts()["accepted"] == 3
        with create("hubspot", local.env) as hubspot:
            target = local.env["THROUGHLINE_HUBSPOT_LIST_ID"]
            assert hubspot.write(Operation.ADD_AUDIENCE_MEMBERS, members(3), target=target).counts()["accepted"] == 3
        assert local.requests() > 0
