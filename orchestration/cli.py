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
    plant = {}
    for text in getattr(args, "plant_effect", None) or ():
        journey, _, lift = text.partition("=")
        try:
            plant[journey.strip()] = float(lift)
        except ValueError:
            print(f"throughline generate: --plant-effect wants JOURNEY=RELATIVE_LIFT (e.g. abandoned_cart=0.2), not {text!r}", file=sys.stderr)
            return 2
    started = time.perf_counter()
    try:
        summary = generate(customers=args.customers, days=args.days, seed=args.seed, out_dir=Path(args.out), end=end, plant=plant)
    except ValueError as error:
        print(f"throughline generate: {error}", file=sys.stderr)
        return 2
    print(f"generated {summary.events:,} events for {summary.customers:,} customers "
          f"in {len(summary.files)} files under {args.out} ({time.perf_counter() - started:.1f}s)")
    for effect in summary.planted:
        print(f"planted: {effect.journey} treated customers convert {1 + effect.relative_lift:.2f}x as often as its "
              f"{effect.holdout_percent:g}% holdout")
    return 0


def load_paths(paths: list[Path], *, quiet: bool = False) -> int:
    from orchestration.ingest.loader import LOADER_MEMORY_LIMIT, FileLoad, expand_paths, load_files
    from orchestration.summary import format_table
    from orchestration.warehouse import raw_layer

    files = expand_paths(paths)
    if not files:
        print("throughline load: no loadable files (.jsonl, .ndjson, .csv, .parquet) in " + ", ".join(map(str, paths)), file=sys.stderr)
        return 2
    total = FileLoad("total")
    rows = []
    with raw_layer(memory_limit=LOADER_MEMORY_LIMIT) as con:
        for path, result in zip(files, load_files(con, files)):
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
    """Run the `build` job (every model, nothing sent) in-process; runs are recorded in
    DAGSTER_HOME when it is set."""
    return _run_job("build", now, log_level=log_level)


def _run_job(job: str, now: str | None = None, *, sync_config: dict | None = None, log_level: str = "WARNING") -> bool:
    import dagster as dg

    from orchestration.definitions import defs

    run_config: dict = {"loggers": {"console": {"config": {"log_level": log_level}}}, "ops": {}}
    if now:
        run_config["ops"]["dbt_models"] = {"config": {"now": now}}
    for op_name, config in (sync_config or {}).items():
        run_config["ops"][op_name] = {"config": config}
    instance = dg.DagsterInstance.get() if _dagster_home() else dg.DagsterInstance.ephemeral()
    with instance:
        result = defs.resolve_job_def(job).execute_in_process(instance=instance, run_config=run_config, raise_on_error=False)
    return result.success


def tick(now: str | None = None, *, confirm_shrink: tuple[str, ...] = (), full_resync: tuple[str, ...] = (),
         log_level: str = "WARNING") -> bool:
    """One loop, as the 5-minute schedule runs it: load landed files, build, sync. The
    warehouse lock is held throughout, so two ticks started at once run one after the other."""
    from orchestration.syncs.assets import load_sync_specs, sync_op_name
    from orchestration.syncs.lock import warehouse_lock

    specs = {spec.name: spec for spec in load_sync_specs()}
    unknown = [name for name in (*confirm_shrink, *full_resync) if name not in specs]
    if unknown:
        raise SystemExit(f"throughline tick: no sync named {', '.join(unknown)}; see `throughline syncs`")
    sync_config = {}
    for spec in specs.values():
        config = {"now": now} if now else {}
        if spec.name in confirm_shrink:
            config["confirm_shrink"] = True
        if spec.name in full_resync:
            config["full_resync"] = True
        if config:
            sync_config[sync_op_name(spec)] = config
    with warehouse_lock():
        return _run_job("tick", now, sync_config=sync_config, log_level=log_level)


def _dagster_home() -> bool:
    import os

    home = os.environ.get("DAGSTER_HOME")
    return bool(home) and Path(home).is_dir()


def cmd_build(args: argparse.Namespace) -> int:
    return 0 if build(args.now) else 1


def cmd_tick(args: argparse.Namespace) -> int:
    started = datetime.now(timezone.utc).replace(tzinfo=None)
    ok = tick(args.now, confirm_shrink=tuple(args.confirm_shrink), full_resync=tuple(args.full_resync))
    print(sync_runs_table(since=started))
    if not ok:
        print("the tick failed: see the Dagster run log above and `throughline syncs`", file=sys.stderr)
    return 0 if ok else 1


