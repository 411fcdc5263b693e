"""HubSpot: contacts upserted by email, 100 a call (CRM v3 batch upsert)."""

import requests

VENDOR = "hubspot"
RECORDS = 20_000
OPERATION = "upsert_profiles (contacts batch upsert, 100 a call)"


def _token() -> str:
    from connectors.vendor_servers import HubSpotServer
    return HubSpotServer().access_token


def ours(base_url: str, count: int) -> int:
    from connectors import Operation, Record, create

    records = [Record(f"c{i}", {"email": f"person{i}@example.com", "first_name": "Grace"}) for i in range(count)]
    # The published 100 requests per 10 s would pace both loops alike; the server runs unlimited.
    env = {"THROUGHLINE_HUBSPOT_ACCESS_TOKEN": _token(), "THROUGHLINE_HUBSPOT_BASE_URL": base_url,
           "THROUGHLINE_HUBSPOT_RATE_PER_SECOND": "100000"}
    with create("hubspot", env) as hubspot:
        return hubspot.write(Operation.UPSERT_PROFILES, records).counts()["accepted"]


def bare(base_url: str, count: int) -> int:
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {_token()}"
    accepted = 0
    for start in range(0, count, 100):
        inputs = [{"idProperty": "email", "id": f"person{i}@example.com", "objectWriteTraceId": f"c{i}",
                   "properties": {"email": f"person{i}@example.com", "firstname": "Grace"}}
                  for i in range(start, min(start + 100, count))]
        response = session.post(f"{base_url}/crm/v3/objects/contacts/batch/upsert", json={"inputs": inputs}, timeout=60)
        response.raise_for_status()
        accepted += len(response.json()["results"])
    return accepted
