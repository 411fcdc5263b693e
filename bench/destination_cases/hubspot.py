"""HubSpot: contacts upserted by email, 100 a call (CRM v3 batch upsert)."""

import requests

from . import as_a_sync_hands_them_over

VENDOR = "hubspot"
RECORDS = 20_000
OPERATION = "upsert_profiles (contacts batch upsert, 100 a call)"


def _token() -> str:
    from connectors.vendor_servers import HubSpotServer
    return HubSpotServer().access_token


def rows(count: int) -> list:
    """What a sync hands over: each contact's key and fields, as read from the warehouse."""
    return [(f"c{i}", {"email": f"person{i}@example.com", "first_name": "Grace"}) for i in range(count)]


def ours(base_url: str, rows: list) -> int:
    from connectors import Operation, create

    records = as_a_sync_hands_them_over(rows)
    # The published 100 requests per 10 s would pace both loops alike; the server runs unlimited.
    env = {"THROUGHLINE_HUBSPOT_ACCESS_TOKEN": _token(), "THROUGHLINE_HUBSPOT_BASE_URL": base_url,
           "THROUGHLINE_HUBSPOT_RATE_PER_SECOND": "100000"}
    with create("hubspot", env) as hubspot:
        return hubspot.write(Operation.UPSERT_PROFILES, records).counts()["accepted"]


def bare(base_url: str, rows: list) -> int:
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {_token()}"
    accepted = 0
    for start in range(0, len(rows), 100):
        inputs = [{"idProperty": "email", "id": fields["email"], "objectWriteTraceId": key,
                   "properties": {"email": fields["email"], "firstname": fields["first_name"]}}
                  for key, fields in rows[start:start + 100]]
        response = session.post(f"{base_url}/crm/v3/objects/contacts/batch/upsert", json={"inputs": inputs}, timeout=60)
        response.raise_for_status()
        accepted += len(response.json()["results"])
    return accepted
