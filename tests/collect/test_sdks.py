"""The SDKs people already use, unmodified, pointed at `throughline collect`: Segment's
Python and Node SDKs and RudderStack's Python SDK each send identify, track, page and alias
calls in batches of their own making, and every call lands in raw.events exactly once."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import uuid
from pathlib import Path

from orchestration.warehouse import raw_layer
from tests.collect.conftest import WRITE_KEY, load_collected

NODE_SDK = Path(__file__).parent / "node_sdk"


def calls(source: str, people: int = 12) -> list[dict]:
    """Calls as the Node SDK takes them (camelCase); `python_kwargs` turns them into the
    Python SDKs' keyword arguments."""
    made = []
    for n in range(people):
        user, anonymous = f"{source}-user-{n}", f"{source}-anon-{n}"
        made += [
            {"type": "page", "anonymousId": anonymous, "name": "Pricing", "properties": {"path": "/pricing"}},
            {"type": "identify", "userId": user, "anonymousId": anonymous, "traits": {"email": f"{user}@example.com"}},
            {"type": "alias", "userId": user, "previousId": anonymous},
            {"type": "track", "userId": user, "event": "cart_added", "properties": {"product_id": f"p-{n}", "price": 19.5}},
        ]
    for call in made:
        call["messageId"] = f"{source}-{uuid.uuid4()}"
    return made


PYTHON_NAMES = {"userId": "user_id", "anonymousId": "anonymous_id", "previousId": "previous_id", "messageId": "message_id"}


def python_kwargs(call: dict) -> dict:
    return {PYTHON_NAMES.get(key, key): value for key, value in call.items() if key != "type"}


def stored(prefix: str) -> list[tuple]:
    with raw_layer() as con:
        return con.execute("select message_id, type, user_id, anonymous_id, previous_id, event, name from raw.events "
                           "where message_id like ? order by message_id", [prefix + "-%"]).fetchall()


def expected(sent: list[dict]) -> list[tuple]:
    return sorted((c["messageId"], c["type"], c.get("userId"), c.get("anonymousId"), c.get("previousId"), c.get("event"),
                   c.get("name")) for c in sent)


def send_with_python_sdk(client, sent: list[dict]) -> None:
    for call in sent:
        getattr(client, call["type"])(**python_kwargs(call))
    client.flush()
    client.join()


def test_segment_python_sdk(collector):
    from segment.analytics import Client

    errors = []
    sent = calls("segpy")
    client = Client(WRITE_KEY, host=collector.url, upload_size=10, on_error=lambda error, batch: errors.append(error))
    send_with_python_sdk(client, sent)
    assert errors == []
    counts = load_collected(collector)
    assert stored("segpy") == expected(sent)
    assert counts["rejected"] == 0 and counts["read"] == len(sent)


def test_rudderstack_python_sdk_gzips_its_batches(collector):
    from rudderstack.analytics.client import Client

    errors = []
    sent = calls("rudder")
    client = Client(WRITE_KEY, host=collector.url, upload_size=7, gzip=True, on_error=lambda error, batch: errors.append(error))
    send_with_python_sdk(client, sent)
    assert errors == []
    load_collected(collector)
    assert stored("rudder") == expected(sent)


def node_sdk() -> Path:
    """Segment's Node SDK, installed from the npm registry at the version package-lock.json pins."""
    assert shutil.which("node") and shutil.which("npm"), "Node.js is missing: `make test` installs Debian's nodejs and npm"
    if not (NODE_SDK / "node_modules" / "@segment" / "analytics-node").is_dir():
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=NODE_SDK, check=True, capture_output=True, timeout=300)
    return NODE_SDK


def test_segment_node_sdk(collector):
    folder = node_sdk()
    sent = calls("segnode")
    env = {**os.environ, "COLLECT_URL": collector.url, "COLLECT_WRITE_KEY": WRITE_KEY, "COLLECT_BATCH": "9"}
    result = subprocess.run(["node", "send.mjs"], cwd=folder, input=json.dumps(sent), env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report == {"delivered": len(sent), "errors": []}
    load_collected(collector)
    assert stored("segnode") == expected(sent)


def test_an_sdk_with_a_wrong_key_is_told_and_nothing_lands(collector):
    from segment.analytics import Client

    errors = []
    client = Client("not-the-key", host=collector.url, on_error=lambda error, batch: errors.append(error))
    send_with_python_sdk(client, calls("wrongkey", people=1))
    assert len(errors) == 1 and getattr(errors[0], "status", None) == 401
    load_collected(collector)
    assert stored("wrongkey") == []
