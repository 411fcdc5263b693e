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


def ours(base_url: str, count: int) -> int:
    from connectors import Operation, Record, create

    records = [Record(f"p{i}", {"token": m["token"], **m["notification"], "data": m["data"]})
               for i, m in enumerate(map(_message, range(count)))]
    env = {"THROUGHLINE_FCM_SERVICE_ACCOUNT": json.dumps(_account(base_url)), "THROUGHLINE_FCM_BASE_URL": base_url,
           "THROUGHLINE_FCM_RATE_PER_SECOND": "100000"}
    with create("fcm", env) as fcm:
        return fcm.write(Operation.SEND_MESSAGES, records).counts()["accepted"]


def bare(base_url: str, count: int) -> int:
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

    def send(i: int) -> int:
        response = session.post(url, json={"message": _message(i)}, headers=headers, timeout=60)
        response.raise_for_status()
        return 1

    with ThreadPoolExecutor(CONCURRENCY) as pool:
        return sum(pool.map(send, range(count)))
