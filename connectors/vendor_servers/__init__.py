"""Local servers that enforce each vendor's contract, for tests and the demo.

from connectors.vendor_servers import SERVERS
with SERVERS["sendgrid"]() as server:
    server.base_url  # http://127.0.0.1:<port>
"""

from connectors.vendor_servers.activecampaign import ActiveCampaignServer
from connectors.vendor_servers.base import Fault, VendorServer, WindowLimit
from connectors.vendor_servers.braze import BrazeServer
from connectors.vendor_servers.customerio import CustomerIoServer
from connectors.vendor_servers.fcm import FcmServer
from connectors.vendor_servers.google_ads import GoogleAdsServer
from connectors.vendor_servers.hubspot import HubSpotServer
from connectors.vendor_servers.klaviyo import KlaviyoServer
from connectors.vendor_servers.linkedin import LinkedInServer
from connectors.vendor_servers.mailchimp import MailchimpServer
from connectors.vendor_servers.meta import MetaServer
from connectors.vendor_servers.pinterest import PinterestServer
from connectors.vendor_servers.onesignal import OneSignalServer
from connectors.vendor_servers.sendgrid import SendGridServer
from connectors.vendor_servers.slack import SlackServer
from connectors.vendor_servers.smtp import SmtpServer
from connectors.vendor_servers.snap import SnapServer
from connectors.vendor_servers.tiktok import TikTokServer
from connectors.vendor_servers.twilio import TwilioServer
from connectors.vendor_servers.webhook import WebhookServer

# The SMTP relay is not HTTP but has the same start/stop/base_url shape.
SERVERS: dict[str, type[VendorServer] | type[SmtpServer]] = {
    "sendgrid": SendGridServer,
    "klaviyo": KlaviyoServer,
    "twilio": TwilioServer,
    "webhook": WebhookServer,
    "braze": BrazeServer,
    "customerio": CustomerIoServer,
    "meta": MetaServer,
    "google_ads": GoogleAdsServer,
    "smtp": SmtpServer,
    "hubspot": HubSpotServer,
    "mailchimp": MailchimpServer,
    "activecampaign": ActiveCampaignServer,
    "slack": SlackServer,
    "snap": SnapServer,
    "tiktok": TikTokServer,
    "linkedin": LinkedInServer,
    "pinterest": PinterestServer,
    "fcm": FcmServer,
    "onesignal": OneSignalServer,
}

__all__ = [
    "SERVERS",
    "ActiveCampaignServer",
    "BrazeServer",
    "CustomerIoServer",
    "Fault",
    "FcmServer",
    "GoogleAdsServer",
    "HubSpotServer",
    "KlaviyoServer",
    "LinkedInServer",
    "MailchimpServer",
    "MetaServer",
    "OneSignalServer",
    "PinterestServer",
    "SendGridServer",
    "SlackServer",
    "SmtpServer",
    "SnapServer",
    "TikTokServer",
    "TwilioServer",
    "VendorServer",
    "WebhookServer",
    "WindowLimit",
]
