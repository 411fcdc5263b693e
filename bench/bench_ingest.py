"""Generating and loading the demo dataset at scale: time and peak memory of each step.

    python bench/bench_ingest.py --customers 100000 [--repeat 3]

Each step runs as its own `throughline` process, as a user would run it. Loading runs
into an empty warehouse each time, then once more over the same files (every row a
duplicate), which is the cost of an idempotent re-run.

The loader checks the files in DuckDB (orchestration/ingest/loader.py); bench/bench_loader.py
measures it side by side with DuckDB's own read_json of the same files. The peak memory is
that of the largest process (rusage).
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import StepResult, markdown_table, run_step  # noqa: E402

THROUGHLINE = str(Path(sys.executable).parent / "throughline")


def run(customers: int, days: int, repeat: int, workdir: Path) -> list[StepResult]:
    data = workdir / f"events_{customers}"
    warehouse = workdir / f"warehouse_{customers}.duckdb"
    env = {"THROUGHLINE_WAREHOUSE": str(warehouse)}

    def fresh_data():
        shutil.rmtree(data, ignore_errors=True)

    def fresh_warehouse():
        warehouse.unlink(missing_ok=True)
        Path(f"{warehouse}.wal").unlink(missing_ok=True)

    generate = [THROUGHLINE, "generate", "--customers", str(customers), "--days", str(days), "--seed", "1", "--end", "2026-11-01", "--out", str(data)]
    load = [THROUGHLINE, "load", str(data)]
    results = [
        run_step(f"generate {customers:,} customers, {days} days", generate, setup=fresh_data, repeat=repeat),
        run_step(f"load into an empty warehouse", load, env=env, setup=fresh_warehouse, repeat=repeat),
        run_step("load the same files again", load, env=env, repeat=repeat, note="all duplicates"),
    ]
    events = sum(1 for f in data.glob("*.jsonl") for _ in open(f, "rb"))
    for r in results:
        r.note = (r.note + ", " if r.note else "") + f"{events / r.median_seconds:,.0f} events/s ({events:,} events)"
    return results


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--workdir", type=Path, default=Path("bench/data"))
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    print(markdown_table(run(args.customers, args.days, args.repeat, args.workdir)))


if __name__ == "__main__":
    main()
