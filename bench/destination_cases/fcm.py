"""FCM HTTP v1: one push per request (messages:send), OAuth2 token from a service-account JWT."""

import json
from concurrent.futures import ThreadPoolExecutor

import requests

VENDOR = "fcm"
RECORDS = 5_000
OPERATION = "send_messages (one message per request, 8 in flight)"
CONCURRENCY = 8


def _account(base_url: str) -> dict:
    return requests.get(f"{base_url}/demo/service-account.json", timeout=10).json()


def _message(i: int) -> dict:
    return {"token": f"fGcmDeviceToken_{i:06d}:APA91b", "notification": {"title": "Back in stock", "body": "Your size"},
            "data": {"sku": "A-1"}}


def rows(count: int) -> list:
    """What a sync hands over: each message's key and fields, as read from the warehouse."""
    return [(f"p{i}", {"token": m["token"], **m["notification"], "data": m["data"]})
            for i, m in enumerate(map(_message, range(count)))]


def ours(base_url: str, rows: list) -> int:
    from connectors import Operation, Record, create

    records = [Record(key, fields) for key, fields in rows]
    env = {"THROUGHLINE_FCM_SERVICE_ACCOUNT": json.dumps(_account(base_url)), "THROUGHLINE_FCM_BASE_URL": base_url,
           "THROUGHLINE_FCM_RATE_PER_SECOND": "100000"}
    with create("fcm", env) as fcm:
        return fcm.write(Operation.SEND_MESSAGES, records).counts()["accepted"]


def bare(base_url: str, rows: list) -> int:
    import time

    import jwt

    account = _account(base_url)
    now = int(time.time())
    assertion = jwt.encode({"iss": account["client_email"], "scope": "https://www.googleapis.com/auth/firebase.messaging",
                            "aud": account["token_uri"], "iat": now, "exp": now + 3600}, account["private_key"], "RS256")
    token = requests.post(account["token_uri"], data={"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer",
                                                      "assertion": assertion}, timeout=10).json()["access_token"]
    session = requests.Session()
    session.mount("http://", requests.adapters.HTTPAdapter(pool_maxsize=CONCURRENCY))
    headers = {"Authorization": f"Bearer {token}"}
    url = f"{base_url}/v1/projects/{account['project_id']}/messages:send"

    def send(row: tuple) -> int:
        fields = row[1]
        message = {"token": fields["token"], "notification": {"title": fields["title"], "body": fields["body"]},
                   "data": fields["data"]}
        response = session.post(url, json={"message": message}, headers=headers, timeout=60)
        response.raise_for_status()
        return 1

    with ThreadPoolExecutor(CONCURRENCY) as pool:
        return sum(pool.map(send, rows))
