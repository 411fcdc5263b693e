"""Identity resolution and profiles at scale: a full build, then an incremental one.

    python bench/bench_identity.py --customers 100000 [--repeat 1]

1. generate `--days` of demo data for `--customers` people (end 2026-11-01), and the same
   people over `--extra-days` more days, writing only those later days: they are the new
   data (about 1% more events for two days at 100k customers). A longer window is another
   simulation, not an extension (customers' plans scale with the window), so its first
   days can't stand for the first window: it is simulated whole, and only its last days
   are written (`generate(write_from=...)`). The two runs draw from the same per-customer
   random streams, so 17% of the new days' calls (9,870 of 58,176 at 100k, 1,011 of
   5,795 at 10k) carry a messageId the first window already has and load as duplicates;
2. load the first window into an empty warehouse;
3. full build: the phone step, then `dbt build` of the identity and profile models
   (every model and test upstream of the marts, except the staging tests, which belong
   to the foundation and don't change with this layer);
4. load the new days, and build again: the incremental build.

Each step runs as its own process, as a tick would. `--repeat` repeats steps 3-4 on a
fresh copy of the warehouse loaded in step 2 and keeps the medians; the incremental
build's share of the full build is the median of each run's own ratio (a full build and
the incremental build after it run moments apart, on the same busy or idle machine).

"Now" is pinned with the THROUGHLINE_NOW environment variable rather than `--vars`:
dbt re-parses the whole project when `--vars` change between runs, the variable doesn't
make it (see macros/now.sql).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import StepResult, machine, markdown_table, run_step  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
THROUGHLINE = str(BIN / "throughline")
DBT_PROJECT_DIR = ROOT / "dbt_project"
END = "2026-11-01"
IDENTITY_AND_PROFILES = [
    "+customer_identifiers", "+customer_id_merges", "+excluded_identifiers", "+dim_customers",
    "+fct_orders", "+fct_sessions", "+customer_rfm", "+segment_memberships", "+segment_changes",
]


def build_command(target: Path) -> list[str]:
    """One timed process: this script in --build mode (the phone step, then dbt)."""
    return [sys.executable, str(Path(__file__).resolve()), "--build", "--target", str(target)]


def build(target: Path) -> int:
    """What a tick runs for this layer: the phone step (in process, as the Dagster asset
    runs it), then `dbt build` of the identity and profile models and their tests (the
    foundation's staging tests excluded)."""
    from orchestration.phone_numbers import normalise_new_phone_numbers
    from orchestration.warehouse import connect

    con = connect()
    try:
        normalise_new_phone_numbers(con)
    finally:
        con.close()
    dbt = [str(BIN / "dbt"), "build", "--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir", str(DBT_PROJECT_DIR),
           "--target-path", str(target), "--log-path", str(target / "logs"),
           "--select", *IDENTITY_AND_PROFILES, "--exclude", "staging,resource_type:test"]
    return subprocess.run(dbt, cwd=ROOT).returncode


def new_days_command(customers: int, days: int, extra_days: int, out: Path) -> list[str]:
    """One process: this script in --new-days mode (the longer window, its last days written)."""
    return [sys.executable, str(Path(__file__).resolve()), "--new-days", "--customers", str(customers), "--days", str(days),
            "--extra-days", str(extra_days), "--out", str(out)]


def generate_new_days(customers: int, days: int, extra_days: int, out: Path) -> None:
    from datetime import date, timedelta

    from orchestration.demo_data.generator import generate

    end = date.fromisoformat(END)
    generate(customers, days + extra_days, 1, out, end=end + timedelta(days=extra_days), write_from=end)


def _generate_once(folder: Path, command) -> Path:
    """Generate into a `.partial` folder renamed once complete: a folder that exists is whole."""
    if not folder.exists():
        partial = folder.with_name(folder.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        run_step(f"generate {folder.name}", command(partial))
        partial.rename(folder)
    return folder


def ensure_first_window(customers: int, days: int, workdir: Path) -> Path:
    return _generate_once(workdir / f"events_{customers}_{days}d", lambda out: [
        THROUGHLINE, "generate", "--customers", str(customers), "--days", str(days), "--seed", "1", "--end", END, "--out", str(out)])


def ensure_new_days(customers: int, days: int, extra_days: int, workdir: Path) -> Path:
    return _generate_once(workdir / f"events_{customers}_new_days", lambda out: new_days_command(customers, days, extra_days, out))


def run(customers: int, days: int, extra_days: int, repeat: int, workdir: Path) -> list[StepResult]:
    first, new_days = ensure_first_window(customers, days, workdir), ensure_new_days(customers, days, extra_days, workdir)
    warehouse = workdir / f"identity_{customers}.duckdb"
    loaded = workdir / f"identity_{customers}_loaded.duckdb"
    target = workdir / "dbt_target"
    later_end = f"2026-11-{1 + extra_days:02d}"
    now = f"{later_end}T00:00:00"
    env = {"THROUGHLINE_WAREHOUSE": str(warehouse), "THROUGHLINE_NOW": now, "DO_NOT_TRACK": "1", "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}

    def fresh_warehouse():
        warehouse.unlink(missing_ok=True)
        Path(f"{warehouse}.wal").unlink(missing_ok=True)

    def loaded_warehouse():
        fresh_warehouse()
        shutil.copy(loaded, warehouse)

    results = {"load": [], "full": [], "load_new": [], "incremental": []}
    results["load"].append(run_step("load the first window into an empty warehouse", [THROUGHLINE, "load", str(first)], env=env, setup=fresh_warehouse))
    assert not Path(f"{warehouse}.wal").exists(), "the loader closes the warehouse, so it is one file"
    shutil.copy(warehouse, loaded)
    for run_number in range(repeat):
        results["full"].append(run_step("full build: phone step + dbt build", build_command(target), env=env, setup=loaded_warehouse if run_number else None))
        results["load_new"].append(run_step("load the new days", [THROUGHLINE, "load", str(new_days)], env=env))
        results["incremental"].append(run_step("incremental build: phone step + dbt build", build_command(target), env=env))
    loaded.unlink()
    ratios = [inc.seconds[0] / full.seconds[0] for full, inc in zip(results["full"], results["incremental"])]

    merged = []
    for name, runs in results.items():
        step = runs[0]
        for other in runs[1:]:
            step.seconds += other.seconds
            step.peak_rss_mb += other.peak_rss_mb
        merged.append(step)

    events = sum(1 for f in first.glob("*.jsonl") for _ in open(f, "rb"))
    new_events = sum(1 for f in new_days.glob("*.jsonl") for _ in open(f, "rb"))
    full, incremental = merged[1], merged[3]
    full.note = f"{events:,} events"
    merged[2].note = f"{new_events:,} events, {new_events / events:.1%} more"
    incremental.note = f"{statistics.median(ratios):.0%} of the full build (median of {', '.join(f'{r:.0%}' for r in ratios)})"
    return merged


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--extra-days", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--workdir", type=Path, default=Path("bench/data"))
    parser.add_argument("--build", action="store_true", help="internal: run one timed build step")
    parser.add_argument("--target", type=Path)
    parser.add_argument("--new-days", action="store_true", help="internal: generate only the new days into --out")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    if args.build:
        sys.exit(build(args.target))
    if args.new_days:
        sys.exit(generate_new_days(args.customers, args.days, args.extra_days, args.out))
    args.workdir.mkdir(parents=True, exist_ok=True)

    results = run(args.customers, args.days, args.extra_days, args.repeat, args.workdir.resolve())
    print(f"\nMachine: {machine()}\n")
    print(markdown_table(results))


if __name__ == "__main__":
    main()
