"""Klaviyo contract tests against the local Klaviyo server."""

import time

import pytest

from connectors import AuthenticationError, Operation, Record, create
from connectors.vendor_servers import Fault, KlaviyoServer, WindowLimit


def profiles(count, start=0, **extra):
    return [Record(f"p-{i}", {"email": f"person{i}@example.com", "first_name": "Grace", **extra})
            for i in range(start, start + count)]


def events(count):
    return [Record(f"evt-{i}", {"email": f"person{i}@example.com", "event_name": "Journey Step Sent",
                                "occurred_at": "2025-01-02T03:04:05+00:00", "properties": {"step": i}})
            for i in range(count)]


def test_check_accepts_the_key(klaviyo):
    assert klaviyo.check().ok


def test_upsert_profiles_through_an_import_job(klaviyo, klaviyo_server):
    result = klaviyo.write(Operation.UPSERT_PROFILES, profiles(3, phone="(650) 555-1212"))
    assert result.counts()["accepted"] == 3
    job_ids = {r.vendor_id for r in result.results}
    assert len(job_ids) == 1 and next(iter(job_ids)) in klaviyo_server.jobs
    stored = klaviyo_server.profiles["person1@example.com"]["attributes"]
    assert stored["phone_number"] == "+16505551212" and stored["first_name"] == "Grace"


def test_import_splits_at_10000_profiles(klaviyo, klaviyo_server):
    result = klaviyo.write(Operation.UPSERT_PROFILES, profiles(10_001))
    assert result.counts()["accepted"] == 10_001
    assert len(klaviyo_server.jobs) == 2
    assert sorted(job["total"] for job in klaviyo_server.jobs.values()) == [1, 10_000]


def test_import_errors_come_back_as_rejects_with_klaviyo_detail(klaviyo, klaviyo_server):
    klaviyo_server.polls_until_complete = 3  # the client must wait for the job
    records = profiles(4)
    records[2] = Record("p-2", {"email": "person2-at-example.com"})
    result = klaviyo.write(Operation.UPSERT_PROFILES, records)
    assert [r.status.value for r in result.results] == ["accepted", "accepted", "rejected", "accepted"]
    assert result.results[2].reason.startswith("Invalid email address")
    assert len(klaviyo_server.requests_to("/api/profile-bulk-import-jobs/", "GET")) >= 3


def test_add_and_remove_list_members(klaviyo, klaviyo_server):
    list_id = klaviyo_server.create_list()
    members = profiles(5)
    assert klaviyo.write(Operation.ADD_AUDIENCE_MEMBERS, members, target=list_id).counts()["accepted"] == 5
    assert len(klaviyo_server.list_emails(list_id)) == 5
    result = klaviyo.write(Operation.REMOVE_AUDIENCE_MEMBERS, members[:3], target=list_id)
    assert result.counts()["accepted"] == 3
    assert klaviyo_server.list_emails(list_id) == {"person3@example.com", "person4@example.com"}


def test_list_removal_splits_at_1000(klaviyo, klaviyo_server):
    list_id = klaviyo_server.create_list()
    members = profiles(1001)
    klaviyo.write(Operation.ADD_AUDIENCE_MEMBERS, members, target=list_id)
    result = klaviyo.write(Operation.REMOVE_AUDIENCE_MEMBERS, members, target=list_id)
    assert result.counts()["accepted"] == 1001
    assert len(klaviyo_server.requests_to(f"/api/lists/{list_id}/relationships/profiles", "DELETE")) == 2
    assert klaviyo_server.list_emails(list_id) == set()


def test_events_split_at_1000_and_resends_are_stored_once(klaviyo, klaviyo_server):
    batch = events(1500)
    assert klaviyo.write(Operation.TRACK_EVENTS, batch).counts()["accepted"] == 1500
    assert klaviyo_server.event_submissions == 2
    klaviyo.write(Operation.TRACK_EVENTS, batch[:10])  # a crashed run replays
    assert len(klaviyo_server.events) == 1500


def test_event_with_bad_email_is_rejected_by_pointer(klaviyo, klaviyo_server):
    batch = events(3)
    batch[1] = Record("evt-1", {"email": "broken", "event_name": "Journey Step Sent"})
    result = klaviyo.write(Operation.TRACK_EVENTS, batch)
    assert [r.status.value for r in result.results] == ["accepted", "rejected", "accepted"]
    assert result.results[1].reason == "Invalid email address"
    assert len(klaviyo_server.events) == 2


def test_throttle_honours_retry_after(klaviyo, klaviyo_server):
    klaviyo_server.inject(Fault.THROTTLE, retry_after=1)
    started = time.monotonic()
    result = klaviyo.write(Operation.TRACK_EVENTS, events(2))
    assert time.monotonic() - started >= 1.0
    assert result.counts()["accepted"] == 2 and result.throttled_seconds >= 1.0


def test_throttle_without_retry_after_backs_off(klaviyo, klaviyo_server):
    klaviyo_server.inject(Fault.THROTTLE, count=2, retry_after=None)
    result = klaviyo.write(Operation.TRACK_EVENTS, events(2))
    assert result.counts()["accepted"] == 2 and result.retries == 2


def test_published_burst_window_is_enforced_and_survived(klaviyo_env):
    # The server enforces a 3-per-second burst window with Klaviyo's 429 +
    # Retry-After; a client paced too fast must still deliver everything.
    with KlaviyoServer(rate_limits=(WindowLimit(3, 1.0),)) as server:
        env = {**klaviyo_env, "THROUGHLINE_KLAVIYO_BASE_URL": server.base_url}
        with create("klaviyo", env) as destination:
            tracked = destination.write(Operation.TRACK_EVENTS, events(5))
            imported = destination.write(Operation.UPSERT_PROFILES, profiles(2))
        assert tracked.counts()["accepted"] == 5 and imported.counts()["accepted"] == 2
        assert server.throttled >= 1


@pytest.mark.parametrize("status", [500, 502, 503])
def test_server_errors_are_retried(klaviyo, klaviyo_server, status):
    klaviyo_server.inject(Fault.STATUS, count=2, status=status)
    result = klaviyo.write(Operation.UPSERT_PROFILES, profiles(2))
    assert result.counts()["accepted"] == 2 and result.retries == 2


def test_unknown_list_is_not_retried(klaviyo, klaviyo_server):
    result = klaviyo.write(Operation.ADD_AUDIENCE_MEMBERS, profiles(2), target="nolist")
    assert result.counts()["rejected"] == 2
    assert len(klaviyo_server.requests_to("/api/profile-bulk-import-jobs", "POST")) == 1


def test_connection_reset_on_idempotent_import_is_retried(klaviyo, klaviyo_server):
    klaviyo_server.inject(Fault.RESET, process_first=True, path_prefix="/api/profile-bulk-import-jobs")
    result = klaviyo.write(Operation.UPSERT_PROFILES, profiles(2))
    assert result.counts()["accepted"] == 2
    assert len(klaviyo_server.profiles) == 2


def test_bad_credential_is_one_clear_error(klaviyo_env, klaviyo_server):
    env = {**klaviyo_env, "THROUGHLINE_KLAVIYO_API_KEY": "pk_wrong_key_123456"}
    with create("klaviyo", env) as destination, pytest.raises(AuthenticationError, match="klaviyo rejected"):
        destination.write(Operation.UPSERT_PROFILES, profiles(20_001))
    assert len(klaviyo_server.request_log) == 1
