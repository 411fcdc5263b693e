"""TikTok custom audience: members appended from a customer file of hashed emails, 100,000 lines a file."""

import hashlib

import requests

from . import as_a_sync_hands_them_over

VENDOR = "tiktok"
RECORDS = 200_000
OPERATION = "add_audience_members (file upload + update APPEND, 100,000 a file)"
API = "/open_api/v1.3/dmp/custom_audience"


def _setup() -> tuple[str, str, str]:
    from connectors.vendor_servers import TikTokServer
    from connectors.vendor_servers.tiktok import ADVERTISER_ID, DEMO_AUDIENCE
    return TikTokServer().access_token, ADVERTISER_ID, DEMO_AUDIENCE


def rows(count: int) -> list:
    """What a sync hands over: each member's key and fields, as read from the warehouse."""
    return [(f"t{i}", {"email": f"Person{i}@example.com"}) for i in range(count)]


def ours(base_url: str, rows: list) -> int:
    from connectors import Operation, create

    token, advertiser, audience = _setup()
    records = as_a_sync_hands_them_over(rows)
    env = {"THROUGHLINE_TIKTOK_ACCESS_TOKEN": token, "THROUGHLINE_TIKTOK_BASE_URL": base_url,
           "THROUGHLINE_TIKTOK_ADVERTISER_ID": advertiser}
    with create("tiktok", env) as tiktok:
        return tiktok.write(Operation.ADD_AUDIENCE_MEMBERS, records, target=audience).counts()["accepted"]


def bare(base_url: str, rows: list) -> int:
    token, advertiser, audience = _setup()
    session = requests.Session()
    session.headers["Access-Token"] = token
    accepted = 0
    for start in range(0, len(rows), 100_000):
        lines = [hashlib.sha256(fields["email"].strip().lower().encode()).hexdigest()
                 for _, fields in rows[start:start + 100_000]]
        content = "\n".join(lines).encode()
        form = {"advertiser_id": advertiser, "calculate_type": "EMAIL_SHA256",
                "file_signature": hashlib.md5(content).hexdigest()}
        upload = session.post(f"{base_url}{API}/file/upload/", data=form, timeout=120,
                              files={"file": ("audience.txt", content, "text/plain")}).json()
        body = {"advertiser_id": advertiser, "custom_audience_id": audience, "action": "APPEND",
                "file_paths": [upload["data"]["file_path"]]}
        if session.post(f"{base_url}{API}/update/", json=body, timeout=120).json()["code"] == 0:
            accepted += len(lines)
    return accepted
