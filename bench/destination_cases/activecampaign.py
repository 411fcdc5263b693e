"""ActiveCampaign: contacts by bulk import, 250 a call."""

import requests

# Imported here, outside the timed call, as the bare loop's requests is.
from connectors import Operation
from connectors.destinations.activecampaign import ActiveCampaignDestination
from . import as_a_sync_hands_them_over

VENDOR = "activecampaign"
RECORDS = 20_000
OPERATION = "upsert_profiles (bulk_import, 250 a call)"


def _token() -> str:
    from connectors.vendor_servers import ActiveCampaignServer
    return ActiveCampaignServer().api_token


def rows(count: int) -> list:
    """What a sync hands over: each contact's key and fields, as read from the warehouse."""
    return [(f"c{i}", {"email": f"person{i}@example.com", "first_name": "Grace"}) for i in range(count)]


def ours(base_url: str, rows: list) -> int:

    records = as_a_sync_hands_them_over(rows)
    # The published 5 requests a second would pace both loops alike; the server runs unlimited.
    env = {"THROUGHLINE_ACTIVECAMPAIGN_API_TOKEN": _token(), "THROUGHLINE_ACTIVECAMPAIGN_BASE_URL": base_url,
           "THROUGHLINE_ACTIVECAMPAIGN_RATE_PER_SECOND": "100000"}
    with ActiveCampaignDestination.from_env(env) as activecampaign:
        return activecampaign.write(Operation.UPSERT_PROFILES, records).counts()["accepted"]


def bare(base_url: str, rows: list) -> int:
    session = requests.Session()
    session.headers["Api-Token"] = _token()
    accepted = 0
    for start in range(0, len(rows), 250):
        contacts = [{"email": fields["email"], "first_name": fields["first_name"]} for _, fields in rows[start:start + 250]]
        response = session.post(f"{base_url}/api/3/import/bulk_import", json={"contacts": contacts}, timeout=60)
        response.raise_for_status()
        accepted += response.json()["queued_contacts"]
    return accepted