def sync_runs_table(since: datetime | None = None) -> str:
    """Each sync's latest run (since `since`, if given) with its counts."""
    from orchestration.summary import format_table
    from orchestration.syncs.assets import load_sync_specs
    from orchestration.syncs.store import SyncStore
    from orchestration.warehouse import raw_layer

    with raw_layer() as con:
        runs = {r["sync_name"]: r for r in SyncStore(con).last_runs()}
    rows = []
    for spec in load_sync_specs():
        run = runs.get(spec.name)
        if run and since and run["started_at"] < since:
            run = None
        counts = [run.get(n) or 0 for n in ("added", "removed", "changed", "sent", "rejected", "skipped", "unknown")] if run else [""] * 7
        rows.append((spec.destination, spec.name, spec.operation, spec.mode, run["status"] if run else "never run",
                     f"{run['finished_at'] or run['started_at']:%Y-%m-%d %H:%M:%S}" if run else "", *counts))
    headers = ["destination", "sync", "operation", "mode", "last run", "at (UTC)", "added", "removed", "changed", "sent", "rejected", "skipped", "unknown"]
    return format_table(headers, sorted(rows))


def cmd_syncs(args: argparse.Namespace) -> int:
    print(sync_runs_table())
    return 0


def cmd_destinations(args: argparse.Namespace) -> int:
    import json

    from connectors.registry import available, describe
    from orchestration.summary import format_table

    unknown = sorted(set(args.names) - set(available()))
    if unknown:
        print(f"unknown destination(s): {', '.join(unknown)}; known: {', '.join(available())}", file=sys.stderr)
        return 2
    described = [describe(name) for name in args.names or available()]
    if args.json:
        print(json.dumps(described, indent=2))
        return 0

    def rate(limit: dict | None) -> str:
        if limit is None:
            return "-"
        every = limit["per_seconds"]
        return f"{limit['requests']:g}/s" if every == 1 else f"{limit['requests']:g} per {every:g} s"

    headers = ["destination", "operation", "records/request", "bytes/request", "rate", "dedup",
               "target", "concurrency"]
    rows = [(d["name"], o["operation"], f"{o['max_records']:,}", f"{o['max_bytes']:,}" if o["max_bytes"] else "-",
             rate(o["rate"]), "yes" if o["deduplicated"] else "no",
             "needed" if o["needs_target"] else "-", str(d["max_concurrency"]))
            for d in described for o in d["operations"]]
    print(format_table(headers, rows))
    print(f"\n{len(described)} destination{'s' if len(described) != 1 else ''}. dedup: the vendor stores a resent record once, so a request whose "
          "outcome is unknown is retried; otherwise it is left unknown, never resent. Settings: THROUGHLINE_<NAME>_* "
          "environment variables.")
    return 0


def cmd_preview(args: argparse.Namespace) -> int:
    from orchestration.syncs.assets import load_sync_specs
    from orchestration.syncs.runner import RunOptions, preview_sync

    specs = {spec.name: spec for spec in load_sync_specs()}
    if args.sync not in specs:
        print(f"throughline preview: no sync named {args.sync!r}; syncs: {', '.join(sorted(specs)) or 'none'}", file=sys.stderr)
        return 2
    plan = preview_sync(specs[args.sync], RunOptions(full_resync=args.full_resync, cleanup=args.cleanup))
    sample = plan.pop("sample")
    print(f"preview of {args.sync} (dry run: nothing is sent, nothing is recorded)")
    for name, value in plan.items():
        if value is not None:
            print(f"  {name:<24} {value:,}" if isinstance(value, int) else f"  {name:<24} {value}")
    for step, keys in sample.items():
        if keys:
            print(f"  {step} (first {len(keys)}):")
            for key in keys:
                print(f"    {key}")
    return 0


def cmd_delivery_events(args: argparse.Namespace) -> int:
    from orchestration.syncs.delivery_events import load_delivery_events
    from orchestration.syncs.lock import warehouse_lock
    from orchestration.warehouse import raw_layer

    with warehouse_lock(), raw_layer() as con:
        for path in args.paths:
            counts = load_delivery_events(con, args.provider, Path(path))
            print(f"{path}: {counts['events']:,} events, {counts['added']:,} new")
    return 0


def cmd_summary(args: argparse.Namespace) -> int:
    from orchestration.summary import warehouse_summary
    from orchestration.warehouse import raw_layer

    with raw_layer() as con:
        print(warehouse_summary(con))
    return 0


def cmd_explain(args: argparse.Namespace) -> int:
    import duckdb

    from orchestration.explain import decided_as_of, explain
    from orchestration.warehouse import connect

    if args.at:
        with decided_as_of(args.at) as copy, duckdb.connect(str(copy), read_only=True) as con:
            print(explain(con, args.customer, args.journey, now=args.at))
        return 0
    con = connect(read_only=True)
    try:
        print(explain(con, args.customer, args.journey))
    finally:
        con.close()
    return 0


