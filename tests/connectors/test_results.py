"""WriteResult over batches answered whole (SameOutcome) and record by record."""

import pytest

from connectors import Operation, Record, RecordResult, RecordStatus, create
from connectors.base import SameOutcome
from connectors.vendor_servers import PinterestServer
from connectors.vendor_servers.pinterest import DEMO_AD_ACCOUNT, DEMO_LIST


def test_a_batch_answered_whole_reads_as_one_result_per_record():
    outcome = RecordResult.for_keys(["a", "b", "c"], RecordStatus.ACCEPTED, vendor_id="job")
    assert isinstance(outcome, SameOutcome) and len(outcome) == 3
    assert list(outcome) == [RecordResult.accepted(key, "job") for key in "abc"]
    assert outcome[-1] == RecordResult.accepted("c", "job") and outcome[1:] == list(outcome)[1:]


@pytest.fixture
def pinterest():
    with PinterestServer(rate_limits=()) as server:
        env = {"ACCESS_TOKEN": server.access_token, "BASE_URL": server.base_url, "AD_ACCOUNT_ID": DEMO_AD_ACCOUNT,
               "RATE_PER_SECOND": "2000"}
        with create("pinterest", {f"THROUGHLINE_PINTEREST_{k}": v for k, v in env.items()}) as destination:
            yield destination


def test_counts_results_and_samples_agree_across_batch_kinds(pinterest):
    # 10,000 a request: the first batch is taken whole, the second has two records without an email
    rows = [Record(f"p{i}", {"email": None if i in (10_003, 10_007) else f"person{i}@example.com"})
            for i in range(10_010)]
    result = pinterest.write(Operation.ADD_AUDIENCE_MEMBERS, rows, target=DEMO_LIST)
    assert isinstance(result.parts[0], SameOutcome) and not isinstance(result.parts[1], SameOutcome)
    expected = {"accepted": 10_008, "rejected": 2, "retryable": 0, "unknown": 0}
    assert result.counts() == expected
    assert [r.key for r in result.with_status(RecordStatus.REJECTED)] == ["p10003", "p10007"]
    assert [r.key for r in result.results] == [r.key for r in rows]
    assert result.results[0] == RecordResult.accepted("p0", DEMO_LIST)
    assert result.summary()["rejected_sample"][0]["key"] == "p10003"
    assert result.counts() == expected  # the same once the parts are joined into one list
