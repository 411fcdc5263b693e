"""The whole warehouse loop at scale: a full build, a tick after ~1% new events, and a
tick with nothing new - each the `dbt build` a Dagster tick runs (every model and data
test, but the history checks, which run nightly, and the unit tests, which run in the
test suite), with the time of each model group.

    python bench/bench_tick.py --customers 100000 [--repeat 3] [--reuse-loaded] [--setup-only]

Setup (not part of the results): the demo data of bench_identity (90 days, then 2 more
days of the same people, generated when missing), the first window loaded and the phone
step run, kept as `tick_N_loaded.duckdb`. With `--reuse-loaded` that file is kept after
the run and, when present, reused instead of loading again (at 1M customers the load takes
a while and the copy is big); `--setup-only` stops after the setup (and keeps that file).
Timed, each as its own process:
1. full build: `dbt build --full-refresh` as of the window's end;
2. tick: the new days loaded (not timed: see the ingest figures), the phone step, then
   `dbt build` two days later;
3. idle tick: `dbt build` five minutes after that, with nothing new.
`--repeat` runs 1-3 again on a fresh copy of the loaded warehouse; each tick's share of
the full build is the median of the runs' own ratios. "Now" is pinned by THROUGHLINE_NOW
(as a scheduled tick reads the clock), not `--vars`, which would make dbt re-parse.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import StepResult, machine, markdown_table, run_step  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
THROUGHLINE = str(BIN / "throughline")
DBT_PROJECT_DIR = ROOT / "dbt_project"
START, LATER, IDLE = "2026-11-01T00:00:00", "2026-11-03T00:00:00", "2026-11-03T00:05:00"


def dbt_build(target: Path, *extra: str) -> list[str]:
    """The dbt command of the Dagster tick (orchestration/dbt/assets.py)."""
    return [str(BIN / "dbt"), "build", "--exclude-resource-type", "unit_test", "--exclude", "tag:history", *extra, "--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir", str(DBT_PROJECT_DIR),
            "--target-path", str(target), "--log-path", str(target / "logs")]


def group_seconds(target: Path) -> dict[str, float]:
    """Seconds per model group (the models' folder; tests and seeds apart) of the last run."""
    nodes = json.loads((target / "manifest.json").read_text())["nodes"]
    seconds: dict[str, float] = defaultdict(float)
    for result in json.loads((target / "run_results.json").read_text())["results"]:
        node = nodes.get(result["unique_id"], {})
        kind = node.get("resource_type", "test")
        group = node["fqn"][1] if kind == "model" else f"{kind}s"
        seconds[group] += result["execution_time"]
    return dict(seconds)


def run(customers: int, repeat: int, workdir: Path, reuse_loaded: bool = False, setup_only: bool = False) -> tuple[list[StepResult], str]:
    import bench_identity

    warehouse, loaded = workdir / f"tick_{customers}.duckdb", workdir / f"tick_{customers}_loaded.duckdb"
    reuse = reuse_loaded and loaded.exists()
    target = workdir / "dbt_target_tick"
    env = {**os.environ, "THROUGHLINE_WAREHOUSE": str(warehouse), "DBT_SEND_ANONYMOUS_USAGE_STATS": "false", "DO_NOT_TRACK": "1"}

    def setup(command: list[str]) -> None:
        done = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True)
        if done.returncode:
            raise RuntimeError(f"{' '.join(command)} failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")

    def fresh_warehouse(source: Path | None = None) -> None:
        for path in (warehouse, Path(f"{warehouse}.wal")):
            path.unlink(missing_ok=True)
        if source:
            shutil.copy(source, warehouse)

    setup_steps = []
    if reuse:
        print(f"  reusing {loaded}", flush=True)
        if not setup_only:
            fresh_warehouse(loaded)
    else:  # the first window is needed only to load it
        first = bench_identity.ensure_first_window(customers, 90, workdir)
        fresh_warehouse()
        setup_steps.append(run_step("load the first window", [THROUGHLINE, "load", str(first)], env=env))
        setup_steps.append(run_step("phone step", [sys.executable, "-m", "orchestration.phone_numbers"], env=env))
        assert not Path(f"{warehouse}.wal").exists(), "each step closes the warehouse, so it is one file"
        partial = loaded.with_name(loaded.name + ".partial")  # renamed once whole: a loaded file that exists is complete
        if setup_only:
            warehouse.rename(partial)  # nothing runs on it now: no second copy on disk
        else:
            shutil.copy(warehouse, partial)
        partial.rename(loaded)
    new_days = bench_identity.ensure_new_days(customers, 90, 2, workdir)
    if setup_only:
        return setup_steps, ""

    steps = {name: StepResult(name, []) for name in ("full build", "tick after ~1% new events", "tick with nothing new")}
    groups: dict[str, list[dict[str, float]]] = defaultdict(list)
    for run_number in range(repeat):
        if run_number:
            fresh_warehouse(loaded)
        for name, now, extra in (("full build", START, ("--full-refresh",)), ("tick after ~1% new events", LATER, ()),
                                 ("tick with nothing new", IDLE, ())):
            if name.startswith("tick after"):
                setup([THROUGHLINE, "load", str(new_days)])
                setup([sys.executable, "-m", "orchestration.phone_numbers"])
            measured = run_step(name, dbt_build(target, *extra), env={**env, "THROUGHLINE_NOW": now})
            steps[name].command = measured.command
            steps[name].seconds += measured.seconds
            steps[name].peak_rss_mb += measured.peak_rss_mb
            groups[name].append(group_seconds(target))
    if not reuse_loaded:
        loaded.unlink()

    full = steps["full build"]
    for name in ("tick after ~1% new events", "tick with nothing new"):
        ratios = [tick / whole for tick, whole in zip(steps[name].seconds, full.seconds)]
        steps[name].note = f"{statistics.median(ratios):.0%} of the full build"
    return list(steps.values()), group_table(groups)


def group_table(groups: dict[str, list[dict[str, float]]]) -> str:
    """dbt's own time per group (median over the runs), a column per step."""
    names = sorted({g for runs in groups.values() for run in runs for g in run}, key=lambda g: -statistics.median(
        run.get(g, 0.0) for run in groups["full build"]))
    lines = ["| group (dbt seconds, summed over models) | " + " | ".join(groups) + " |", "|---" * (len(groups) + 1) + "|"]
    for group in names:
        cells = [f"{statistics.median(run.get(group, 0.0) for run in runs):.1f}" for runs in groups.values()]
        lines.append(f"| {group} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--workdir", type=Path, default=Path("bench/data"))
    parser.add_argument("--reuse-loaded", action="store_true", help="keep tick_N_loaded.duckdb, and reuse it when present")
    parser.add_argument("--setup-only", action="store_true", help="generate and load when missing, then stop")
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    results, groups = run(args.customers, args.repeat, args.workdir.resolve(), args.reuse_loaded, args.setup_only)
    print(f"\nMachine: {machine()}\n")
    if results:
        print(markdown_table(results))
    if groups:
        print()
        print(groups)


if __name__ == "__main__":
    main()
