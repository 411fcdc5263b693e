"""Google Ads Customer Match contract tests against the local Google Ads API server."""

import pytest

from connectors import AuthenticationError, Operation, Record, RecordStatus, create
from connectors.pii import Platform, hash_identifier
from connectors.vendor_servers import Fault


def people(count, start=0):
    return [Record(f"g-{i}", {"email": f"Person.{i}@example.com"}) for i in range(start, start + count)]


def email_hash(i):
    return hash_identifier("email", f"person.{i}@example.com", Platform.GOOGLE)


def test_check_accepts_the_credentials(google):
    assert google.check().ok


def test_job_is_created_filled_and_run(google, google_server):
    user_list = google_server.create_user_list()
    records = [
        Record("gmail", {"email": "Cloudy.SanFrancisco+shopping@gmail.com", "phone": "(800)555-0100"}),
        Record("addr", {"first_name": "Ada", "last_name": "Lovelace", "country_code": "gb", "postal_code": "W1"}),
        *people(2),
    ]
    result = google.write(Operation.ADD_AUDIENCE_MEMBERS, records, target=user_list)
    assert result.counts()["accepted"] == 4
    (job_name, job), = google_server.jobs.items()
    assert job["status"] == "SUCCESS" and result.results[0].vendor_id == job_name
    members = google_server.members(user_list)
    # Google's gmail rule: dots and +tag dropped before hashing
    assert hash_identifier("email", "cloudysanfrancisco@gmail.com", Platform.GOOGLE) in members
    assert email_hash(1) in members and len(members) == 4
    assert [r.path.rsplit(":", 1)[-1] for r in google_server.request_log] == ["create", "addOperations", "run"]


def test_operations_split_at_100000_identifiers_per_request(google_env, google_server):
    user_list = google_server.create_user_list()
    # The server validates 100,000 operations against its schema: allow it time.
    with create("google_ads", {**google_env, "THROUGHLINE_GOOGLE_ADS_HTTP_READ_TIMEOUT": "120"}) as google:
        result = google.write(Operation.ADD_AUDIENCE_MEMBERS, people(100_001), target=user_list)
    assert result.counts()["accepted"] == 100_001
    adds = [r for r in google_server.request_log if r.path.endswith(":addOperations")]
    assert len(adds) == 2 and all(r.status == 200 for r in adds)
    assert len(google_server.jobs) == 1 and len(google_server.members(user_list)) == 100_001


def test_jobs_split_at_job_max_records(google_env, google_server):
    user_list = google_server.create_user_list()
    env = {**google_env, "THROUGHLINE_GOOGLE_ADS_JOB_MAX_RECORDS": "50",
           "THROUGHLINE_GOOGLE_ADS_REQUEST_MAX_IDENTIFIERS": "20"}
    with create("google_ads", env) as google:
        result = google.write(Operation.ADD_AUDIENCE_MEMBERS, (r for r in people(120)), target=user_list)
    assert result.counts()["accepted"] == 120
    assert len(google_server.jobs) == 3 and sum(google_server.runs.values()) == 3
    assert len([r for r in google_server.request_log if r.path.endswith(":addOperations")]) == 7  # 3 + 3 + 1


def test_remove_members(google, google_server):
    user_list = google_server.create_user_list()
    google.write(Operation.ADD_AUDIENCE_MEMBERS, people(4), target=user_list)
    result = google.write(Operation.REMOVE_AUDIENCE_MEMBERS, people(2), target=user_list)
    assert result.counts()["accepted"] == 2
    assert google_server.members(user_list) == {email_hash(2), email_hash(3)}


def test_partial_failure_rejects_the_named_operation(google, google_server):
    user_list = google_server.create_user_list()
    google_server.reject_values = {email_hash(1): ("INVALID_USER_LIST_TYPE", "Type of the user list is not applicable.")}
    records = [*people(3), Record("none", {"phone": "call me"})]
    result = google.write(Operation.ADD_AUDIENCE_MEMBERS, records, target=user_list)
    by_key = {r.key: r for r in result.results}
    assert (by_key["g-1"].status, by_key["g-1"].vendor_code) == (RecordStatus.REJECTED, "INVALID_USER_LIST_TYPE")
    assert by_key["g-1"].reason == "Type of the user list is not applicable."
    assert by_key["none"].status is RecordStatus.REJECTED
    assert google_server.members(user_list) == {email_hash(0), email_hash(2)}


def test_unknown_user_list_is_rejected_and_not_retried(google, google_server):
    result = google.write(Operation.ADD_AUDIENCE_MEMBERS, people(2), target="999")
    assert result.counts()["rejected"] == 2 and result.results[0].vendor_code == "INVALID_USER_LIST_ID"
    assert len(google_server.request_log) == 1


def test_resource_exhausted_honours_retry_delay(google, google_server):
    user_list = google_server.create_user_list()
    google_server.inject(Fault.THROTTLE, retry_after=1)
    result = google.write(Operation.ADD_AUDIENCE_MEMBERS, people(2), target=user_list)
    assert result.counts()["accepted"] == 2 and result.throttled_seconds >= 1


def test_resource_exhausted_without_delay_backs_off(google, google_server):
    user_list = google_server.create_user_list()
    google_server.inject(Fault.THROTTLE, count=3, retry_after=None)
    result = google.write(Operation.ADD_AUDIENCE_MEMBERS, people(2), target=user_list)
    assert result.counts()["accepted"] == 2 and result.retries == 3


@pytest.mark.parametrize("status", [500, 503])
def test_server_errors_are_retried(google, google_server, status):
    user_list = google_server.create_user_list()
    google_server.inject(Fault.STATUS, count=2, status=status)
    result = google.write(Operation.ADD_AUDIENCE_MEMBERS, people(2), target=user_list)
    assert result.counts()["accepted"] == 2 and result.retries == 2


def test_lost_run_answer_is_settled_by_reading_the_job(google_env, google_server):
    user_list = google_server.create_user_list()
    google_server.inject(Fault.RESET, process_first=True, path_prefix="/v26/customers/1234567890/offlineUserDataJobs/")
    # the reset hits addOperations first (idempotent: resent), then a second one hits run
    google_server.inject(Fault.RESET, process_first=True, path_prefix="/v26/customers/1234567890/offlineUserDataJobs/")
    with create("google_ads", google_env) as google:
        result = google.write(Operation.ADD_AUDIENCE_MEMBERS, people(3), target=user_list)
    assert result.counts()["accepted"] == 3
    assert list(google_server.runs.values()) == [1]  # never run twice
    assert len(google_server.members(user_list)) == 3


def test_bad_access_token_is_one_clear_error(google_env, google_server):
    user_list = google_server.create_user_list()
    env = {**google_env, "THROUGHLINE_GOOGLE_ADS_ACCESS_TOKEN": "ya29.wrong-token-000"}
    with create("google_ads", env) as google:
        assert not google.check().ok
        with pytest.raises(AuthenticationError, match="google_ads rejected the configured credentials"):
            google.write(Operation.ADD_AUDIENCE_MEMBERS, people(10), target=user_list)
    assert len(google_server.request_log) == 2  # the check and the job create


def test_bad_developer_token_stops_too(google_env, google_server):
    env = {**google_env, "THROUGHLINE_GOOGLE_ADS_DEVELOPER_TOKEN": "not-approved-token"}
    with create("google_ads", env) as google, pytest.raises(AuthenticationError):
        google.write(Operation.ADD_AUDIENCE_MEMBERS, people(2), target=google_server.create_user_list())