def cmd_backtest(args: argparse.Namespace) -> int:
    import json

    from orchestration.backtest import (BacktestError, format_backtest, format_comparison, parse_every, parse_instant,
                                        run_backtest, run_comparison)
    from orchestration.dbt.runner import DbtError

    def progress(number: int, total: int, at: datetime, seconds: float) -> None:
        if not args.json:
            print(f"  instant {number}/{total} {at:%Y-%m-%d %H:%M} ({seconds:.1f}s)", file=sys.stderr, flush=True)

    try:
        window = (args.journey, parse_instant("--from", args.start), parse_instant("--to", args.end), parse_every(args.every))
        if args.against:
            comparison = run_comparison(*window, args.against, progress=progress)
        else:
            result = run_backtest(*window, progress=progress)
    except BacktestError as error:
        print(f"throughline backtest: {error}", file=sys.stderr)
        return 2
    except DbtError as error:  # the warehouse is untouched: the failed run was in the scratch copy
        print(f"throughline backtest: deciding in the scratch copy failed; the warehouse is unchanged.\n{error}", file=sys.stderr)
        return 1
    result = comparison.working if args.against else result
    if not args.against:
        print(json.dumps(result.to_json(), indent=2) if args.json else format_backtest(result))
    elif args.json:
        print(json.dumps({**result.to_json(), "against": comparison.label,
                          "against_would_send": len(comparison.other.sends),
                          "differences": [{**vars(d), "sent_at": d.sent_at.isoformat(sep=" ")} for d in comparison.differences]},
                         indent=2))
    else:
        print(format_comparison(comparison))
    if args.canvas:
        from orchestration.backtest_canvas import write_canvas_svg

        write_canvas_svg(result, Path(args.canvas))
        print(f"wrote the canvas with the simulated counts to {args.canvas}", file=sys.stderr if args.json else sys.stdout)
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    import duckdb

    from orchestration.report import write_report

    path = warehouse_path()
    if not path.exists():
        print(f"throughline report: no warehouse at {path}; load events and run `throughline build` first", file=sys.stderr)
        return 2
    out = Path(args.out)
    with duckdb.connect(str(path), read_only=True) as con:
        data = write_report(con, out)
    print(f"wrote {out} ({len(data.funnels)} journeys" + (f"; not built yet: {', '.join(data.missing)}" if data.missing else "") + ")")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    import os
    from datetime import timedelta

    from orchestration.syncs.local import local_destinations

    out = Path(args.out)
    print(f"== 1/5 generating demo data ({args.customers:,} customers, {args.days} days) into {out}/")
    cmd_generate(argparse.Namespace(customers=args.customers, days=args.days, seed=args.seed, out=str(out), end=args.end))
    print(f"\n== 2/5 loading into {warehouse_path()}")
    if load_paths([out], quiet=True):
        return 1
    first = datetime.fromisoformat(args.now) if args.now else datetime.now(timezone.utc).replace(tzinfo=None, microsecond=0)
    with local_destinations() as local:
        os.environ.update(local.env)  # every connector and sync target points at the local vendor servers
        for number, at in ((3, first), (4, first + timedelta(hours=1))):
            print(f"\n== {number}/5 tick at {at:%Y-%m-%d %H:%M} UTC: build every model, sync to "
                  f"{', '.join(local.servers)} (local vendor servers)")
            started_at = datetime.now(timezone.utc).replace(tzinfo=None)
            started = time.perf_counter()
            if not tick(at.isoformat(sep=" ")):
                print("the tick failed: see the Dagster run log above", file=sys.stderr)
                return 1
            print(f"ticked in {time.perf_counter() - started:.1f}s")
            print(sync_runs_table(since=started_at))
        print(f"\n(the second tick sent only what changed; the local servers answered {local.requests():,} requests in all)")
    print("\n== 5/5 summary")
    return cmd_summary(args)


