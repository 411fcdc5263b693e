"""Each destination's throughput against a bare `requests` loop posting the same requests.

    python bench/bench_destinations.py [--only hubspot mailchimp] [--records N] [--repeat 3]

A case is a module in ``bench/destination_cases/`` with:
- ``VENDOR``: the local server, run as ``python -m connectors.vendor_servers <VENDOR> --unlimited``
  in a process of its own (so the client is what is measured);
- ``RECORDS``: how many records a run sends by default;
- ``OPERATION``: what is sent, in words, for the table;
- ``rows(count) -> list``: the input both sides start from, as a sync holds it: each record's
  key and its fields (a dict per row, as read from the warehouse), built before the clock;
- ``ours(base_url, rows) -> int``: the rows as ``Record``s through ``connectors.create(...).write``
  (its client rate limit raised where the bare loop has none), the number accepted. The records are
  made as a sync makes them: a page of 10,000 at a time as the destination reads on for audiences and
  profiles (``as_a_sync_hands_them_over``), the whole batch up front for message sends;
- ``bare(base_url, rows) -> int``: the same requests built from the same rows and sent from one
  ``requests.Session`` with no retries, checks or result objects, the number accepted.

Every run is a child process, timed after the imports and the rows (both sides); ours and the bare loop
alternate, and the figure is the median of ``--repeat`` pairs. A run that accepts fewer than it sent fails the benchmark.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import json
import os
import pkgutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import destination_cases  # noqa: E402  (the bench folder is on the path only now)
from harness import machine  # noqa: E402


def cases() -> dict[str, object]:
    return {info.name: importlib.import_module(f"destination_cases.{info.name}")
            for info in pkgutil.iter_modules(destination_cases.__path__)}


def child(case: str, side: str, base_url: str, count: int) -> None:
    from connectors.registry import available

    module = importlib.import_module(f"destination_cases.{case}")
    available()  # imports every destination module: a process pays it once, not per write; requests is imported too
    import connectors.vendor_servers  # noqa: F401  both sides read the demo credentials there (~0.2 s of imports)
    rows = module.rows(count)  # the same input for both sides, as a sync holds it
    # Out of the collector's way for both sides, as a sync runner keeps what it held before it
    # started (orchestration/syncs/runner.py, _earlier_objects_frozen): otherwise each full
    # collection set off by one side's allocations walks the other 400,000 input objects too.
    gc.freeze()
    started = time.perf_counter()
    accepted = getattr(module, side)(base_url, rows)
    seconds = time.perf_counter() - started
    print(json.dumps({"accepted": accepted, "seconds": seconds}))


def start_server(vendor: str) -> tuple[subprocess.Popen, str]:
    process = subprocess.Popen([sys.executable, "-m", "connectors.vendor_servers", vendor, "--unlimited"],
                               cwd=ROOT, stdout=subprocess.PIPE, text=True)
    line = process.stdout.readline().split()
    if len(line) != 2:
        process.kill()
        raise RuntimeError(f"the {vendor} server did not start")
    return process, line[1]


def run_child(case: str, side: str, base_url: str, count: int) -> float:
    env = {**os.environ, "HTTP_BACKOFF_BASE": "0.05"}
    output = subprocess.run([sys.executable, __file__, "child", case, side, base_url, str(count)],
                            check=True, capture_output=True, text=True, env=env).stdout
    result = json.loads(output.strip().splitlines()[-1])
    if result["accepted"] != count:
        raise RuntimeError(f"{case} {side}: {result['accepted']} of {count} accepted")
    return result["seconds"]


def measure(name: str, module, count: int, repeat: int) -> dict:
    server, base_url = start_server(module.VENDOR)
    try:
        run_child(name, "ours", base_url, min(count, 200))  # warm the server's caches and the OS
        ours, bare = [], []
        for _ in range(repeat):
            ours.append(run_child(name, "ours", base_url, count))
            bare.append(run_child(name, "bare", base_url, count))
    finally:
        server.terminate()
        server.wait()
    return {"case": name, "operation": module.OPERATION, "records": count,
            "ours": ours, "bare": bare, "ratio": statistics.median(bare) / statistics.median(ours)}


def table(rows: list[dict]) -> str:
    lines = ["| destination | operation | records | ours: median s (runs) | bare loop: median s (runs) | records/s, ours | % of bare loop |",
             "|---|---|---|---|---|---|---|"]
    for row in rows:
        runs = lambda values: f"{statistics.median(values):.2f} ({' / '.join(f'{v:.2f}' for v in values)})"  # noqa: E731
        lines.append(f"| {row['case']} | {row['operation']} | {row['records']:,} | {runs(row['ours'])} | "
                     f"{runs(row['bare'])} | {row['records'] / statistics.median(row['ours']):,.0f} | "
                     f"{row['ratio']:.0%} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "child":
        case, side, base_url, count = argv[1:5]
        return child(case, side, base_url, int(count))
    parser = argparse.ArgumentParser(prog="bench_destinations.py")
    parser.add_argument("--only", nargs="*", help="case names (default: every case)")
    parser.add_argument("--records", type=int, help="records per run (default: each case's RECORDS)")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    known = cases()
    unknown = set(args.only or ()) - set(known)
    if unknown:
        parser.error(f"unknown cases {sorted(unknown)}; known: {sorted(known)}")
    load_before = os.getloadavg()[0]
    rows = [measure(name, module, args.records or module.RECORDS, args.repeat)
            for name, module in sorted(known.items()) if not args.only or name in args.only]
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    print(f"\ncommit {commit}, {machine()}, load average {load_before:.2f} before / {os.getloadavg()[0]:.2f} after\n")
    print(table(rows))


if __name__ == "__main__":
    main()
