"""LinkedIn: DMP segment members added as SHA256_EMAIL, 5,000 elements a BATCH_CREATE."""

import hashlib

import requests

from . import as_a_sync_hands_them_over

VENDOR = "linkedin"
RECORDS = 50_000
OPERATION = "add_audience_members (dmpSegments users BATCH_CREATE, 5,000 a call)"


def _token() -> str:
    from connectors.vendor_servers import LinkedInServer
    return LinkedInServer().access_token


def rows(count: int) -> list:
    """What a sync hands over: each member's key and fields, as read from the warehouse."""
    return [(f"l{i}", {"email": f"person{i}@example.com"}) for i in range(count)]


def ours(base_url: str, rows: list) -> int:
    from connectors import Operation, create
    from connectors.vendor_servers.linkedin import DEMO_SEGMENT

    records = as_a_sync_hands_them_over(rows)
    # The published 500 requests a minute would pace both loops alike; the server runs unlimited.
    env = {"THROUGHLINE_LINKEDIN_ACCESS_TOKEN": _token(), "THROUGHLINE_LINKEDIN_BASE_URL": base_url,
           "THROUGHLINE_LINKEDIN_RATE_PER_SECOND": "100000"}
    with create("linkedin", env) as linkedin:
        return linkedin.write(Operation.ADD_AUDIENCE_MEMBERS, records, target=DEMO_SEGMENT).counts()["accepted"]


def bare(base_url: str, rows: list) -> int:
    from connectors.vendor_servers.linkedin import DEMO_SEGMENT

    session = requests.Session()
    session.headers.update({"Authorization": f"Bearer {_token()}", "LinkedIn-Version": "202611",
                            "X-Restli-Protocol-Version": "2.0.0", "X-RestLi-Method": "BATCH_CREATE"})
    accepted = 0
    for start in range(0, len(rows), 5_000):
        elements = [{"action": "ADD", "userIds": [{"idType": "SHA256_EMAIL", "idValue": hashlib.sha256(
            fields["email"].strip().lower().encode()).hexdigest()}]} for _, fields in rows[start:start + 5_000]]
        response = session.post(f"{base_url}/rest/dmpSegments/{DEMO_SEGMENT}/users", json={"elements": elements}, timeout=60)
        response.raise_for_status()
        accepted += sum(1 for element in response.json()["elements"] if element["status"] == 201)
    return accepted
