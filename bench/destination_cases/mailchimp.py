"""Mailchimp: audience members batch-subscribed, 500 a call (Marketing API 3.0)."""

import requests

from . import as_a_sync_hands_them_over

VENDOR = "mailchimp"
RECORDS = 20_000
OPERATION = "upsert_profiles (batch subscribe, 500 a call)"


def _list() -> str:
    from connectors.vendor_servers.mailchimp import DEMO_LIST
    return DEMO_LIST


def _key() -> str:
    from connectors.vendor_servers import MailchimpServer
    return MailchimpServer().api_key


def rows(count: int) -> list:
    """What a sync hands over: each member's key and fields, as read from the warehouse."""
    return [(f"m{i}", {"email": f"person{i}@example.com", "first_name": "Grace", "status": "subscribed"})
            for i in range(count)]


def ours(base_url: str, rows: list) -> int:
    from connectors import Operation, create

    records = as_a_sync_hands_them_over(rows)
    env = {"THROUGHLINE_MAILCHIMP_API_KEY": _key(), "THROUGHLINE_MAILCHIMP_BASE_URL": base_url,
           "THROUGHLINE_MAILCHIMP_LIST_ID": _list()}
    with create("mailchimp", env) as mailchimp:
        return mailchimp.write(Operation.UPSERT_PROFILES, records).counts()["accepted"]


def bare(base_url: str, rows: list) -> int:
    session = requests.Session()
    session.auth = ("bench", _key())
    accepted = 0
    for start in range(0, len(rows), 500):
        members = [{"email_address": fields["email"], "status": fields["status"],
                    "merge_fields": {"FNAME": fields["first_name"]}} for _, fields in rows[start:start + 500]]
        response = session.post(f"{base_url}/3.0/lists/{_list()}", json={"members": members, "update_existing": True},
                                timeout=60)
        response.raise_for_status()
        body = response.json()
        accepted += len(body["new_members"]) + len(body["updated_members"])
    return accepted
