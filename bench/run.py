"""`make bench`: run every benchmark and write bench/RESULTS.md.

    python bench/run.py [--customers 10000 100000] [--repeat 3]

Datasets at 10,000 and 100,000 customers by default; add 1,000,000 (`--customers 10000
100000 1000000`) when there is time: generating and loading it takes the better part of
an hour on two cores. Ingest runs at every size, identity and journeys at the largest,
and the syncs send an audience of each size.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_connectors  # noqa: E402
import bench_identity  # noqa: E402
import bench_ingest  # noqa: E402
import bench_journeys  # noqa: E402
import bench_latency  # noqa: E402
import bench_syncs  # noqa: E402
import bench_tick  # noqa: E402
from harness import machine, markdown_table  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"


def whole_warehouse(customers: int, repeat: int, workdir: Path) -> str:
    steps, groups = bench_tick.run(customers, repeat, workdir)
    return markdown_table(steps) + "\n\n" + groups


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--customers", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--workdir", type=Path, default=Path("bench/data"))
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)

    sizes = sorted(args.customers)
    largest = sizes[-1]
    sections = [
        *((f"Ingest: generate and load the demo dataset ({size:,} customers)",
           markdown_table(bench_ingest.run(size, args.days, args.repeat, args.workdir))) for size in sizes),
        ("Identity and profiles: a full build, then an incremental one after ~1% more events",
         markdown_table(bench_identity.run(largest, args.days, 2, 1, args.workdir.resolve()))),
        ("Journeys: a full build, then a tick after ~1% more events",
         markdown_table(bench_journeys.run(largest, 1, args.workdir.resolve()))),
        *((f"The whole warehouse: a full build, a tick after ~1% more events, an idle tick ({size:,} customers)",
           whole_warehouse(size, args.repeat, args.workdir.resolve())) for size in sizes),
        ("Connectors: an audience to Meta, SMS to Twilio, against the local vendor servers",
         bench_connectors.run(1_000_000, 10_000, 2_000, args.repeat)),
        ("Syncs: audiences to Meta and SMS to Twilio through run_sync, each against a bare requests loop",
         bench_syncs.run(sizes, 10_000, args.repeat, args.workdir.resolve())),
        ("End-to-end latency: a file lands, the daemon's sensor starts a tick, SendGrid accepts the email",
         bench_latency.run(200, args.repeat, args.workdir.resolve() / "latency")),
    ]
    lines = [
        "# Benchmark results",
        "",
        f"- Recorded: {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC",
        f"- Machine: {machine()}",
        f"- Command: `{shlex.join(['python', 'bench/run.py', *sys.argv[1:]])}` (`make bench`)",
        "- Each step runs as its own process; time is the median over the runs, memory the",
        "  highest peak resident set size of the process and its children.",
    ]
    for title, results in sections:
        lines += ["", f"## {title}", "", results]
    RESULTS.write_text("\n".join(lines) + "\n")
    print(f"\nwrote {RESULTS}")


if __name__ == "__main__":
    main()
