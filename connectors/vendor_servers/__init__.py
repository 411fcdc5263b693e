"""Local servers that enforce each vendor's contract, for tests and the demo.

from connectors.vendor_servers import SERVERS
with SERVERS["sendgrid"]() as server:
    server.base_url  # http://127.0.0.1:<port>
"""

from connectors.vendor_servers.base import Fault, VendorServer, WindowLimit
from connectors.vendor_servers.klaviyo import KlaviyoServer
from connectors.vendor_servers.sendgrid import SendGridServer
from connectors.vendor_servers.twilio import TwilioServer
from connectors.vendor_servers.webhook import WebhookServer

SERVERS: dict[str, type[VendorServer]] = {
    "sendgrid": SendGridServer,
    "klaviyo": KlaviyoServer,
    "twilio": TwilioServer,
    "webhook": WebhookServer,
}

__all__ = [
    "SERVERS",
    "Fault",
    "KlaviyoServer",
    "SendGridServer",
    "TwilioServer",
    "VendorServer",
    "WebhookServer",
    "WindowLimit",
]
