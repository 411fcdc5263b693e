"""Connector throughput and memory against the local vendor servers.

    python bench/bench_connectors.py [--audience 1000000] [--sms 10000] [--repeat 3]

Each measurement runs in a child process of its own (peak memory is that
process's ru_maxrss), against servers started with
``python -m connectors.vendor_servers <vendor> --unlimited`` in yet another
process, so the client is what is measured. Rows:
- Meta: stream N audience members (generator in, 10,000-row batches out, PII
  normalised and hashed on the way) at two audience sizes, to show memory does
  not grow with the audience; baseline = a bare ``requests`` loop posting the
  same 10,000-row batches (hashing inline, no retries, no checks).
- Twilio: 10,000 SMS with bounded concurrency (8 workers); baseline = a bare
  ``requests`` loop posting the same forms with the same concurrency (8 threads).
- Rate limiter: 2,000 SMS configured at 200/s against a server that refuses
  above 210/s; the observed rate and the 429 count.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

FAST = {"HTTP_BACKOFF_BASE": "0.05", "HTTP_MAX_ATTEMPTS": "6"}
TWILIO_CONCURRENCY = 8


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _env(prefix: str, **values: str) -> dict[str, str]:
    return {f"{prefix}_{k}": v for k, v in {**FAST, **values}.items()}


# --------------------------------------------------------------------------- children


def child_meta_ours(base_url: str, count: int) -> dict:
    from connectors import Operation, Record, create
    from connectors.vendor_servers import MetaServer
    from connectors.vendor_servers.meta import DEMO_AUDIENCE

    token = MetaServer().access_token
    records = (Record(f"m{i}", {"email": f"Person{i}@Example.com"}) for i in range(count))
    accepted = 0
    started = time.perf_counter()
    with create("meta", _env("THROUGHLINE_META", ACCESS_TOKEN=token, BASE_URL=base_url)) as meta:
        for part in meta.write_stream(Operation.ADD_AUDIENCE_MEMBERS, records, target=DEMO_AUDIENCE):
            accepted += part.counts()["accepted"]
    seconds = time.perf_counter() - started
    return {"records": count, "accepted": accepted, "seconds": seconds, "peak_mb": _peak_mb()}


def child_meta_baseline(base_url: str, count: int) -> dict:
    import requests

    from connectors.vendor_servers import MetaServer
    from connectors.vendor_servers.meta import DEMO_AUDIENCE

    token = MetaServer().access_token
    session = requests.Session()
    started = time.perf_counter()
    for start in range(0, count, 10_000):
        rows = [[hashlib.sha256(f"person{i}@example.com".encode()).hexdigest()]
                for i in range(start, min(start + 10_000, count))]
        body = {"payload": {"schema": ["EMAIL"], "data": rows}, "access_token": token}
        session.post(f"{base_url}/v25.0/{DEMO_AUDIENCE}/users", json=body, timeout=60).raise_for_status()
    seconds = time.perf_counter() - started
    return {"records": count, "accepted": count, "seconds": seconds, "peak_mb": _peak_mb()}


def _sms(count: int) -> list:
    from connectors import Record

    return [Record(f"s{i}", {"phone": f"+1415{i:07d}", "text": "Your order shipped"}) for i in range(count)]


def child_twilio_ours(base_url: str, count: int) -> dict:
    from connectors import Operation, create
    from connectors.vendor_servers import TwilioServer

    server = TwilioServer()
    env = _env("THROUGHLINE_TWILIO", ACCOUNT_SID=server.account_sid, AUTH_TOKEN=server.auth_token,
               BASE_URL=base_url, FROM="+15017122661", MAX_CONCURRENCY=str(TWILIO_CONCURRENCY), RATE_PER_SECOND="100000")
    records = _sms(count)
    started = time.perf_counter()
    with create("twilio", env) as twilio:
        result = twilio.write(Operation.SEND_MESSAGES, records)
    seconds = time.perf_counter() - started
    return {"records": count, "accepted": result.counts()["accepted"], "seconds": seconds, "peak_mb": _peak_mb()}


def child_twilio_baseline(base_url: str, count: int) -> dict:
    from concurrent.futures import ThreadPoolExecutor

    import requests
    from requests.adapters import HTTPAdapter

    from connectors.vendor_servers import TwilioServer

    server = TwilioServer()
    session = requests.Session()  # shared by the threads, one pooled connection each
    session.mount("http://", HTTPAdapter(pool_maxsize=TWILIO_CONCURRENCY))
    session.auth = (server.account_sid, server.auth_token)
    url = f"{base_url}/2010-04-01/Accounts/{server.account_sid}/Messages.json"

    def post(i: int) -> None:
        session.post(url, data={"To": f"+1415{i:07d}", "From": "+15017122661", "Body": "Your order shipped"},
                     timeout=30).raise_for_status()

    started = time.perf_counter()
    with ThreadPoolExecutor(TWILIO_CONCURRENCY) as pool:
        list(pool.map(post, range(count)))
    seconds = time.perf_counter() - started
    return {"records": count, "accepted": count, "seconds": seconds, "peak_mb": _peak_mb()}


def child_rate(_: str, count: int) -> dict:
    from connectors import Operation, create
    from connectors.vendor_servers import TwilioServer, WindowLimit

    with TwilioServer(rate_limits=(WindowLimit(210, 1.0),)) as server:
        env = _env("THROUGHLINE_TWILIO", ACCOUNT_SID=server.account_sid, AUTH_TOKEN=server.auth_token,
                   BASE_URL=server.base_url, FROM="+15017122661", MAX_CONCURRENCY="4", RATE_PER_SECOND="200")
        started = time.perf_counter()
        with create("twilio", env) as twilio:
            result = twilio.write(Operation.SEND_MESSAGES, _sms(count))
        seconds = time.perf_counter() - started
        arrivals = [r.at for r in server.requests_to("/2010-04-01/Accounts/", "POST")]
        observed = (len(arrivals) - 1) / (max(arrivals) - min(arrivals))
        return {"records": count, "accepted": result.counts()["accepted"], "seconds": seconds,
                "peak_mb": _peak_mb(), "observed_rate": observed, "throttled": server.throttled}


CHILDREN = {f.__name__: f for f in (child_meta_ours, child_meta_baseline, child_twilio_ours, child_twilio_baseline,
                                     child_rate)}


# --------------------------------------------------------------------------- parent


def start_server(vendor: str) -> tuple[subprocess.Popen, str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "connectors.vendor_servers", vendor, "--unlimited"],
        cwd=ROOT, stdout=subprocess.PIPE, text=True,
    )
    line = process.stdout.readline().split()
    return process, line[1]


def run_child(name: str, base_url: str, count: int) -> dict:
    output = subprocess.run(
        [sys.executable, __file__, "--child", name, "--url", base_url, "--count", str(count)],
        cwd=ROOT, check=True, capture_output=True, text=True,
    ).stdout
    result = json.loads(output.strip().splitlines()[-1])
    print(f"  {name} x{count:,}: {result['seconds']:.1f}s, peak {result['peak_mb']:.0f} MB", flush=True)
    return result


def _pairs(repeat: int, ours: str, bare: str, url: str, count: int) -> tuple[dict, dict]:
    """Ours and the bare loop alternately, `repeat` times; the runs with the median time."""
    mine, theirs = [], []
    for _ in range(repeat):
        mine.append(run_child(ours, url, count))
        theirs.append(run_child(bare, url, count))
    median = lambda runs: sorted(runs, key=lambda r: r["seconds"])[len(runs) // 2]  # noqa: E731
    return {**median(mine), "runs": mine}, {**median(theirs), "runs": theirs}


def run(audience: int, sms: int, rate_sms: int, repeat: int = 3) -> str:
    """Measure every run and return the results as Markdown tables."""
    rows = []
    meta, meta_url = start_server("meta")
    twilio, twilio_url = start_server("twilio")
    try:
        small = run_child("child_meta_ours", meta_url, audience // 10)
        ours, base = _pairs(repeat, "child_meta_ours", "child_meta_baseline", meta_url, audience)
        rows.append(("Meta audience, ours (stream)", small, None))
        rows.append(("Meta audience, ours (stream)", ours, base))
        rows.append(("Meta audience, bare requests loop", base, None))
        t_ours, t_base = _pairs(repeat, "child_twilio_ours", "child_twilio_baseline", twilio_url, sms)
        rows.append(("Twilio SMS, ours (8 in flight)", t_ours, t_base))
        rows.append(("Twilio SMS, bare requests loop (8 threads)", t_base, None))
        rate = run_child("child_rate", "", rate_sms)
    finally:
        for process in (meta, twilio):
            process.terminate()
            process.wait()

    lines = ["| run | records | accepted | median time (s) (runs) | records/s | % of bare loop | peak RSS (MB) |",
             "|---|---|---|---|---|---|---|"]
    for name, result, baseline in rows:
        per_second = result["records"] / result["seconds"]
        share = f"{100 * per_second / (baseline['records'] / baseline['seconds']):.0f}%" if baseline else "—"
        runs = " / ".join(f"{r['seconds']:.2f}" for r in result.get("runs", [result]))
        lines.append(f"| {name} | {result['records']:,} | {result['accepted']:,} | {result['seconds']:.2f} ({runs}) | "
                     f"{per_second:,.0f} | {share} | {result['peak_mb']:.0f} |")
    deviation = 100 * (rate["observed_rate"] - 200) / 200
    lines += ["", "| rate limiter run | configured | observed | deviation | 429s | accepted |", "|---|---|---|---|---|---|",
              f"| {rate['records']:,} SMS, 4 workers, server refuses above 210/s | 200/s | "
              f"{rate['observed_rate']:.1f}/s | {deviation:+.1f}% | {rate['throttled']} | {rate['accepted']:,} |"]
    if abs(deviation) > 5 or rate["throttled"]:
        lines.append("\n**The rate limiter run was outside 5% or throttled.**")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--audience", type=int, default=1_000_000)
    parser.add_argument("--sms", type=int, default=10_000)
    parser.add_argument("--rate-sms", type=int, default=2_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--child")
    parser.add_argument("--url", default="")
    parser.add_argument("--count", type=int, default=0)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(CHILDREN[args.child](args.url, args.count)))
        return
    from harness import machine

    print(f"Machine: {machine()}\n")
    print(run(args.audience, args.sms, args.rate_sms, args.repeat))


if __name__ == "__main__":
    main()
