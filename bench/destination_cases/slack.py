"""Slack: one alert per chat.postMessage call."""

import requests

# Imported here, outside the timed call, as the bare loop's requests is.
from connectors import Operation, Record
from connectors.destinations.slack import SlackDestination

VENDOR = "slack"
RECORDS = 2_000
OPERATION = "send_messages (chat.postMessage, one a call)"


def _token() -> str:
    from connectors.vendor_servers import SlackServer
    return SlackServer().bot_token


def rows(count: int) -> list:
    """What a sync hands over: each alert's key and fields, as read from the warehouse."""
    return [(f"a{i}", {"subject": "Sales-ready lead", "text": f"lead {i}"}) for i in range(count)]


def ours(base_url: str, rows: list) -> int:
    from connectors.vendor_servers.slack import DEMO_CHANNEL

    records = [Record(key, fields) for key, fields in rows]
    # About one message a second per channel would pace both loops alike; the server runs unlimited.
    env = {"THROUGHLINE_SLACK_BOT_TOKEN": _token(), "THROUGHLINE_SLACK_CHANNEL": DEMO_CHANNEL,
           "THROUGHLINE_SLACK_API_URL": base_url + "/api", "THROUGHLINE_SLACK_RATE_PER_SECOND": "100000"}
    with SlackDestination.from_env(env) as slack:
        return slack.write(Operation.SEND_MESSAGES, records).counts()["accepted"]


def bare(base_url: str, rows: list) -> int:
    from connectors.vendor_servers.slack import DEMO_CHANNEL

    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {_token()}"
    accepted = 0
    for _, fields in rows:
        response = session.post(f"{base_url}/api/chat.postMessage", timeout=60,
                                json={"channel": DEMO_CHANNEL, "text": f"*{fields['subject']}*\n{fields['text']}"})
        accepted += bool(response.json()["ok"])
    return accepted
