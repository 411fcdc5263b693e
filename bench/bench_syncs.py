"""Syncs at scale against the local vendor servers, each next to a bare `requests` loop.

    python bench/bench_syncs.py [--members 10000 100000] [--messages 10000] [--repeat 3] [--workdir /tmp/bench_syncs]
                                [--message-batch 500]

The vendor servers run in processes of their own (``python -m connectors.vendor_servers
<vendor> --unlimited``) and every measured run is a child process (``bench_syncs.py child
<name>``), so time and peak memory are the child's. The time is taken inside the child
around the work (imports excluded), and each sync run is paired with its bare loop, back to
back in the same conditions; the figure is the median over ``--repeat`` pairs.

- Audience (one request per 10,000 members): the first sync of N members to Meta through
  ``run_sync`` (the diff in SQL, rows streamed from the plan, normalised and hashed, sent,
  the state advanced per acknowledged batch), against a bare loop that reads the same rows
  from DuckDB, hashes them inline (the values are already clean) and posts the same
  batches with one ``requests.Session``. Repeated at each size: the peak memory shows
  whether a sync grows with the audience. Then a re-sync after 1% changed and one with
  nothing changed, at the largest size.
- Messages (one request per message): N SMS to Twilio through ``run_sync`` (rendered,
  written as intents, sent 8 in flight, acknowledged in the ledger), against a bare loop
  posting the same forms with the same concurrency (8 threads sharing one session).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

SYNC = {"destination": "meta", "operation": "audience", "mode": "mirror", "key": "customer_id",
        "target_env": "THROUGHLINE_META_AUDIENCE_ID", "max_shrink_percent": 5}
COLUMNS = ["customer_id", "email", "phone", "first_name"]
MESSAGE_COLUMNS = ["action_id", "journey", "step_id", "customer_id", "channel", "destination", "template", "offer",
                   "context", "decided_at", "phone"]
SMS_FROM = "+15017122661"
CONCURRENCY = 8
BATCH = 10_000  # Meta's rows per request


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _cpu() -> float:
    """CPU seconds of this process, every thread: on a shared machine, less noisy than time."""
    return time.process_time()


def _node(name: str, sync: dict, columns: list[str]) -> dict:
    return {"name": name, "unique_id": f"model.throughline.{name}", "resource_type": "model",
            "fqn": ["throughline", "syncs", name], "schema": "syncs", "alias": name,
            "config": {"contract": {"enforced": True}, "meta": {"sync": sync}}, "columns": {c: {} for c in columns}}


def audience_spec():
    from orchestration.syncs.spec import parse_sync

    return parse_sync(_node("bench_audience", SYNC, COLUMNS))


def message_spec():
    from orchestration.syncs.spec import parse_sync

    # THROUGHLINE_BENCH_MESSAGE_BATCH: the sync's batch_size (what one crash can leave unknown), default 100
    batch = {"batch_size": int(os.environ["THROUGHLINE_BENCH_MESSAGE_BATCH"])} if os.environ.get("THROUGHLINE_BENCH_MESSAGE_BATCH") else {}
    return parse_sync(_node("bench_sms", {"destination": "twilio", "operation": "messages", **batch}, MESSAGE_COLUMNS))


# --------------------------------------------------------------------------- children


def child_sync(kind: str) -> dict:
    import connectors.destinations.meta  # noqa: F401 - imports out of the timing, as the bare loops'
    import connectors.destinations.twilio  # noqa: F401
    import orchestration.journeys.messages  # noqa: F401
    from orchestration.syncs.runner import run_sync

    spec = audience_spec() if kind == "audience" else message_spec()
    started, cpu = time.perf_counter(), _cpu()
    report = run_sync(spec)
    return {"seconds": time.perf_counter() - started, "cpu": _cpu() - cpu, "peak_mb": _peak_mb(), **report.tally()}


def child_bare_audience() -> dict:
    import duckdb
    import requests

    con = duckdb.connect(os.environ["THROUGHLINE_WAREHOUSE"], read_only=True)
    session = requests.Session()
    url = f"{os.environ['THROUGHLINE_META_BASE_URL']}/v25.0/{os.environ['THROUGHLINE_META_AUDIENCE_ID']}/users"
    token = os.environ["THROUGHLINE_META_ACCESS_TOKEN"]

    def sha(text: str) -> str:
        return hashlib.sha256(text.encode()).hexdigest()

    started, cpu = time.perf_counter(), _cpu()
    cursor = con.execute("select email, phone, first_name from syncs.bench_audience order by customer_id")
    sent = 0
    while rows := cursor.fetchmany(BATCH):
        data = [[sha(email), sha(phone[1:]), sha(name.lower())] for email, phone, name in rows]
        body = {"payload": {"schema": ["EMAIL", "PHONE", "FN"], "data": data}, "access_token": token}
        session.post(url, json=body, timeout=60).raise_for_status()
        sent += len(rows)
    return {"seconds": time.perf_counter() - started, "cpu": _cpu() - cpu, "peak_mb": _peak_mb(), "added": sent}


def child_bare_messages() -> dict:
    from concurrent.futures import ThreadPoolExecutor

    import duckdb
    import requests
    from requests.adapters import HTTPAdapter

    con = duckdb.connect(os.environ["THROUGHLINE_WAREHOUSE"], read_only=True)
    phones = [phone for (phone,) in con.execute("select phone from syncs.bench_sms order by action_id").fetchall()]
    session = requests.Session()
    session.mount("http://", HTTPAdapter(pool_maxsize=CONCURRENCY))
    session.auth = (os.environ["THROUGHLINE_TWILIO_ACCOUNT_SID"], os.environ["THROUGHLINE_TWILIO_AUTH_TOKEN"])
    url = f"{os.environ['THROUGHLINE_TWILIO_BASE_URL']}/2010-04-01/Accounts/{session.auth[0]}/Messages.json"
    text = "Ada, your Canvas Tote is still in your cart. Complete your order: https://fernway.example/cart/cart_1"

    def post(phone: str) -> None:
        session.post(url, data={"To": phone, "From": SMS_FROM, "Body": text}, timeout=30).raise_for_status()

    started, cpu = time.perf_counter(), _cpu()
    with ThreadPoolExecutor(CONCURRENCY) as pool:
        list(pool.map(post, phones))
    return {"seconds": time.perf_counter() - started, "cpu": _cpu() - cpu, "peak_mb": _peak_mb(), "sent": len(phones)}


CHILDREN = {"sync_audience": lambda: child_sync("audience"), "sync_messages": lambda: child_sync("messages"),
            "bare_audience": child_bare_audience, "bare_messages": child_bare_messages}


# --------------------------------------------------------------------------- data


def make_audience(warehouse: Path, members: int) -> None:
    from orchestration.warehouse import raw_layer

    with raw_layer(warehouse) as con:
        con.execute("create schema if not exists syncs")
        con.execute(
            "create or replace table syncs.bench_audience as select "
            "'cus_' || lpad(cast(i as varchar), 8, '0') as customer_id, 'person' || i || '@example.com' as email, "
            "'+1415' || lpad(cast(i % 10000000 as varchar), 7, '0') as phone, 'name' || (i % 5000) as first_name "
            "from range(?) as t(i)", [members])
        con.execute("delete from raw.sync_state where sync_name = 'bench_audience'")


def change_audience(warehouse: Path, members: int, percent: float) -> int:
    """Change `percent` of the members: a third leave, a third join, a third get a new email."""
    from orchestration.warehouse import raw_layer

    third = int(members * percent / 100 / 3)
    with raw_layer(warehouse) as con:
        con.execute("delete from syncs.bench_audience where customer_id < ?", [f"cus_{third:08d}"])
        con.execute(
            "insert into syncs.bench_audience select 'cus_' || lpad(cast(i as varchar), 8, '0'), 'person' || i || '@example.com', "
            "'+1415' || lpad(cast(i % 10000000 as varchar), 7, '0'), 'new' || i from range(?, ?) as t(i)",
            [members, members + third])
        con.execute("update syncs.bench_audience set email = 'moved' || email where customer_id >= ? and customer_id < ?",
                    [f"cus_{third:08d}", f"cus_{2 * third:08d}"])
    return 3 * third


def make_messages(warehouse: Path, count: int) -> None:
    """`count` due SMS actions (the abandoned-cart template) and their customers; the ledger emptied."""
    from orchestration.warehouse import raw_layer

    with raw_layer(warehouse) as con:
        for schema in ("syncs", "marts"):
            con.execute(f"create schema if not exists {schema}")
        con.execute("create or replace table marts.dim_customers as select 'cus_' || lpad(cast(i as varchar), 8, '0') as customer_id, "
                    "'person' || i || '@example.com' as email, '+1415' || lpad(cast(i as varchar), 7, '0') as phone, "
                    "'Ada' as first_name, 'Acme' as company, 31.5::decimal(10, 2) as lead_score from range(?) as t(i)", [count])
        con.execute(
            "create or replace table syncs.bench_sms as select 'act_sms_' || lpad(cast(i as varchar), 8, '0') as action_id, "
            "'abandoned_cart' as journey, 'sms_1' as step_id, 'cus_' || lpad(cast(i as varchar), 8, '0') as customer_id, "
            "'sms' as channel, 'twilio' as destination, 'cart_reminder_sms' as template, null::varchar as offer, "
            "json_object('name', 'Canvas Tote', 'cart_id', 'cart_' || i)::varchar as context, timestamp '2026-11-01' as decided_at, "
            "'+1415' || lpad(cast(i as varchar), 7, '0') as phone from range(?) as t(i)", [count])
        for table in ("delivery_ledger", "delivery_intents"):
            con.execute(f"delete from raw.{table}")


# --------------------------------------------------------------------------- parent


def start_server(vendor: str) -> tuple[subprocess.Popen, str]:
    process = subprocess.Popen([sys.executable, "-m", "connectors.vendor_servers", vendor, "--unlimited"],
                               cwd=ROOT, stdout=subprocess.PIPE, text=True)
    return process, process.stdout.readline().split()[1]


def run_child(name: str, env: dict[str, str]) -> dict:
    completed = subprocess.run([sys.executable, __file__, "child", name], cwd=ROOT, env={**os.environ, **env},
                               capture_output=True, text=True)
    if completed.returncode != 0:
        raise RuntimeError(f"{name} failed:\n{completed.stderr[-3000:]}")
    result = json.loads(completed.stdout.strip().splitlines()[-1])
    print(f"  {name}: {result['seconds']:.2f}s, cpu {result['cpu']:.2f}s, peak {result['peak_mb']:.0f} MB", flush=True)
    return result


def _pairs(repeat: int, setup, ours: str, bare: str, env: dict[str, str]) -> tuple[list[dict], list[dict]]:
    """`repeat` runs of the bare loop and ours, alternating, each after `setup()` (ours last,
    so its state stays for the re-syncs)."""
    mine, theirs = [], []
    for _ in range(repeat):
        setup()
        theirs.append(run_child(bare, env))
        setup()
        mine.append(run_child(ours, env))
    return mine, theirs


def _median(runs: list[dict], key: str = "seconds") -> float:
    return statistics.median(r[key] for r in runs)


def run(sizes: list[int], messages: int, repeat: int, workdir: Path, percent: float = 1.0) -> str:
    from connectors.vendor_servers import MetaServer, TwilioServer
    from connectors.vendor_servers.meta import DEMO_AUDIENCE

    load_before = os.getloadavg()  # the machine is shared: every figure goes with its load
    workdir.mkdir(parents=True, exist_ok=True)
    warehouse = workdir / "bench_syncs.duckdb"
    for path in (warehouse, Path(f"{warehouse}.wal")):
        path.unlink(missing_ok=True)
    os.environ["THROUGHLINE_WAREHOUSE"] = str(warehouse)
    meta, meta_url = start_server("meta")
    twilio, twilio_url = start_server("twilio")
    twilio_server = TwilioServer()
    env = {"THROUGHLINE_WAREHOUSE": str(warehouse),
           "THROUGHLINE_META_BASE_URL": meta_url, "THROUGHLINE_META_ACCESS_TOKEN": MetaServer().access_token,
           "THROUGHLINE_META_AUDIENCE_ID": DEMO_AUDIENCE,
           "THROUGHLINE_TWILIO_BASE_URL": twilio_url, "THROUGHLINE_TWILIO_ACCOUNT_SID": twilio_server.account_sid,
           "THROUGHLINE_TWILIO_AUTH_TOKEN": twilio_server.auth_token, "THROUGHLINE_TWILIO_FROM": SMS_FROM,
           "THROUGHLINE_TWILIO_MAX_CONCURRENCY": str(CONCURRENCY), "THROUGHLINE_TWILIO_RATE_PER_SECOND": "100000"}
    rows = []
    try:
        for size in sizes:
            print(f"audience of {size:,}", flush=True)
            ours, bare = _pairs(repeat, lambda size=size: make_audience(warehouse, size), "sync_audience", "bare_audience", env)
            assert all(r["added"] == size for r in ours + bare), "every member sent"
            rows.append((f"Meta audience, first sync of {size:,} members", size, ours, bare))
        largest = sizes[-1]
        changed = change_audience(warehouse, largest, percent)
        again = run_child("sync_audience", env)
        idle = run_child("sync_audience", env)
        print(f"{messages:,} SMS", flush=True)
        sms, sms_bare = _pairs(repeat, lambda: make_messages(warehouse, messages), "sync_messages", "bare_messages", env)
        assert all(r["sent"] == messages for r in sms + sms_bare), "every message sent"
        batch = os.environ.get("THROUGHLINE_BENCH_MESSAGE_BATCH")
        rows.append((f"Twilio SMS, {messages:,} messages, {CONCURRENCY} in flight" + (f", batch_size {batch}" if batch else ""),
                     messages, sms, sms_bare))
    finally:
        for process in (meta, twilio):
            process.terminate()
            process.wait()

    lines = ["| run | records | sync: median s (runs) | sync records/s | bare loop: median s (runs) | bare records/s | "
             "sync / bare | CPU s, sync / bare | sync peak MB | bare peak MB |", "|---|---|---|---|---|---|---|---|---|---|"]
    for name, count, ours, bare in rows:
        mine, theirs = _median(ours), _median(bare)
        runs = lambda rs: " / ".join(f"{r['seconds']:.2f}" for r in rs)  # noqa: E731
        lines.append(f"| {name} | {count:,} | {mine:.2f} ({runs(ours)}) | {count / mine:,.0f} | {theirs:.2f} ({runs(bare)}) | "
                     f"{count / theirs:,.0f} | {100 * theirs / mine:.0f}% | {_median(ours, 'cpu'):.2f} / {_median(bare, 'cpu'):.2f} | "
                     f"{max(r['peak_mb'] for r in ours):.0f} | "
                     f"{max(r['peak_mb'] for r in bare):.0f} |")
    lines += ["", "| re-sync of the largest audience | time (s) | peak MB | added | removed | changed |", "|---|---|---|---|---|---|"]
    for name, result in ((f"after {percent:g}% changed ({changed:,} members)", again), ("with nothing changed", idle)):
        lines.append(f"| {name} | {result['seconds']:.2f} | {result['peak_mb']:.0f} | {result['added']:,} | "
                     f"{result['removed']:,} | {result['changed']:,} |")
    load = lambda values: " / ".join(f"{v:.2f}" for v in values)  # noqa: E731
    lines += ["", f"Load average (1 / 5 / 15 min): {load(load_before)} before, {load(os.getloadavg())} after."]
    return "\n".join(lines)


def main() -> None:
    if sys.argv[1:2] == ["child"]:
        print(json.dumps(CHILDREN[sys.argv[2]]()))
        return
    parser = argparse.ArgumentParser()
    parser.add_argument("--members", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--changed-percent", type=float, default=1.0)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/bench_syncs"))
    parser.add_argument("--message-batch", type=int, help="the message sync's batch_size (default: the sync default, 100)")
    args = parser.parse_args()
    if args.message_batch:
        os.environ["THROUGHLINE_BENCH_MESSAGE_BATCH"] = str(args.message_batch)
    print(run(args.members, args.messages, args.repeat, args.workdir, args.changed_percent))


if __name__ == "__main__":
    main()
