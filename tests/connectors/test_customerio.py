"""Customer.io contract tests against the local Track + App API server."""

import pytest

from connectors import AuthenticationError, Operation, Record, RecordStatus, create
from connectors.vendor_servers import CustomerIoServer, Fault, WindowLimit


def people(count, **extra):
    return [Record(f"p-{i}", {"external_id": f"cust-{i}", "email": f"p{i}@example.com", "first_name": "Ada", **extra})
            for i in range(count)]


def events(count):
    return [Record(f"ev-{i}", {"external_id": f"cust-{i}", "event_name": "journey_step",
                               "occurred_at": "2026-01-02T03:04:05Z", "properties": {"step": i}}) for i in range(count)]


def mails(count):
    return [Record(f"act-{i}", {"email": f"p{i}@example.com", "external_id": f"cust-{i}",
                                "template_data": {"first_name": "Ada"}}) for i in range(count)]


def test_check_accepts_the_credentials(customerio):
    assert customerio.check().ok


def test_identify_happy_path(customerio, customerio_server):
    result = customerio.write(Operation.UPSERT_PROFILES, people(3, phone="(650) 555-1212", properties={"tier": "gold"}))
    assert result.counts()["accepted"] == 3 and result.requests == 1
    assert customerio_server.people["cust-1"] == {"tier": "gold", "email": "p1@example.com", "first_name": "Ada",
                                                  "phone": "+16505551212"}


def test_batches_split_under_500_kb(customerio, customerio_server):
    result = customerio.write(Operation.UPSERT_PROFILES, people(200, properties={"bio": "x" * 900, "b2": "y" * 900,
                                                                                 "b3": "z" * 900, "b4": "w" * 900}))
    assert result.counts()["accepted"] == 200
    batches = customerio_server.requests_to("/api/v2/batch")
    assert len(batches) == 2 and all(r.status == 200 for r in batches)


def test_207_names_the_failed_entries(customerio, customerio_server):
    records = people(3)
    records[1] = Record("p-1", {"external_id": "cust-1", "email": "broken"})
    records.append(Record("big", {"external_id": "cust-big", "properties": {f"k{i}": "v" * 200 for i in range(200)}}))
    result = customerio.write(Operation.UPSERT_PROFILES, records)
    by_key = {r.key: r for r in result.results}
    assert by_key["p-1"].status is RecordStatus.REJECTED and by_key["p-1"].reason == "email is invalid: <email>"
    assert by_key["big"].reason == "entry must be smaller than 32kb"
    assert set(customerio_server.people) == {"cust-0", "cust-2"}


def test_events_are_deduplicated_by_their_ulid(customerio, customerio_server):
    customerio.write(Operation.TRACK_EVENTS, events(5))
    customerio.write(Operation.TRACK_EVENTS, events(5))  # a crashed run replays
    assert len(customerio_server.events) == 5 and set(customerio_server.event_submissions.values()) == {2}
    assert all(len(event_id) == 26 for event_id in customerio_server.events)


def test_delete_profiles(customerio, customerio_server):
    customerio.write(Operation.UPSERT_PROFILES, people(3))
    assert customerio.write(Operation.DELETE_PROFILES, people(2)).counts()["accepted"] == 2
    assert set(customerio_server.people) == {"cust-2"}


def test_manual_segment_add_and_remove_split_at_1000(customerio, customerio_server):
    customerio_server.segments["7"] = set()
    members = people(1001) + [Record("by-mail", {"email": "only@example.com"})]
    assert customerio.write(Operation.ADD_AUDIENCE_MEMBERS, members, target="7").counts()["accepted"] == 1002
    assert len(customerio_server.segments["7"]) == 1002
    assert len(customerio_server.requests_to("/api/v1/segments/7/add_customers")) == 3  # 1000 + 1 ids, 1 email
    customerio.write(Operation.REMOVE_AUDIENCE_MEMBERS, members[:1000], target="7")
    assert customerio_server.segments["7"] == {"cust-1000", "only@example.com"}


def test_unknown_segment_is_rejected_not_retried(customerio, customerio_server):
    result = customerio.write(Operation.ADD_AUDIENCE_MEMBERS, people(2), target="404")
    assert result.counts()["rejected"] == 2 and result.results[0].reason == "segment not found"
    assert len(customerio_server.request_log) == 1


