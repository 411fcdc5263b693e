"""ActiveCampaign: contacts by bulk import, 250 a call."""

import requests

# Imported here, outside the timed call, as the bare loop's requests is.
from connectors import Operation, Record
from connectors.destinations.activecampaign import ActiveCampaignDestination

VENDOR = "activecampaign"
RECORDS = 20_000
OPERATION = "upsert_profiles (bulk_import, 250 a call)"


def _token() -> str:
    from connectors.vendor_servers import ActiveCampaignServer
    return ActiveCampaignServer().api_token


def ours(base_url: str, count: int) -> int:

    records = [Record(f"c{i}", {"email": f"person{i}@example.com", "first_name": "Grace"}) for i in range(count)]
    # The published 5 requests a second would pace both loops alike; the server runs unlimited.
    env = {"THROUGHLINE_ACTIVECAMPAIGN_API_TOKEN": _token(), "THROUGHLINE_ACTIVECAMPAIGN_BASE_URL": base_url,
           "THROUGHLINE_ACTIVECAMPAIGN_RATE_PER_SECOND": "100000"}
    with ActiveCampaignDestination.from_env(env) as activecampaign:
        return activecampaign.write(Operation.UPSERT_PROFILES, records).counts()["accepted"]


def bare(base_url: str, count: int) -> int:
    session = requests.Session()
    session.headers["Api-Token"] = _token()
    accepted = 0
    for start in range(0, count, 250):
        contacts = [{"email": f"person{i}@example.com", "first_name": "Grace"}
                    for i in range(start, min(start + 250, count))]
        response = session.post(f"{base_url}/api/3/import/bulk_import", json={"contacts": contacts}, timeout=60)
        response.raise_for_status()
        accepted += response.json()["queued_contacts"]
    return accepted
