"""An audience sync at scale: 1,000,000 members to Meta, then again after 1% changed.

    python bench/bench_syncs.py [--members 1000000] [--changed-percent 1] [--workdir /tmp/bench_syncs]

The Meta server runs in a process of its own (``python -m connectors.vendor_servers meta
--unlimited``), and each sync runs in a child process (``bench_syncs.py sync``), so the
time and peak memory are the sync's: the diff in SQL, the records streamed from the plan,
hashing, HTTP, and the state advanced per acknowledged batch. Rows:
- first sync: every member added (an empty state);
- re-sync after N% changed: a third of the changed members left, a third joined and a
  third changed their email (an identity change: the old one removed, the new one added);
  only those are sent;
- re-sync with nothing changed: the diff alone.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import run_step  # noqa: E402

SYNC = {"destination": "meta", "operation": "audience", "mode": "mirror", "key": "customer_id",
        "target_env": "THROUGHLINE_META_AUDIENCE_ID", "max_shrink_percent": 5}
COLUMNS = ["customer_id", "email", "phone", "first_name"]


def spec():
    from orchestration.syncs.spec import parse_sync

    node = {"name": "bench_audience", "unique_id": "model.throughline.bench_audience", "resource_type": "model",
            "fqn": ["throughline", "syncs", "bench_audience"], "schema": "syncs", "alias": "bench_audience",
            "config": {"contract": {"enforced": True}, "meta": {"sync": SYNC}}, "columns": {c: {} for c in COLUMNS}}
    return parse_sync(node)


def child_sync() -> None:
    from orchestration.syncs.runner import run_sync

    report = run_sync(spec())
    print(report.tally(), report.duration_seconds)


def make_audience(warehouse: Path, members: int) -> None:
    from orchestration.warehouse import raw_layer

    with raw_layer(warehouse) as con:
        con.execute("create schema if not exists syncs")
        con.execute(
            "create or replace table syncs.bench_audience as select "
            "'cus_' || lpad(cast(i as varchar), 8, '0') as customer_id, 'person' || i || '@example.com' as email, "
            "'+1415' || lpad(cast(i % 10000000 as varchar), 7, '0') as phone, 'Name' || (i % 5000) as first_name "
            "from range(?) as t(i)", [members])


def change_audience(warehouse: Path, members: int, percent: float) -> int:
    """Change `percent` of the members: a third leave, a third join, a third get a new email."""
    from orchestration.warehouse import raw_layer

    third = int(members * percent / 100 / 3)
    with raw_layer(warehouse) as con:
        con.execute("delete from syncs.bench_audience where customer_id < ?", [f"cus_{third:08d}"])
        con.execute(
            "insert into syncs.bench_audience select 'cus_' || lpad(cast(i as varchar), 8, '0'), 'person' || i || '@example.com', "
            "'+1415' || lpad(cast(i % 10000000 as varchar), 7, '0'), 'New' || i from range(?, ?) as t(i)",
            [members, members + third])
        con.execute("update syncs.bench_audience set email = 'moved' || email where customer_id >= ? and customer_id < ?",
                    [f"cus_{third:08d}", f"cus_{2 * third:08d}"])
    return 3 * third


def last_run(warehouse: Path) -> dict:
    import duckdb

    with duckdb.connect(str(warehouse), read_only=True) as con:
        cursor = con.execute("select * from raw.sync_runs order by started_at desc limit 1")
        return dict(zip([d[0] for d in cursor.description], cursor.fetchone()))


def run(members: int, percent: float, workdir: Path) -> str:
    workdir.mkdir(parents=True, exist_ok=True)
    warehouse = workdir / "bench_syncs.duckdb"
    for path in (warehouse, Path(f"{warehouse}.wal"), Path(f"{warehouse}.lock")):
        path.unlink(missing_ok=True)
    server = subprocess.Popen([sys.executable, "-m", "connectors.vendor_servers", "meta", "--unlimited"],
                              stdout=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        base_url = server.stdout.readline().split()[1]
        from connectors.vendor_servers import MetaServer
        from connectors.vendor_servers.meta import DEMO_AUDIENCE

        env = {"THROUGHLINE_WAREHOUSE": str(warehouse), "THROUGHLINE_META_BASE_URL": base_url,
               "THROUGHLINE_META_ACCESS_TOKEN": MetaServer().access_token, "THROUGHLINE_META_AUDIENCE_ID": DEMO_AUDIENCE}
        os.environ["THROUGHLINE_WAREHOUSE"] = str(warehouse)
        command = [sys.executable, str(Path(__file__).resolve()), "sync"]
        rows = []
        make_audience(warehouse, members)
        first = run_step(f"first sync of {members:,} members", command, env=env)
        rows.append((first, last_run(warehouse)))
        changed = change_audience(warehouse, members, percent)
        again = run_step(f"re-sync after {percent:g}% changed ({changed:,} members)", command, env=env)
        rows.append((again, last_run(warehouse)))
        idle = run_step("re-sync with nothing changed", command, env=env)
        rows.append((idle, last_run(warehouse)))
    finally:
        server.terminate()
        server.wait()
    lines = ["| run | time (s) | peak memory (MB) | added | removed | changed | members/s sent |", "|---|---|---|---|---|---|---|"]
    for step, counts in rows:
        sent = (counts["added"] or 0) + (counts["removed"] or 0) + (counts["changed"] or 0)
        rate = f"{sent / step.median_seconds:,.0f}" if sent else "—"
        lines.append(f"| {step.name} | {step.median_seconds:.1f} | {step.max_peak_rss_mb:.0f} | {counts['added']:,} | "
                     f"{counts['removed']:,} | {counts['changed']:,} | {rate} |")
    return "\n".join(lines)


def main() -> None:
    if sys.argv[1:2] == ["sync"]:
        child_sync()
        return
    parser = argparse.ArgumentParser()
    parser.add_argument("--members", type=int, default=1_000_000)
    parser.add_argument("--changed-percent", type=float, default=1.0)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/bench_syncs"))
    args = parser.parse_args()
    print(run(args.members, args.changed_percent, args.workdir))


if __name__ == "__main__":
    main()