def test_transactional_email_one_per_message(customerio, customerio_server):
    result = customerio.write(Operation.SEND_MESSAGES, mails(12))
    assert result.counts()["accepted"] == 12 and all(r.vendor_id for r in result.results)
    assert sorted(customerio_server.messages) == sorted(f"act-{i}" for i in range(12))


def test_transactional_reject_carries_customerio_reason(customerio, customerio_server):
    records = mails(2)
    records[1] = Record("act-1", {"email": "nobody-at-example", "template_id": "1"})
    result = customerio.write(Operation.SEND_MESSAGES, records)
    assert result.results[1].status is RecordStatus.REJECTED
    assert result.results[1].reason.startswith('"to" is not a valid email address')


def test_unknown_template_is_rejected(customerio_env, customerio_server):
    env = {**customerio_env, "THROUGHLINE_CUSTOMERIO_TRANSACTIONAL_MESSAGE_ID": "99"}
    with create("customerio", env) as customerio:
        result = customerio.write(Operation.SEND_MESSAGES, mails(1))
    assert result.results[0].reason == '"transactional_message_id" not found'


def test_lost_answer_on_a_send_is_unknown_and_not_resent(customerio, customerio_server):
    customerio_server.inject(Fault.RESET, process_first=True, path_prefix="/v1/send/email")
    result = customerio.write(Operation.SEND_MESSAGES, mails(1))
    assert result.results[0].status is RecordStatus.UNKNOWN
    assert len(customerio_server.messages["act-0"]) == 1


def test_lost_answer_on_a_batch_is_resent(customerio_env, customerio_server):
    customerio_server.inject(Fault.TIMEOUT, delay=0.5, process_first=True)
    with create("customerio", {**customerio_env, "THROUGHLINE_CUSTOMERIO_HTTP_READ_TIMEOUT": "0.25"}) as customerio:
        result = customerio.write(Operation.TRACK_EVENTS, events(3))
    assert result.counts()["accepted"] == 3 and result.retries == 1
    assert len(customerio_server.events) == 3  # the resent events were recognised by id


@pytest.mark.parametrize("retry_after", [1, None])
def test_429_with_and_without_retry_after(customerio, customerio_server, retry_after):
    customerio_server.inject(Fault.THROTTLE, count=2, retry_after=retry_after)
    result = customerio.write(Operation.TRACK_EVENTS, events(3))
    assert result.counts()["accepted"] == 3 and result.retries == 2
    if retry_after:
        assert result.throttled_seconds >= 2


def test_window_limit_is_survived(customerio_env):
    with CustomerIoServer(rate_limits=(WindowLimit(3, 1.0),)) as server:
        env = {**customerio_env, "THROUGHLINE_CUSTOMERIO_TRACK_URL": server.base_url,
               "THROUGHLINE_CUSTOMERIO_APP_URL": server.base_url}
        with create("customerio", env) as customerio:
            result = customerio.write(Operation.SEND_MESSAGES, mails(8))
        assert result.counts()["accepted"] == 8 and server.throttled >= 1
        assert all(len(sent) == 1 for sent in server.messages.values())


@pytest.mark.parametrize("status", [500, 502])
def test_server_errors_are_retried(customerio, customerio_server, status):
    customerio_server.inject(Fault.STATUS, count=2, status=status)
    result = customerio.write(Operation.SEND_MESSAGES, mails(3))
    assert result.counts()["accepted"] == 3 and result.retries == 2
    assert all(len(sent) == 1 for sent in customerio_server.messages.values())


def test_bad_track_key_is_one_clear_error(customerio_env, customerio_server):
    env = {**customerio_env, "THROUGHLINE_CUSTOMERIO_TRACK_API_KEY": "wrong-track-key-000"}
    with create("customerio", env) as customerio:
        assert not customerio.check().ok
        with pytest.raises(AuthenticationError, match="customerio rejected"):
            customerio.write(Operation.UPSERT_PROFILES, people(3000))
    assert len(customerio_server.requests_to("/api/v2/batch")) == 1


def test_bad_app_key_stops_all_workers(customerio_env, customerio_server):
    env = {**customerio_env, "THROUGHLINE_CUSTOMERIO_APP_API_KEY": "wrong-app-key-000", "THROUGHLINE_CUSTOMERIO_MAX_CONCURRENCY": "4"}
    with create("customerio", env) as customerio, pytest.raises(AuthenticationError):
        customerio.write(Operation.SEND_MESSAGES, mails(100))
    assert len(customerio_server.request_log) <= 4 and not customerio_server.messages
