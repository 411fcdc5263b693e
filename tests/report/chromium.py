"""Headless Chromium (Debian's package, installed by `make test`) as a test instrument:
open a file, return the DOM after rendering and every console message.

Chromium prints each console message on stderr as `...:CONSOLE:<line>] "<text>", source:
<url> (<line>)` when logging to stderr is on; uncaught exceptions, console.error calls
and Content-Security-Policy violations all arrive that way. The report has no script,
so any console message at all is a failure.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

CONSOLE = re.compile(r":CONSOLE(?::\d+)?\]\s*(.*)")

# Without the background-networking flags Chromium's own connections are refused and
# it stalls; --disable-quic for the same reason.
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--enable-logging=stderr", "--v=0")


def chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    assert path, "chromium is not installed: `make test` installs Debian's package (apt-get install chromium)"
    return path


@dataclass
class Rendered:
    dom: str
    console: list[str]


def render(page: Path, timeout: float = 120) -> Rendered:
    with tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile:
        result = subprocess.run([chromium(), *FLAGS, f"--user-data-dir={profile}", "--dump-dom", page.resolve().as_uri()],
                                capture_output=True, text=True, timeout=timeout, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    console = [m.group(1) for line in result.stderr.splitlines() if (m := CONSOLE.search(line))]
    return Rendered(dom=result.stdout, console=console)


VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


class DataElements(HTMLParser):
    """Every element with a `data-metric`: its data- attributes and its text."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[dict] = []
        self._open: list[dict | None] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        data = {k.removeprefix("data-"): v or "" for k, v in attrs if k.startswith("data-")}
        element = {**data, "text": ""} if "metric" in data else None
        if element is not None:
            self.elements.append(element)
        if tag not in VOID:
            self._open.append(element)

    def handle_endtag(self, tag: str) -> None:
        if tag not in VOID and self._open:
            self._open.pop()

    def handle_data(self, text: str) -> None:
        for element in self._open:
            if element is not None:
                element["text"] += text


def data_elements(dom: str) -> list[dict]:
    parser = DataElements()
    parser.feed(dom)
    return parser.elements
