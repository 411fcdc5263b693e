"""Run local vendor servers until interrupted:

    python -m connectors.vendor_servers sendgrid klaviyo --port 0
    python -m connectors.vendor_servers meta --unlimited

Prints one ``<vendor> <base url>`` line per server (ports are ephemeral unless
--port is given, which then applies to the first server only).
"""

from __future__ import annotations

import argparse
import threading

from connectors.vendor_servers import SERVERS


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m connectors.vendor_servers")
    parser.add_argument("vendors", nargs="+", choices=sorted(SERVERS))
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument(
        "--unlimited", action="store_true", help="no server-side rate limits (benchmarks measure the client)"
    )
    args = parser.parse_args(argv)
    servers = []
    for index, vendor in enumerate(args.vendors):
        options: dict[str, object] = {"port": args.port if index == 0 else 0}
        if args.unlimited:
            options["rate_limits"] = ()
        server = SERVERS[vendor](**options)
        print(vendor, server.start(), flush=True)
        servers.append(server)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        for server in servers:
            server.stop()


if __name__ == "__main__":
    main()