def cmd_collect(args: argparse.Namespace) -> int:
    import logging
    import signal

    from orchestration.collect.server import Collector, CollectorSettings

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    try:
        settings = CollectorSettings.from_env()
    except ValueError as error:
        print(f"throughline collect: {error}", file=sys.stderr)
        return 2
    collector = Collector(settings)

    def stop(*_: object) -> None:  # SIGTERM (a process manager's stop) closes the open segment, as Ctrl-C does
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    print(f"throughline collect: Segment's Tracking API on {collector.url}/v1/, calls kept in {settings.folder}", flush=True)
    try:
        collector.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        collector.http.server_close()
        collector.spool.close()
    return 0


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
    g.add_argument("--plant-effect", action="append", default=[], metavar="JOURNEY=RELATIVE_LIFT",
                   help="treated customers of JOURNEY convert 1 + RELATIVE_LIFT times as often as its holdout "
                        "(e.g. abandoned_cart=0.2; repeatable), to check the measured lift against a known truth")
    g.set_defaults(func=cmd_generate)

    ld = sub.add_parser("load", help="load JSONL, CSV or Parquet files of Segment calls into the raw layer")
    ld.add_argument("paths", nargs="+", help="files, or folders to load every supported file in")
    ld.set_defaults(func=cmd_load)

    sub.add_parser("collect", help="receive events from Segment/RudderStack SDKs over HTTP (Segment's Tracking API) into the landing folder "
                   "(THROUGHLINE_COLLECT_WRITE_KEYS, _HOST, _PORT)").set_defaults(func=cmd_collect)

    b = sub.add_parser("build", help="build every model through Dagster (the `build` job; nothing is sent)")
    b.add_argument("--now", help="decide as of this UTC instant (ISO 8601) instead of the current time")
    b.set_defaults(func=cmd_build)

    t = sub.add_parser("tick", help="one loop: load the landing folder, build every model, run the syncs")
    t.add_argument("--now", help="decide as of this UTC instant (ISO 8601) instead of the current time")
    t.add_argument("--confirm-shrink", action="append", default=[], metavar="SYNC",
                   help="apply this sync even though its audience shrinks past its threshold (repeatable)")
    t.add_argument("--full-resync", action="append", default=[], metavar="SYNC",
                   help="resend every member of this sync and rebuild its state (repeatable)")
    t.set_defaults(func=cmd_tick)

    pv = sub.add_parser("preview", help="dry run of one sync: what would be added, removed, changed or sent, and to whom")
    pv.add_argument("sync")
    pv.add_argument("--full-resync", action="store_true", help="preview a full resync")
    pv.add_argument("--cleanup", action="store_true", help="preview a mirror cleanup (remove every member Throughline added)")
    pv.set_defaults(func=cmd_preview)

    sub.add_parser("syncs", help="every declared sync with its last run and counts").set_defaults(func=cmd_syncs)

    ds = sub.add_parser("destinations", help="every destination with its capabilities: operations, batch limits, rate, dedup")
    ds.add_argument("names", nargs="*", help="only these destinations")
    ds.add_argument("--json", action="store_true", help="as JSON")
    ds.set_defaults(func=cmd_destinations)

    de = sub.add_parser("delivery-events", help="load what a destination reported (bounces, complaints, unsubscribes, opens, clicks)")
    de.add_argument("provider", choices=["sendgrid", "twilio", "braze", "customerio"])
    de.add_argument("paths", nargs="+", help="webhook payloads or exports, as the provider sends them")
    de.set_defaults(func=cmd_delivery_events)

    sub.add_parser("summary", help="rows per layer and rejects by reason").set_defaults(func=cmd_summary)

    e = sub.add_parser("explain", help="a customer's timeline: events, journeys, every decision with its reason, sends")
    e.add_argument("--customer", required=True, help="a customer id, or any identifier: user id, email, phone, anonymous id")
    e.add_argument("--journey", help="only this journey's entries, decisions and sends")
    e.add_argument("--at", help="decide as of this UTC instant (rebuilds the journeys in a copy of the warehouse)")
    e.set_defaults(func=cmd_explain)

    bt = sub.add_parser("backtest", help="replay a journey's decisions over a past window in a scratch copy "
                        "of the warehouse (nothing is sent): what it would have sent, suppressed, deferred")
    bt.add_argument("journey")
    bt.add_argument("--from", dest="start", required=True, help="the first instant (UTC, ISO 8601)")
    bt.add_argument("--to", dest="end", required=True, help="the last instant at most (UTC, ISO 8601)")
    bt.add_argument("--every", default="1h", help="time between instants: 15m, 1h, 1d (default 1h)")
    bt.add_argument("--against", metavar="REF", help="also replay the journey as it is in a git ref (HEAD, main~2) "
                    "or another YAML file, and list what differs, customer by customer")
    bt.add_argument("--json", action="store_true", help="as JSON, with every simulated send")
    bt.add_argument("--canvas", metavar="FILE.svg", help="also draw the journey's canvas with the simulated counts to FILE.svg")
    bt.set_defaults(func=cmd_backtest)

    r = sub.add_parser("report", help="write the journey report: one self-contained HTML file with charts")
    r.add_argument("--out", default="report.html", help="where to write it (default: report.html)")
    r.set_defaults(func=cmd_report)

    d = sub.add_parser("demo", help="generate, load, tick twice against the local vendor servers, summarise")
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
