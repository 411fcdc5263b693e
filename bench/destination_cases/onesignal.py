"""OneSignal: push to External IDs, one notification per 20,000 recipients with the same content."""

import uuid

import requests

VENDOR = "onesignal"
RECORDS = 100_000
OPERATION = "send_messages (one notification per 20,000 external ids)"


def _server():
    from connectors.vendor_servers import OneSignalServer
    return OneSignalServer()


def rows(count: int) -> list:
    """What a sync hands over: each message's key and fields, as read from the warehouse."""
    return [(f"p{i}", {"external_id": f"cus_{i}", "title": "Back in stock", "body": "Your size"}) for i in range(count)]


def ours(base_url: str, rows: list) -> int:
    from connectors import Operation, Record, create

    server = _server()
    records = [Record(key, fields) for key, fields in rows]
    env = {"THROUGHLINE_ONESIGNAL_APP_ID": server.app_id, "THROUGHLINE_ONESIGNAL_API_KEY": server.api_key,
           "THROUGHLINE_ONESIGNAL_BASE_URL": base_url, "THROUGHLINE_ONESIGNAL_RATE_PER_SECOND": "100000"}
    with create("onesignal", env) as onesignal:
        return onesignal.write(Operation.SEND_MESSAGES, records).counts()["accepted"]


def bare(base_url: str, rows: list) -> int:
    server = _server()
    session = requests.Session()
    session.headers["Authorization"] = f"Key {server.api_key}"
    accepted = 0
    for start in range(0, len(rows), 20_000):
        ids = [fields["external_id"] for _, fields in rows[start:start + 20_000]]
        body = {"app_id": server.app_id, "include_aliases": {"external_id": ids}, "target_channel": "push",
                "headings": {"en": "Back in stock"}, "contents": {"en": "Your size"}, "idempotency_key": str(uuid.uuid4())}
        response = session.post(f"{base_url}/notifications", json=body, timeout=60)
        response.raise_for_status()
        accepted += len(ids)
    return accepted
