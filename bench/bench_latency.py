"""End-to-end latency: a file lands (or an SDK posts to the collector), the Dagster daemon's
landing sensor starts a tick, and the local SendGrid server accepts the welcome email.
Median over several drops.

    python bench/bench_latency.py [--via file|sdk] [--customers 200] [--drops 3] [--workdir /tmp/bench_latency]

With `--via sdk`, `throughline collect` runs beside the daemon and each drop's calls are
sent by Segment's Python SDK (flushed at once); the clock starts at the first call.

Set up once: a small demo warehouse (generated, loaded and built by `throughline demo`),
the local vendor servers (in this process), and `dagster-daemon run` on a fresh
DAGSTER_HOME with the project's dagster.yaml, the landing folder and the servers in its
environment, exactly as `make dev` runs the daemon. Each drop writes one JSONL file of
Segment calls for new people: identify (with an email), email consent, and a newsletter
subscription (the welcome_newsletter journey's entry, no wait step), renamed into the
landing folder in one step. The clock runs from that rename until the SendGrid server
has accepted a message to one of them: the sensor's interval, the run's start, the
load, the dbt build, the journey decision and the sync. Several people per drop, because
the journey keeps a holdout arm. The next drop waits until the run has finished.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PEOPLE_PER_DROP = 8
TIMEOUT = 600  # seconds to wait for one delivery before calling the drop failed


def calls(drop: int, now: datetime) -> list[dict]:
    """Segment calls for PEOPLE_PER_DROP new people who subscribe to the newsletter."""
    rows = []
    for person in range(PEOPLE_PER_DROP):
        user = f"usr_lat{drop:02d}{person:02d}{uuid.uuid4().hex[:6]}"
        at = lambda seconds: (now - timedelta(seconds=seconds)).isoformat(timespec="milliseconds") + "Z"  # noqa: E731
        base = {"userId": user, "anonymousId": str(uuid.uuid4()), "context": {"timezone": "America/New_York"}}
        rows += [
            {**base, "type": "identify", "messageId": str(uuid.uuid4()), "timestamp": at(30),
             "traits": {"email": f"{user}@example.com", "first_name": "Lat", "country": "US"}},
            {**base, "type": "track", "messageId": str(uuid.uuid4()), "timestamp": at(20), "event": "email_consent_given",
             "properties": {"source": "signup_form"}},
            {**base, "type": "track", "messageId": str(uuid.uuid4()), "timestamp": at(10), "event": "newsletter_subscribed",
             "properties": {"source": "blog_popup", "list": "product_updates"}},
        ]
    return rows


def post_with_sdk(client, rows: list[dict]) -> None:
    for row in rows:
        common = dict(user_id=row["userId"], anonymous_id=row["anonymousId"], context=row["context"], message_id=row["messageId"],
                      timestamp=datetime.fromisoformat(row["timestamp"].replace("Z", "+00:00")))
        if row["type"] == "identify":
            client.identify(traits=row["traits"], **common)
        else:
            client.track(event=row["event"], properties=row["properties"], **common)
    client.flush()


def _recipients(server) -> set[str]:
    with server.lock:
        return {to["email"] for message in server.messages for to in message["personalization"].get("to", [])}


def _stamp(when: datetime) -> float:
    return (when if when.tzinfo else when.replace(tzinfo=UTC)).timestamp()  # Dagster stores UTC


def _step_times(instance, run_id: str, step_key: str) -> tuple[float, float]:
    """When a step of the run started and finished (event log timestamps)."""
    import dagster as dg

    events = instance.all_logs(run_id, of_type={dg.DagsterEventType.STEP_START, dg.DagsterEventType.STEP_SUCCESS,
                                                dg.DagsterEventType.STEP_FAILURE})
    times = {e.dagster_event.event_type: e.timestamp for e in events if e.step_key == step_key}
    end = times.get(dg.DagsterEventType.STEP_SUCCESS) or times[dg.DagsterEventType.STEP_FAILURE]
    return times[dg.DagsterEventType.STEP_START], end


def _runs_in_progress(instance) -> int:
    import dagster as dg

    busy = [dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.NOT_STARTED, dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED]
    return len(instance.get_runs(filters=dg.RunsFilter(statuses=busy)))


def run(customers: int, drops: int, workdir: Path, via: str = "file") -> str:
    import dagster as dg

    from orchestration.syncs.local import local_destinations

    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    landing, home, warehouse = workdir / "landing", workdir / "dagster_home", workdir / "warehouse.duckdb"
    landing.mkdir()
    home.mkdir()
    shutil.copy(ROOT / "dagster.yaml", home / "dagster.yaml")
    env = {**os.environ, "THROUGHLINE_WAREHOUSE": str(warehouse), "THROUGHLINE_LANDING_DIR": str(landing),
           "DAGSTER_HOME": str(home), "DO_NOT_TRACK": "1", "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    bin_dir = Path(sys.executable).parent
    print(f"demo warehouse of {customers} customers", flush=True)
    subprocess.run([str(bin_dir / "throughline"), "demo", "--customers", str(customers), "--days", "14", "--seed", "3",
                    "--out", str(workdir / "seed")], cwd=ROOT, env={**env, "DAGSTER_HOME": ""}, check=True,
                   stdout=subprocess.DEVNULL)
    latencies = []
    os.environ["DAGSTER_HOME"] = str(home)
    with dg.DagsterInstance.get() as instance:  # its storage created once, before the daemon's processes race to
        instance.get_runs(limit=1), instance.all_instigator_state(), instance.get_latest_materialization_event(dg.AssetKey("x"))
    with local_destinations() as local:
        env.update(local.env)
        sendgrid = local.servers["sendgrid"]
        daemon = subprocess.Popen([str(bin_dir / "dagster-daemon"), "run", "-w", "workspace.yaml"], cwd=ROOT, env=env,
                                  stdout=open(workdir / "daemon.log", "w"), stderr=subprocess.STDOUT)
        collector = sdk = None
        if via == "sdk":
            from segment.analytics import Client

            collector = subprocess.Popen([str(bin_dir / "throughline"), "collect"], cwd=ROOT, stdout=subprocess.DEVNULL,
                                         env={**env, "THROUGHLINE_COLLECT_WRITE_KEYS": "bench-key", "THROUGHLINE_COLLECT_PORT": "8089"})
            sdk = Client("bench-key", host="http://127.0.0.1:8089")
        try:
            with dg.DagsterInstance.get() as instance:
                time.sleep(15)  # the daemon starts and the sensor has its first look at an empty folder
                for drop in range(drops):
                    rows = calls(drop, datetime.now(UTC).replace(tzinfo=None))
                    wanted = {row["traits"]["email"] for row in rows if row["type"] == "identify"}
                    staged = workdir / f"drop_{drop}.jsonl"
                    staged.write_text("".join(json.dumps(row) + "\n" for row in rows))
                    landed = time.time()
                    if sdk is not None:
                        post_with_sdk(sdk, rows)
                    else:
                        staged.rename(landing / staged.name)  # one step: the sensor never sees half a file
                    while not (_recipients(sendgrid) & wanted):
                        if time.time() - landed > TIMEOUT or daemon.poll() is not None:
                            raise RuntimeError(f"drop {drop}: no delivery after {time.time() - landed:.0f}s; see {workdir}/daemon.log")
                        time.sleep(0.2)
                    delivered = time.time()
                    # Where the time went, from the run that delivered: the sensor's wait until
                    # it asked for a run, the queue and the launch, then the run itself.
                    created, started, run_id = min((_stamp(r.create_timestamp), r.start_time or delivered, r.dagster_run.run_id)
                                                   for r in instance.get_run_records(limit=10) if _stamp(r.create_timestamp) >= landed)
                    # Within the run: up to the dbt build (load, phone numbers), the build, then the syncs.
                    dbt_start, dbt_end = _step_times(instance, run_id, "dbt_models")
                    latencies.append({"total": delivered - landed, "sensor": created - landed, "launch": started - created,
                                      "run": delivered - started, "before_dbt": dbt_start - started, "dbt": dbt_end - dbt_start,
                                      "after_dbt": delivered - dbt_end})
                    d = latencies[-1]
                    print(f"  drop {drop}: delivered {d['total']:.1f}s after landing (sensor {d['sensor']:.1f}s, "
                          f"queue and launch {d['launch']:.1f}s, run until delivery {d['run']:.1f}s = "
                          f"before dbt {d['before_dbt']:.1f} + dbt {d['dbt']:.1f} + after dbt {d['after_dbt']:.1f}); "
                          f"load average {os.getloadavg()[0]:.1f}", flush=True)
                    while _runs_in_progress(instance):  # the next drop starts on an idle daemon
                        time.sleep(1)
        finally:
            for process in filter(None, (daemon, collector)):
                process.terminate()
                process.wait(timeout=60)
    parts = ("total", "sensor", "launch", "run", "before_dbt", "dbt", "after_dbt")
    med = {part: statistics.median(d[part] for d in latencies) for part in parts}
    each = " / ".join(f"{d['total']:.1f}" for d in latencies)
    return "\n".join([
        "| drops | median latency (s) | each drop (s) | median: sensor wait / queue and launch / run until delivery (s) "
        "| run, median: before dbt / dbt build / after dbt until delivery (s) |",
        "|---|---|---|---|---|",
        f"| {len(latencies)} | {med['total']:.1f} | {each} | {med['sensor']:.1f} / {med['launch']:.1f} / {med['run']:.1f} "
        f"| {med['before_dbt']:.1f} / {med['dbt']:.1f} / {med['after_dbt']:.1f} |",
    ])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--customers", type=int, default=200)
    parser.add_argument("--drops", type=int, default=3)
    parser.add_argument("--via", choices=["file", "sdk"], default="file", help="a file renamed into the landing folder, or Segment's SDK posting to the collector")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/bench_latency"))
    args = parser.parse_args()
    print(run(args.customers, args.drops, args.workdir, args.via))


if __name__ == "__main__":
    main()
