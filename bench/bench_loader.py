"""`throughline load` against DuckDB's own read_json of the same files, side by side.

    python bench/bench_loader.py --data /tmp/loaderbench/events_100000 [--repeat 3]

Each repeat runs, as separate processes and one right after the other on the same files:
(a) DuckDB's own `create table t as select * from read_json(files)` into an empty
database file, and (b) `throughline load <folder>` into an empty warehouse. The machine
is shared, so both sides are timed in the same minute of each repeat, and both by wall
time and by CPU time (user + system of the process and its threads): a busy neighbour
slows the wall clock of both, the CPU seconds much less. Prints each run, then a table
with the medians, the throughput ratio (a's time / b's time) and the peak RSS.

Generate the data first: `throughline generate --customers 100000 --days 90 --seed 1
--end 2026-11-01 --out /tmp/loaderbench/events_100000`.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

THROUGHLINE = str(Path(sys.executable).parent / "throughline")
READ_JSON = """
import duckdb, sys
con = duckdb.connect(sys.argv[1])
con.execute("set enable_progress_bar = false")
con.execute("create table t as select * from read_json(?)", [sys.argv[2:]])
con.close()
"""


@dataclass
class Runs:
    wall: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    rss_mb: list[float] = field(default_factory=list)


def run(command: list[str], runs: Runs, env: dict | None = None) -> None:
    started = time.perf_counter()
    process = subprocess.Popen(command, env={**os.environ, **(env or {})}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    output = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{command[:3]} failed:\n{output.decode(errors='replace')[-3000:]}")
    runs.wall.append(time.perf_counter() - started)
    runs.cpu.append(usage.ru_utime + usage.ru_stime)
    runs.rss_mb.append(usage.ru_maxrss / 1024)


def fresh(path: Path) -> None:
    for suffix in ("", ".wal"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", type=Path, required=True, help="a folder of .jsonl files (throughline generate)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "bench_loader")
    args = parser.parse_args()
    files = sorted(str(p) for p in args.data.glob("*.jsonl"))
    events = sum(1 for f in files for _ in open(f, "rb"))
    args.workdir.mkdir(parents=True, exist_ok=True)
    read_json_db, warehouse = args.workdir / "read_json.duckdb", args.workdir / "warehouse.duckdb"

    read_json, load = Runs(), Runs()
    print(f"{len(files)} files, {events:,} events, load average {os.getloadavg()[0]:.2f}", flush=True)
    for i in range(args.repeat):
        fresh(read_json_db)
        run([sys.executable, "-c", READ_JSON, str(read_json_db), *files], read_json)
        fresh(warehouse)
        run([THROUGHLINE, "load", str(args.data)], load, env={"THROUGHLINE_WAREHOUSE": str(warehouse)})
        print(f"  run {i + 1}: read_json {read_json.wall[-1]:.1f} s wall, {read_json.cpu[-1]:.1f} s CPU; "
              f"throughline load {load.wall[-1]:.1f} s wall, {load.cpu[-1]:.1f} s CPU; "
              f"ratio {read_json.wall[-1] / load.wall[-1]:.2f} (wall) {read_json.cpu[-1] / load.cpu[-1]:.2f} (CPU)", flush=True)
    print(f"load average after: {os.getloadavg()[0]:.2f}")

    median = statistics.median
    print("\n| side | runs | median wall (s) | events/s (wall) | median CPU (s) | peak RSS (MB) |")
    print("|---|---|---|---|---|---|")
    for name, runs in (("(a) DuckDB `create table t as select * from read_json(files)`", read_json), ("(b) `throughline load <folder>`", load)):
        print(f"| {name} | {len(runs.wall)} | {median(runs.wall):.1f} | {events / median(runs.wall):,.0f} | {median(runs.cpu):.1f} | {max(runs.rss_mb):.0f} |")
    ratios = [a / b for a, b in zip(read_json.wall, load.wall)]
    cpu_ratios = [a / b for a, b in zip(read_json.cpu, load.cpu)]
    print(f"\nthroughput of (b) / (a): median {median(ratios):.2f} by wall time (runs: {', '.join(f'{r:.2f}' for r in ratios)}), "
          f"{median(cpu_ratios):.2f} by CPU time (runs: {', '.join(f'{r:.2f}' for r in cpu_ratios)})")


if __name__ == "__main__":
    main()
