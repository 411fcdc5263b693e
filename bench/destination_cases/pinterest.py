"""Pinterest: customer list members added as SHA-256 digests, 10,000 records a PATCH."""

import hashlib

import requests

VENDOR = "pinterest"
RECORDS = 100_000
OPERATION = "add_audience_members (customer_lists PATCH ADD, 10,000 a call)"


def _token() -> str:
    from connectors.vendor_servers import PinterestServer
    return PinterestServer().access_token


def ours(base_url: str, count: int) -> int:
    from connectors import Operation, Record, create
    from connectors.vendor_servers.pinterest import DEMO_AD_ACCOUNT, DEMO_LIST

    records = [Record(f"p{i}", {"email": f"person{i}@example.com"}) for i in range(count)]
    # The published 400 requests a minute would pace both loops alike; the server runs unlimited.
    env = {"THROUGHLINE_PINTEREST_ACCESS_TOKEN": _token(), "THROUGHLINE_PINTEREST_BASE_URL": base_url,
           "THROUGHLINE_PINTEREST_AD_ACCOUNT_ID": DEMO_AD_ACCOUNT, "THROUGHLINE_PINTEREST_RATE_PER_SECOND": "100000"}
    with create("pinterest", env) as pinterest:
        return pinterest.write(Operation.ADD_AUDIENCE_MEMBERS, records, target=DEMO_LIST).counts()["accepted"]


def bare(base_url: str, count: int) -> int:
    from connectors.vendor_servers.pinterest import DEMO_AD_ACCOUNT, DEMO_LIST

    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {_token()}"
    accepted = 0
    for start in range(0, count, 10_000):
        batch = range(start, min(start + 10_000, count))
        records = ",".join(hashlib.sha256(f"person{i}@example.com".strip().lower().encode()).hexdigest() for i in batch)
        response = session.patch(f"{base_url}/v5/ad_accounts/{DEMO_AD_ACCOUNT}/customer_lists/{DEMO_LIST}",
                                 json={"operation_type": "ADD", "records": records}, timeout=60)
        response.raise_for_status()
        accepted += len(batch)
    return accepted
