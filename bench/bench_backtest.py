"""A backtest at scale: `throughline backtest` replaying a journey hourly over the last
hours of the demo window, and what a 30-day backtest at that pace costs.

    python bench/bench_backtest.py --customers 100000 [--hours 24] [--journey abandoned_cart]

Setup (not timed): the demo data of bench_identity (90 days to 2026-11-01), loaded, the
phone step run, and `dbt build --full-refresh` as of the window's end, as bench_tick's
full build. Timed: `throughline backtest JOURNEY --from END-HOURS --to END --every 1h
--json`, one process: the scratch copy, every instant (each an in-process `dbt run` of
the deciding models), the canvas and the results. The 30-day figure is 720 instants at
the measured mean per instant plus the run's fixed cost (the copy, the canvas, start-up).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import machine  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
THROUGHLINE = str(BIN / "throughline")
END = datetime(2026, 11, 1)
TARGET_SECONDS = 300  # issue 23: 30 days hourly at 100k customers in under 5 minutes


def setup(customers: int, workdir: Path, env: dict) -> None:
    import bench_identity

    warehouse = Path(env["THROUGHLINE_WAREHOUSE"])
    if warehouse.exists():
        print(f"  reusing {warehouse}", flush=True)
        return
    first = bench_identity.ensure_first_window(customers, 90, workdir)
    target = workdir / "dbt_target_backtest"
    for command, extra in (([THROUGHLINE, "load", str(first)], {}), ([sys.executable, "-m", "orchestration.phone_numbers"], {}),
                           ([str(BIN / "dbt"), "build", "--full-refresh", "--exclude-resource-type", "unit_test", "--exclude", "tag:history",
                             "--project-dir", str(ROOT / "dbt_project"), "--profiles-dir", str(ROOT / "dbt_project"),
                             "--target-path", str(target), "--log-path", str(target)],
                            {"THROUGHLINE_NOW": END.strftime("%Y-%m-%d %H:%M:%S")})):
        print(f"  setup: {' '.join(command[:3])} ...", flush=True)
        done = subprocess.run(command, env={**env, **extra}, cwd=ROOT, capture_output=True, text=True)
        if done.returncode:
            warehouse.unlink(missing_ok=True)
            raise RuntimeError(f"{' '.join(command)} failed:\n{done.stdout[-3000:]}{done.stderr[-2000:]}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--hours", type=int, default=24, help="instants to replay, hourly, ending at the window's end")
    parser.add_argument("--journey", default="abandoned_cart")
    parser.add_argument("--workdir", type=Path, default=Path("bench/data"))
    args = parser.parse_args()
    workdir = args.workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "THROUGHLINE_WAREHOUSE": str(workdir / f"backtest_{args.customers}.duckdb"),
           "DBT_SEND_ANONYMOUS_USAGE_STATS": "false", "DO_NOT_TRACK": "1"}
    setup(args.customers, workdir, env)

    start = END - timedelta(hours=args.hours - 1)
    command = [THROUGHLINE, "backtest", args.journey, "--from", start.isoformat(), "--to", END.isoformat(), "--every", "1h", "--json"]
    began, load_before = time.perf_counter(), os.getloadavg()[0]
    done = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True)
    wall = time.perf_counter() - began
    if done.returncode:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stderr[-3000:]}")
    result = json.loads(done.stdout)
    per_instant = result["seconds_per_instant"]
    fixed = wall - per_instant * result["instants"]
    thirty_days = fixed + 720 * per_instant
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    print(f"\nMachine: {machine()}\n")
    print("| customers | journey | instants (hourly) | would send | wall (s) | mean per instant (s) | fixed (s) "
          "| 30 days hourly, estimated (s) | target | commit, load average before / after |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    verdict = "met" if thirty_days < TARGET_SECONDS else "not met"
    print(f"| {args.customers:,} | {args.journey} | {result['instants']} | {result['would_send']:,} | {wall:.1f} | {per_instant:.2f} "
          f"| {fixed:.1f} | {thirty_days:,.0f} | < {TARGET_SECONDS}: {verdict} | {commit}, {load_before:.1f} / {os.getloadavg()[0]:.1f} |")
    print(f"\ncommand: {' '.join(command)} (THROUGHLINE_WAREHOUSE={env['THROUGHLINE_WAREHOUSE']})")


if __name__ == "__main__":
    main()
