"""The collector under load from Segment's own Python SDK: events/s sustained and the time
to acknowledge each batch.

    python bench/bench_collect.py [--events 200000] [--processes 2] [--threads 1] [--repeat 3]

`throughline collect` runs as its own process, as in production. Each sender process runs
an unmodified `segment.analytics.Client` (batches of 100, `upload_size`) that tracks its
share of the events as fast as it can, then flushes; the rate is all events over the wall
time from the first call to the last acknowledged batch. The acknowledgement latency is the
SDK's own HTTP session's (`requests`' `elapsed`: request sent to response read), over
every batch. At the end every event must be in the collector's segment files, once.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

WRITE_KEY = "bench-write-key"
THROUGHLINE = str(Path(sys.executable).parent / "throughline")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def sender(url: str, first: int, count: int, threads: int, start, results) -> None:
    import logging

    from segment.analytics import Client, request

    logging.getLogger("segment").setLevel(logging.CRITICAL)
    latencies: list[float] = []
    request._session.hooks["response"].append(lambda response, *args, **kwargs: latencies.append(response.elapsed.total_seconds()))
    errors: list = []
    client = Client(WRITE_KEY, host=url, upload_size=100, thread=threads, max_queue_size=count + 1,
                    on_error=lambda error, batch: errors.append(str(error)))
    start.wait()
    for n in range(first, first + count):
        client.track(user_id=f"user-{n % 5000}", event="product_viewed", message_id=f"bench-{n}",
                     properties={"product_id": f"prod_{n % 300}", "price": 19.5, "currency": "USD"},
                     context={"page": {"path": "/shop/p/kettle"}})
    client.flush()
    client.join()
    results.put((time.perf_counter(), latencies, errors))


def run_once(events: int, processes: int, threads: int) -> dict:
    folder = Path(tempfile.mkdtemp(prefix="bench_collect_"))
    port = _free_port()
    env = {**os.environ, "THROUGHLINE_COLLECT_WRITE_KEYS": WRITE_KEY, "THROUGHLINE_COLLECT_PORT": str(port),
           "THROUGHLINE_COLLECT_DIR": str(folder)}
    collector = subprocess.Popen([THROUGHLINE, "collect"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                requests.options(url + "/v1/batch", timeout=1)
                break
            except requests.ConnectionError:
                time.sleep(0.05)
        context = mp.get_context("spawn")
        start, results = context.Event(), context.Queue()
        share = events // processes
        workers = [context.Process(target=sender, args=(url, k * share, share, threads, start, results)) for k in range(processes)]
        for worker in workers:
            worker.start()
        time.sleep(3)  # the senders have imported the SDK and wait at the line
        began = time.perf_counter()
        start.set()
        finished = [results.get(timeout=600) for _ in workers]
        for worker in workers:
            worker.join()
        wall = max(end for end, _, _ in finished) - began
        latencies = sorted(latency for _, batch, _ in finished for latency in batch)
        errors = [error for _, _, batch in finished for error in batch]
        collector.terminate()
        collector.wait(timeout=30)
        kept = [line for path in folder.glob("*.ndjson") for line in path.read_bytes().splitlines()]
        return {
            "events": share * processes, "kept": len(kept), "errors": len(errors), "wall": wall,
            "events_per_s": share * processes / wall, "batches": len(latencies),
            "p50_ms": 1000 * statistics.median(latencies), "p99_ms": 1000 * latencies[int(0.99 * (len(latencies) - 1))],
        }
    finally:
        if collector.poll() is None:
            collector.kill()
        shutil.rmtree(folder, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--processes", type=int, default=2, help="sender processes, each with its own SDK client")
    parser.add_argument("--threads", type=int, default=1, help="the SDK's upload threads per client")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    runs = [run_once(args.events, args.processes, args.threads) for _ in range(args.repeat)]
    print("| run | events | kept | SDK errors | events/s | batches | ack p50 (ms) | ack p99 (ms) |")
    print("|---|---|---|---|---|---|---|---|")
    for n, r in enumerate(runs, 1):
        print(f"| {n} | {r['events']:,} | {r['kept']:,} | {r['errors']} | {r['events_per_s']:,.0f} | {r['batches']:,} | "
              f"{r['p50_ms']:.1f} | {r['p99_ms']:.1f} |")
    print(f"\nmedian: {statistics.median(r['events_per_s'] for r in runs):,.0f} events/s, "
          f"ack p99 {statistics.median(r['p99_ms'] for r in runs):.1f} ms; load average {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
