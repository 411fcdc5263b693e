"""The local vendor servers as destinations, for the demo and the tests.

`local_destinations()` starts one server per vendor, creates the lists, audiences and
campaigns the starter syncs name, and returns the environment that points every
connector (and every sync's target) at them, exactly as production points them at the
real APIs.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from typing import Any

from connectors.vendor_servers import SERVERS
from connectors.vendor_servers import linkedin, pinterest, snap, tiktok
from connectors.vendor_servers.activecampaign import DEMO_LIST as ACTIVECAMPAIGN_LIST
from connectors.vendor_servers.meta import DEMO_AUDIENCE

# Quick retries and no client pacing: a local server answers in microseconds.
FAST_HTTP = {"HTTP_BACKOFF_BASE": "0.01", "HTTP_BACKOFF_MAX": "0.05", "HTTP_READ_TIMEOUT": "5", "HTTP_MAX_ATTEMPTS": "4",
             "RATE_PER_SECOND": "2000"}
DEMO_LIST = "throughline-champions"
DEMO_PUSH_CAMPAIGN = "demo-push-campaign"


@dataclass
class LocalDestinations:
    servers: dict[str, Any] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)

    def requests(self) -> int:
        """Requests every server has seen (preview must leave this at zero)."""
        return sum(len(getattr(s, "request_log", [])) for s in self.servers.values())


def _settings(vendor: str, server: Any) -> dict[str, str]:
    url = server.base_url
    if vendor == "meta":
        return {"ACCESS_TOKEN": server.access_token, "BASE_URL": url}
    if vendor == "sendgrid":
        return {"API_KEY": server.api_key, "BASE_URL": url, "FROM_EMAIL": "journeys@fernway.example"}
    if vendor == "twilio":
        return {"ACCOUNT_SID": server.account_sid, "AUTH_TOKEN": server.auth_token, "FROM": "+15005550006", "BASE_URL": url}
    if vendor == "braze":
        return {"API_KEY": server.api_key, "REST_ENDPOINT": url}
    if vendor == "webhook":
        return {"URL": url + "/throughline", "SECRET": server.secret}
    if vendor == "hubspot":
        return {"ACCESS_TOKEN": server.access_token, "BASE_URL": url}
    if vendor == "fcm":
        return {"SERVICE_ACCOUNT": json.dumps(server.service_account), "BASE_URL": url}
    if vendor == "mailchimp":
        return {"API_KEY": server.api_key, "BASE_URL": url}
    if vendor == "onesignal":
        return {"APP_ID": server.app_id, "API_KEY": server.api_key, "BASE_URL": url}
    if vendor == "activecampaign":
        return {"API_TOKEN": server.api_token, "BASE_URL": url, "ACCOUNT_ID": server.account_id,
                "EVENT_KEY": server.event_key, "EVENTS_URL": url + "/event"}
    if vendor == "slack":
        return {"WEBHOOK_URL": server.webhook_url}
    if vendor in ("snap", "linkedin"):
        return {"ACCESS_TOKEN": server.access_token, "BASE_URL": url}
    if vendor == "tiktok":
        return {"ACCESS_TOKEN": server.access_token, "BASE_URL": url, "ADVERTISER_ID": tiktok.ADVERTISER_ID}
    if vendor == "pinterest":
        return {"ACCESS_TOKEN": server.access_token, "BASE_URL": url, "AD_ACCOUNT_ID": pinterest.DEMO_AD_ACCOUNT}
    raise ValueError(f"no local settings for {vendor}")


# The audiences, segments and lists the starter syncs name (each server has one from the start).
DEMO_TARGETS = {
    "THROUGHLINE_SNAP_SEGMENT_ID": ("snap", snap.DEMO_SEGMENT),
    "THROUGHLINE_TIKTOK_AUDIENCE_ID": ("tiktok", tiktok.DEMO_AUDIENCE),
    "THROUGHLINE_LINKEDIN_SEGMENT_ID": ("linkedin", linkedin.DEMO_SEGMENT),
    "THROUGHLINE_PINTEREST_LIST_ID": ("pinterest", pinterest.DEMO_LIST),
    "THROUGHLINE_ACTIVECAMPAIGN_LIST_ID": ("activecampaign", ACTIVECAMPAIGN_LIST),
}


STARTER_VENDORS = ("meta", "sendgrid", "twilio", "braze", "webhook", "hubspot", "mailchimp", "onesignal", "slack",
                   "activecampaign", "snap", "tiktok", "linkedin", "pinterest", "fcm")


@contextmanager
def local_destinations(vendors: tuple[str, ...] = STARTER_VENDORS,
                       **server_options: Any) -> Iterator[LocalDestinations]:
    local = LocalDestinations()
    with ExitStack() as stack:
        for vendor in vendors:
            server = SERVERS[vendor](**server_options.get(vendor, {"rate_limits": ()}))
            stack.enter_context(server)
            local.servers[vendor] = server
            prefix = f"THROUGHLINE_{vendor.upper()}_"
            local.env.update({prefix + k: v for k, v in {**FAST_HTTP, **_settings(vendor, server)}.items()})
        if "meta" in local.servers:
            local.env["THROUGHLINE_META_AUDIENCE_ID"] = DEMO_AUDIENCE
        if "sendgrid" in local.servers:
            local.env["THROUGHLINE_SENDGRID_LIST_ID"] = local.servers["sendgrid"].create_list(DEMO_LIST)
        if "hubspot" in local.servers:
            local.env["THROUGHLINE_HUBSPOT_LIST_ID"] = local.servers["hubspot"].create_list()
        if "mailchimp" in local.servers:
            mailchimp = local.servers["mailchimp"]
            local.env["THROUGHLINE_MAILCHIMP_LIST_ID"] = mailchimp.create_list()
            local.env["THROUGHLINE_MAILCHIMP_SEGMENT"] = (
                f"{local.env['THROUGHLINE_MAILCHIMP_LIST_ID']}/segments/"
                f"{mailchimp.create_segment(local.env['THROUGHLINE_MAILCHIMP_LIST_ID'])}")
        local.env.update({name: target for name, (vendor, target) in DEMO_TARGETS.items() if vendor in local.servers})
        if "braze" in local.servers:
            local.servers["braze"].campaigns.add(DEMO_PUSH_CAMPAIGN)
        yield local
