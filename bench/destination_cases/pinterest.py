"""Pinterest: customer list members added as SHA-256 digests, 10,000 records a PATCH."""

import hashlib

import requests

from . import as_a_sync_hands_them_over

VENDOR = "pinterest"
RECORDS = 100_000
OPERATION = "add_audience_members (customer_lists PATCH ADD, 10,000 a call)"


def _token() -> str:
    from connectors.vendor_servers import PinterestServer
    return PinterestServer().access_token


def rows(count: int) -> list:
    """What a sync hands over: each member's key and fields, as read from the warehouse."""
    return [(f"p{i}", {"email": f"person{i}@example.com"}) for i in range(count)]


def ours(base_url: str, rows: list) -> int:
    from connectors import Operation, create
    from connectors.vendor_servers.pinterest import DEMO_AD_ACCOUNT, DEMO_LIST

    records = as_a_sync_hands_them_over(rows)
    # The published 400 requests a minute would pace both loops alike; the server runs unlimited.
    env = {"THROUGHLINE_PINTEREST_ACCESS_TOKEN": _token(), "THROUGHLINE_PINTEREST_BASE_URL": base_url,
           "THROUGHLINE_PINTEREST_AD_ACCOUNT_ID": DEMO_AD_ACCOUNT, "THROUGHLINE_PINTEREST_RATE_PER_SECOND": "100000"}
    with create("pinterest", env) as pinterest:
        return pinterest.write(Operation.ADD_AUDIENCE_MEMBERS, records, target=DEMO_LIST).counts()["accepted"]


def bare(base_url: str, rows: list) -> int:
    from connectors.vendor_servers.pinterest import DEMO_AD_ACCOUNT, DEMO_LIST

    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {_token()}"
    accepted = 0
    for start in range(0, len(rows), 10_000):
        batch = rows[start:start + 10_000]
        records = ",".join(hashlib.sha256(fields["email"].strip().lower().encode()).hexdigest() for _, fields in batch)
        response = session.patch(f"{base_url}/v5/ad_accounts/{DEMO_AD_ACCOUNT}/customer_lists/{DEMO_LIST}",
                                 json={"operation_type": "ADD", "records": records}, timeout=60)
        response.raise_for_status()
        accepted += len(batch)
    return accepted
