"""Snap Audience Match: segment members added by hashed email, 100,000 identifiers a call."""

import hashlib

import requests

from . import as_a_sync_hands_them_over

VENDOR = "snap"
RECORDS = 200_000
OPERATION = "add_audience_members (EMAIL_SHA256, 100,000 a call)"


def _setup() -> tuple[str, str]:
    from connectors.vendor_servers import SnapServer
    from connectors.vendor_servers.snap import DEMO_SEGMENT
    return SnapServer().access_token, DEMO_SEGMENT


def rows(count: int) -> list:
    """What a sync hands over: each member's key and fields, as read from the warehouse."""
    return [(f"s{i}", {"email": f"Person{i}@example.com"}) for i in range(count)]


def ours(base_url: str, rows: list) -> int:
    from connectors import Operation, create

    token, segment = _setup()
    records = as_a_sync_hands_them_over(rows)
    # The published 10 requests/s would pace both loops alike; the server runs unlimited.
    env = {"THROUGHLINE_SNAP_ACCESS_TOKEN": token, "THROUGHLINE_SNAP_BASE_URL": base_url,
           "THROUGHLINE_SNAP_RATE_PER_SECOND": "100000"}
    with create("snap", env) as snap:
        return snap.write(Operation.ADD_AUDIENCE_MEMBERS, records, target=segment).counts()["accepted"]


def bare(base_url: str, rows: list) -> int:
    token, segment = _setup()
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {token}"
    accepted = 0
    for start in range(0, len(rows), 100_000):
        data = [[hashlib.sha256(fields["email"].strip().lower().encode()).hexdigest()]
                for _, fields in rows[start:start + 100_000]]
        body = {"users": [{"schema": ["EMAIL_SHA256"], "data": data}]}
        response = session.post(f"{base_url}/v1/segments/{segment}/users", json=body, timeout=120)
        response.raise_for_status()
        accepted += response.json()["users"][0]["user"]["number_uploaded_users"]
    return accepted
