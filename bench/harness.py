"""A tiny benchmark harness: run each step as its own process, several times, and keep
the median wall time and the peak resident memory (from the kernel's rusage of that
process and its children)."""

from __future__ import annotations

import os
import platform
import shlex
import statistics
import subprocess
import time
from dataclasses import dataclass, field


@dataclass
class StepResult:
    name: str
    command: list[str]
    seconds: list[float] = field(default_factory=list)
    peak_rss_mb: list[float] = field(default_factory=list)
    note: str = ""

    @property
    def median_seconds(self) -> float:
        return statistics.median(self.seconds)

    @property
    def max_peak_rss_mb(self) -> float:
        return max(self.peak_rss_mb)


def run_step(name: str, command: list[str], *, env: dict | None = None, setup=None, repeat: int = 1, note: str = "") -> StepResult:
    """Run `command` `repeat` times (calling `setup()` before each run) and record it."""
    result = StepResult(name, command, note=note)
    for _ in range(repeat):
        if setup:
            setup()
        started = time.perf_counter()
        process = subprocess.Popen(command, env={**os.environ, **(env or {})}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        output = process.stdout.read()
        _, status, usage = os.wait4(process.pid, 0)
        elapsed = time.perf_counter() - started
        if os.waitstatus_to_exitcode(status) != 0:
            raise RuntimeError(f"{name} failed:\n{output.decode(errors='replace')[-3000:]}")
        result.seconds.append(elapsed)
        result.peak_rss_mb.append(usage.ru_maxrss / 1024)  # Linux reports KiB
        print(f"  {name}: {elapsed:.1f}s, peak {usage.ru_maxrss / 1024:.0f} MB", flush=True)
    return result


def machine() -> str:
    with open("/proc/meminfo") as f:
        mem_kb = int(next(line for line in f if line.startswith("MemTotal")).split()[1])
    return f"{os.cpu_count()} cores, {mem_kb / 1024 / 1024:.1f} GiB memory, {platform.platform()}, Python {platform.python_version()}"


def markdown_table(results: list[StepResult]) -> str:
    lines = ["| step | runs | median time (s) | peak memory (MB) | command |", "|---|---|---|---|---|"]
    for r in results:
        command = shlex.join(r.command).replace(os.getcwd() + "/", "")
        lines.append(f"| {r.name}{' — ' + r.note if r.note else ''} | {len(r.seconds)} | {r.median_seconds:.1f} | {r.max_peak_rss_mb:.0f} | `{command}` |")
    return "\n".join(lines)
