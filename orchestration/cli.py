"""The `throughline` command."""

from __future__ import annotations

import argparse
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

from orchestration.settings import warehouse_path


def cmd_prepare(args: argparse.Namespace) -> int:
    from orchestration.dbt.project import prepare_manifest

    prepare_manifest()
    return 0


def cmd_generate(args: argparse.Namespace) -> int:
    from orchestration.demo_data.generator import generate

    end = datetime.strptime(args.end, "%Y-%m-%d").replace(tzinfo=timezone.utc) if args.end else None
    started = time.perf_counter()
    summary = generate(customers=args.customers, days=args.days, seed=args.seed, out_dir=Path(args.out), end=end)
    print(f"generated {summary.events:,} events for {summary.customers:,} customers "
          f"in {len(summary.files)} files under {args.out} ({time.perf_counter() - started:.1f}s)")
    return 0


def load_paths(paths: list[Path], *, quiet: bool = False) -> int:
    from orchestration.ingest.loader import LOADER_MEMORY_LIMIT, FileLoad, expand_paths, load_file
    from orchestration.summary import format_table
    from orchestration.warehouse import raw_layer

    files = expand_paths(paths)
    if not files:
        print("throughline load: no loadable files (.jsonl, .ndjson, .csv, .parquet) in " + ", ".join(map(str, paths)), file=sys.stderr)
        return 2
    total = FileLoad("total")
    rows = []
    with raw_layer(memory_limit=LOADER_MEMORY_LIMIT) as con:
        for path in files:
            result = load_file(con, path)
            total.add(result)
            rows.append((path.name, result.rows_read, result.rows_loaded, result.rows_duplicate, result.rows_rejected))
    totals = (f"total ({len(files)} files)", total.rows_read, total.rows_loaded, total.rows_duplicate, total.rows_rejected)
    print(format_table(["file", "read", "loaded", "duplicates", "rejected"], [totals] if quiet else rows + [totals]))
    if total.rows_rejected:
        print(f"{total.rows_rejected:,} rows rejected: see raw.rejects (reason_code, reason, source_file, source_line)")
    return 0


def cmd_load(args: argparse.Namespace) -> int:
    from orchestration.ingest.readers import format_of

    paths = [Path(p) for p in args.paths]
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        print("throughline load: no such file or folder: " + ", ".join(missing), file=sys.stderr)
        return 2
    unsupported = [str(p) for p in paths if p.is_file() and format_of(p) is None]
    if unsupported:
        print("throughline load: unsupported file type (expected .jsonl, .ndjson, .csv or .parquet; "
              "text files may be .gz): " + ", ".join(unsupported), file=sys.stderr)
        return 2
    return load_paths(paths)


def build(now: str | None = None, *, log_level: str = "WARNING") -> bool:
    """Run the `tick` job in-process; runs are recorded in DAGSTER_HOME when it is set."""
    import dagster as dg

    from orchestration.definitions import defs

    run_config: dict = {"loggers": {"console": {"config": {"log_level": log_level}}}}
    if now:
        run_config["ops"] = {"dbt_models": {"config": {"now": now}}}
    instance = dg.DagsterInstance.get() if _dagster_home() else dg.DagsterInstance.ephemeral()
    with instance:
        result = defs.resolve_job_def("tick").execute_in_process(instance=instance, run_config=run_config, raise_on_error=False)
    return result.success


def _dagster_home() -> bool:
    import os

    home = os.environ.get("DAGSTER_HOME")
    return bool(home) and Path(home).is_dir()


def cmd_build(args: argparse.Namespace) -> int:
    return 0 if build(args.now) else 1


def cmd_summary(args: argparse.Namespace) -> int:
    from orchestration.summary import warehouse_summary
    from orchestration.warehouse import raw_layer

    with raw_layer() as con:
        print(warehouse_summary(con))
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    out = Path(args.out)
    print(f"== 1/4 generating demo data ({args.customers:,} customers, {args.days} days) into {out}/")
    cmd_generate(argparse.Namespace(customers=args.customers, days=args.days, seed=args.seed, out=str(out), end=args.end))
    print(f"\n== 2/4 loading into {warehouse_path()}")
    if load_paths([out], quiet=True):
        return 1
    print("\n== 3/4 building every dbt model through Dagster (job `tick`)")
    started = time.perf_counter()
    if not build(args.now):
        print("the tick job failed: see the Dagster run log above", file=sys.stderr)
        return 1
    print(f"built in {time.perf_counter() - started:.1f}s")
    print("\n== 4/4 summary")
    return cmd_summary(args)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="throughline", description="Warehouse-native customer journey orchestrator.")
    sub = p.add_subparsers(dest="command", required=True)

    sub.add_parser("prepare", help="parse the dbt project into its manifest (run before Dagster loads)").set_defaults(func=cmd_prepare)

    g = sub.add_parser("generate", help="write realistic Segment-Spec demo events (JSONL, one file per day)")
    g.add_argument("--customers", type=int, default=3000)
    g.add_argument("--days", type=int, default=90)
    g.add_argument("--seed", type=int, default=7)
    g.add_argument("--out", default="demo_data")
    g.add_argument("--end", help="last day of the window, exclusive (YYYY-MM-DD; default: today, UTC)")
    g.set_defaults(func=cmd_generate)

    ld = sub.add_parser("load", help="load JSONL, CSV or Parquet files of Segment calls into the raw layer")
    ld.add_argument("paths", nargs="+", help="files, or folders to load every supported file in")
    ld.set_defaults(func=cmd_load)

    b = sub.add_parser("build", help="build every model through Dagster (the `tick` job)")
    b.add_argument("--now", help="decide as of this UTC instant (ISO 8601) instead of the current time")
    b.set_defaults(func=cmd_build)

    sub.add_parser("summary", help="rows per layer and rejects by reason").set_defaults(func=cmd_summary)

    d = sub.add_parser("demo", help="generate, load, build and summarise: the main job end to end")
    d.add_argument("--customers", type=int, default=3000)
    d.add_argument("--days", type=int, default=90)
    d.add_argument("--seed", type=int, default=7)
    d.add_argument("--out", default="demo_data")
    d.add_argument("--end", help="last day of the generated window, exclusive (YYYY-MM-DD; default: today)")
    d.add_argument("--now", help="decide as of this UTC instant instead of the current time")
    d.set_defaults(func=cmd_demo)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    warehouse_path()
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
