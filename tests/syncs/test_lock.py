"""The warehouse lock: a second process waits while the first holds it, on each engine
(a file lock beside the DuckDB file, an advisory lock on PostgreSQL)."""

import os
import subprocess
import sys
import time

from orchestration.syncs.lock import warehouse_lock

HOLD = """
import time
from orchestration.syncs.lock import warehouse_lock
with warehouse_lock():
    print("held", flush=True)
    time.sleep(2)
"""


def test_a_second_process_waits_until_the_first_lets_go(engine):
    holder = subprocess.Popen([sys.executable, "-c", HOLD], stdout=subprocess.PIPE, text=True, env=dict(os.environ))
    try:
        assert holder.stdout.readline().strip() == "held"
        started = time.monotonic()
        with warehouse_lock():
            waited = time.monotonic() - started
            with warehouse_lock():  # re-entrant within a process
                pass
    finally:
        holder.wait(timeout=60)
    assert holder.returncode == 0
    assert waited > 1.0, f"took the lock after {waited:.2f}s while another process held it"


def test_the_lock_is_free_again_after_use(engine):
    started = time.monotonic()
    for _ in range(3):
        with warehouse_lock():
            pass
    assert time.monotonic() - started < 5
