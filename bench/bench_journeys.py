"""The journey layer at scale: a full build, then a tick after ~1% more events.

    python bench/bench_journeys.py --customers 100000 [--repeat 1]

Setup (not timed): the demo data of bench_identity (90 days, then 2 more days of the same
people), loaded, with the phone step and every upstream model built as of the window's
end. Timed, each as its own process: `dbt run` of models/journeys with --full-refresh;
then, after loading the new days and updating the upstream models, `dbt run` of
models/journeys as a tick runs it (incremental: only the customers something happened
to, and those still in progress, are re-decided - docs/journeys.md).

Each step is reported by the process's wall time and by dbt's own run time (its
run_results.json `elapsed_time`: the models and the run-end checkpoint, without the ~3 s
of Python imports, project loading and artifacts every dbt process pays, which in a
Dagster tick is paid once for the whole warehouse, not by the journeys).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import StepResult, machine, markdown_table, run_step  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
DBT_PROJECT_DIR = ROOT / "dbt_project"
THROUGHLINE = str(BIN / "throughline")


def dbt(target: Path, *args: str) -> list[str]:
    return [str(BIN / "dbt"), *args, "--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir", str(DBT_PROJECT_DIR),
            "--target-path", str(target), "--log-path", str(target / "logs")]


def dbt_elapsed(target: Path) -> float:
    return json.loads((target / "run_results.json").read_text())["elapsed_time"]


def setup(command: list[str], env: dict) -> None:
    subprocess.run(command, env=env, cwd=ROOT, check=True, capture_output=True)


def at(env: dict, now: str) -> dict:
    # `now` as a production tick gets it (THROUGHLINE_NOW, like the clock): a changed
    # --vars would make dbt re-parse the project, which no scheduled tick pays.
    return {**env, "THROUGHLINE_NOW": now}


def run(customers: int, repeat: int, workdir: Path) -> list[StepResult]:
    import bench_identity

    first = workdir / f"events_{customers}_90d"
    new_days = workdir / f"events_{customers}_new_days"
    if not new_days.exists():
        bench_identity.run(customers, 90, 2, 1, workdir)  # generates both windows (and times identity)
    warehouse = workdir / f"journeys_{customers}.duckdb"
    target = workdir / "dbt_target_journeys"
    env = {**os.environ, "THROUGHLINE_WAREHOUSE": str(warehouse), "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
    start, later = "2026-11-01T00:00:00", "2026-11-03T00:00:00"
    full, tick = [], []
    elapsed: dict[str, list[float]] = {"full": [], "tick": []}
    for _ in range(repeat):
        warehouse.unlink(missing_ok=True)
        setup([THROUGHLINE, "load", str(first)], env)
        setup([sys.executable, "-m", "orchestration.phone_numbers"], env)
        setup(dbt(target, "seed"), at(env, start))
        setup(dbt(target, "run", "--select", "+models/journeys", "--exclude", "models/journeys"), at(env, start))
        full.append(run_step("journeys: full build", dbt(target, "run", "--select", "models/journeys", "--full-refresh"), env=at(env, start)))
        elapsed["full"].append(dbt_elapsed(target))
        setup([THROUGHLINE, "load", str(new_days)], env)
        setup([sys.executable, "-m", "orchestration.phone_numbers"], env)
        setup(dbt(target, "run", "--select", "+models/journeys", "--exclude", "models/journeys"), at(env, later))
        tick.append(run_step("journeys: tick after the new days", dbt(target, "run", "--select", "models/journeys"), env=at(env, later)))
        elapsed["tick"].append(dbt_elapsed(target))
    results = []
    for runs in (full, tick):
        step = runs[0]
        for other in runs[1:]:
            step.seconds += other.seconds
            step.peak_rss_mb += other.peak_rss_mb
        results.append(step)
    full_dbt, tick_dbt = statistics.median(elapsed["full"]), statistics.median(elapsed["tick"])
    results[0].note = f"dbt's own run time {full_dbt:.1f} s (runs: {' / '.join(f'{e:.1f}' for e in elapsed['full'])})"
    results[1].note = (f"{results[1].median_seconds / results[0].median_seconds:.0%} of the full build by wall time; "
                       f"dbt's own run time {tick_dbt:.1f} s (runs: {' / '.join(f'{e:.1f}' for e in elapsed['tick'])}), "
                       f"{tick_dbt / full_dbt:.0%} of the full build's")
    return results


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--workdir", type=Path, default=Path("bench/data"))
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    results = run(args.customers, args.repeat, args.workdir.resolve())
    print(f"\nMachine: {machine()}\n")
    print(markdown_table(results))


if __name__ == "__main__":
    main()
