"""The landing folder: files dropped there are loaded by the next tick.

`landing_files` is the asset behind raw/events, raw/rejects and raw/loads: it loads every
file in the folder that raw.loads has not seen since it last changed (loading is
idempotent by messageId anyway, so a file loaded twice adds nothing). Destination reports
dropped under `delivery_events/<provider>/` are loaded into raw.delivery_events
(orchestration/syncs/delivery_events.py). The sensor looks for new files and starts the
`tick` job, which loads them and runs the whole loop.
"""

from __future__ import annotations

import os
from pathlib import Path

import dagster as dg

from orchestration.syncs.lock import warehouse_lock

LANDING_TAG = {"throughline/role": "landing"}


def landing_dir() -> Path:
    """`THROUGHLINE_LANDING_DIR`, else ./landing."""
    return Path(os.environ.get("THROUGHLINE_LANDING_DIR", "landing")).expanduser().resolve()


EVENTS_FOLDER = "delivery_events"
COLLECTED_FOLDER = "collected"


def collected_dir() -> Path:
    """Where `throughline collect` keeps the calls it received: `THROUGHLINE_COLLECT_DIR`,
    else landing/collected. The loader deletes each segment it has loaded."""
    configured = os.environ.get("THROUGHLINE_COLLECT_DIR")
    return Path(configured).expanduser().resolve() if configured else landing_dir() / COLLECTED_FOLDER


def _files(folder: Path) -> list[Path]:
    """Segment call files dropped there (not the destinations' reports, nor the collector's
    segments: collected_files() lists those)."""
    from orchestration.ingest.loader import expand_paths

    if not folder.is_dir():
        return []
    return [p for p in expand_paths([folder]) if not {EVENTS_FOLDER, COLLECTED_FOLDER} & set(p.relative_to(folder).parts)]


def _report_files(folder: Path) -> list[tuple[str, Path]]:
    """(provider, file) under delivery_events/<provider>/."""
    from orchestration.syncs.delivery_events import PROVIDERS

    root = folder / EVENTS_FOLDER
    return [(provider, path) for provider in PROVIDERS if (root / provider).is_dir()
            for path in sorted((root / provider).iterdir()) if path.is_file()]


def new_files(con, folder: Path | None = None) -> list[Path]:
    """Files in the landing folder not loaded since they last changed."""
    from datetime import UTC, datetime

    loaded = dict(con.execute("select source_file, max(started_at) from raw.loads group by 1").fetchall())
    fresh = []
    for path in _files(folder or landing_dir()):
        changed = datetime.fromtimestamp(path.stat().st_mtime, UTC).replace(tzinfo=None)
        last = loaded.get(str(path.resolve()))
        if last is None or changed > last:
            fresh.append(path)
    return fresh


def collected_files() -> list[Path]:
    """The collector's closed segments, oldest first (outside the landing folder too, when
    THROUGHLINE_COLLECT_DIR puts them elsewhere)."""
    from orchestration.collect.spool import CLOSED_SUFFIX

    folder = collected_dir()
    return sorted(folder.glob("*" + CLOSED_SUFFIX)) if folder.is_dir() else []


def load_landing(folder: Path | None = None) -> dict[str, int]:
    from orchestration.ingest.loader import LOADER_MEMORY_LIMIT, FileLoad, load_files
    from orchestration.warehouse import raw_layer

    from orchestration.syncs.delivery_events import load_delivery_events

    total = FileLoad("total")
    reported = 0
    with warehouse_lock(), raw_layer(memory_limit=LOADER_MEMORY_LIMIT) as con:
        files = new_files(con, folder) + collected_files()
        for result in load_files(con, files):
            total.add(result)
        for path in files:
            if path.parent == collected_dir():  # in raw.events now (committed): the collector's backlog shrinks
                path.unlink()
        for provider, path in _report_files(folder or landing_dir()):
            reported += load_delivery_events(con, provider, path)["added"]
    return {"files": len(files), "read": total.rows_read, "loaded": total.rows_loaded,
            "duplicates": total.rows_duplicate, "rejected": total.rows_rejected, "delivery_events_added": reported}


@dg.multi_asset(
    specs=[
        dg.AssetSpec(["raw", "events"], group_name="raw", tags=LANDING_TAG, description="Segment calls, loaded from the landing folder."),
        dg.AssetSpec(["raw", "rejects"], group_name="raw", tags=LANDING_TAG, description="Rows the loader refused, with the reason."),
        dg.AssetSpec(["raw", "loads"], group_name="raw", tags=LANDING_TAG, description="One row per file per load, with its counts."),
    ],
    name="landing_files",
    pool="warehouse",
)
def landing_files():
    counts = load_landing()
    yield dg.MaterializeResult(asset_key=["raw", "events"], metadata={**counts, "folder": str(landing_dir())})
    yield dg.MaterializeResult(asset_key=["raw", "rejects"], metadata={"rejected": counts["rejected"]})
    yield dg.MaterializeResult(asset_key=["raw", "loads"], metadata={"files": counts["files"]})


# A look at the folder is a directory listing, so the sensor looks as often as the daemon
# allows: its sensor loop comes round every 5 s, and a minimum interval of 5 s made it skip
# every other loop (the last look was 4.99 s ago), so a landed file waited 5-10 s. Under 5 s,
# the sensor is evaluated on every loop.
LANDING_SENSOR_INTERVAL = 1


@dg.sensor(job_name="tick", minimum_interval_seconds=LANDING_SENSOR_INTERVAL, default_status=dg.DefaultSensorStatus.RUNNING,
           description="Starts a tick when new files land in THROUGHLINE_LANDING_DIR (./landing by default).")
def landing_sensor(context: dg.SensorEvaluationContext):
    files = _files(landing_dir()) + collected_files() + [path for _, path in _report_files(landing_dir())]
    if not files:
        return dg.SkipReason(f"no files in {landing_dir()}")
    # The cursor is the newest change seen: a file dropped (or rewritten) later starts a tick.
    newest = max(path.stat().st_mtime for path in files)
    if context.cursor and newest <= float(context.cursor):
        return dg.SkipReason("no new files since the last tick")
    context.update_cursor(str(newest))
    return dg.RunRequest(run_key=f"landing-{newest}")
