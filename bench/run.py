"""`make bench`: run every benchmark and write bench/RESULTS.md.

    python bench/run.py [--customers 100000] [--repeat 3]
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
import bench_syncs  # noqa: E402
from harness import machine, markdown_table  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--workdir", type=Path, default=Path("bench/data"))
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)

    sections = [
        ("Ingest: generate and load the demo dataset", markdown_table(bench_ingest.run(args.customers, args.days, args.repeat, args.workdir))),
        ("Identity and profiles: a full build, then an incremental one after ~1% more events",
         markdown_table(bench_identity.run(args.customers, args.days, 2, 1, args.workdir.resolve()))),
        ("Journeys: a full build, then a tick after ~1% more events",
         markdown_table(bench_journeys.run(args.customers, 1, args.workdir.resolve()))),
        ("Connectors: an audience to Meta, SMS to Twilio, against the local vendor servers", bench_connectors.run(1_000_000, 10_000, 2_000)),
        ("Syncs: a 1,000,000-member audience to Meta, then a re-sync after 1% changed", bench_syncs.run(1_000_000, 1.0, args.workdir)),
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
