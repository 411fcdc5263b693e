"""dbt inside this process (dbt's own `dbtRunner`), for the tick, the CLI and the tests.

A `dbt` subprocess pays ~2 s to start Python and import dbt, then ~1.5 s to read its partial
parse, before the first model runs: 4.5 s for a one-model run. Here dbt is imported once per
process and the parsed project (the manifest) is kept and handed to each later invocation, so
a run costs what its models cost. A kept manifest is used only while everything it was parsed
from is unchanged: the project's files, the `--vars`, the database it names (the warehouse's
engine and database name: two DuckDB files called warehouse.duckdb share one) and the
environment variables the parse read (`Manifest.env_vars`); otherwise dbt parses again,
partially, from the last parse's partial_parse.msgpack.
"""

from __future__ import annotations

import json
import os
import shutil
import threading
from collections import OrderedDict
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Sequence

from orchestration.settings import DBT_PROJECT_DIR

# The profile's inputs that a parse writes into the manifest (each node's database). The
# DuckDB file's path is not one: its database is named by the file's stem.
PROFILE_VARIABLES = ("THROUGHLINE_TARGET", "THROUGHLINE_PG_HOST", "THROUGHLINE_PG_PORT", "THROUGHLINE_PG_DATABASE")
PARTIAL_PARSE = "partial_parse.msgpack"
PROJECT_FOLDERS = ("models", "macros", "seeds", "snapshots", "tests", "analyses")
KEPT_MANIFESTS = 4  # a test session alternates between a few warehouses; each manifest is ~20 MB
# An invocation without artifacts writes no manifest.json, run_results.json or dbt.log and prints
# only errors (dbt's own flags, as environment variables): for a caller that reads what it needs
# from the returned DbtRun, that is ~0.6 s of a small run (the manifest's JSON, the debug log).
NO_ARTIFACTS = {"DBT_WRITE_JSON": "false", "DBT_LOG_LEVEL_FILE": "none", "DBT_QUIET": "true"}


@dataclass
class DbtRun:
    """One invocation: whether it succeeded, its results (dbt's RunExecutionResult, a parse's
    Manifest...) and the structured events it fired above debug level (dbt.log has them all)."""
    args: list[str]
    success: bool
    result: Any
    exception: BaseException | None
    events: list[dict] = field(default_factory=list)
    parsed: bool = False  # whether this invocation parsed the project (no kept manifest served)

    @property
    def output(self) -> str:
        """The log as dbt prints it at the default level: one message per line."""
        return "\n".join(e["info"]["msg"] for e in self.events if e["info"]["level"] in ("info", "warn", "error"))

    def raise_on_failure(self) -> "DbtRun":
        if not self.success:
            raise DbtError(self)
        return self


class DbtError(RuntimeError):
    def __init__(self, run: DbtRun):
        failures = [line for line in run.output.splitlines() if "error" in line.lower() or "fail" in line.lower()]
        detail = str(run.exception) if run.exception else "\n".join(failures[-40:]) or run.output[-4000:]
        super().__init__(f"dbt {' '.join(run.args[:1])} failed:\n{detail}")
        self.run = run


def project_fingerprint(project_dir: Path) -> tuple:
    """Every file dbt parses, by path, size and modification time: cheap (a few ms for the
    project) and changed by any edit, including `throughline prepare` writing journey models."""
    files = [project_dir / "dbt_project.yml", project_dir / "profiles.yml", project_dir / "packages.yml"]
    for folder in PROJECT_FOLDERS:
        for root, _, names in os.walk(project_dir / folder):
            files.extend(Path(root) / name for name in names)
    stats = []
    for path in sorted(files):
        try:
            stat = path.stat()
        except FileNotFoundError:
            continue
        stats.append((str(path), stat.st_size, stat.st_mtime_ns))
    return tuple(stats)


@contextmanager
def environment(values: Mapping[str, str] | None) -> Iterator[None]:
    """os.environ with `values` set, as dbt reads it (profiles.yml, env_var()), then as it was."""
    saved = {key: os.environ.get(key) for key in values or {}}
    os.environ.update(values or {})
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def release_duckdb() -> None:
    """dbt-duckdb keeps its database open in a class attribute after a run (it expects the
    process to end): close it, so this process and others can open the file afterwards,
    with another configuration, and the next invocation opens the warehouse it is given."""
    try:
        from dbt.adapters.duckdb.connections import DuckDBConnectionManager
    except ImportError:
        return
    with DuckDBConnectionManager._LOCK:
        env = DuckDBConnectionManager._ENV
        if env is not None:
            env.close()
        DuckDBConnectionManager._ENV = None


class InProcessDbt:
    """Invokes dbt on one project, one invocation at a time (dbt's global state is per process)."""

    def __init__(self, project_dir: Path = DBT_PROJECT_DIR, profiles_dir: Path | None = None):
        self.project_dir = Path(project_dir)
        self.profiles_dir = Path(profiles_dir or project_dir)
        self._manifests: OrderedDict[tuple, Any] = OrderedDict()
        self._last_parse: Path | None = None  # the folder of the last parse, whose partial parse seeds the next
        self._lock = threading.Lock()

    def _common(self, target_path: Path, variables: Mapping[str, Any] | None) -> list[str]:
        args = ["--project-dir", str(self.project_dir), "--profiles-dir", str(self.profiles_dir),
                "--target-path", str(target_path), "--log-path", str(target_path)]
        return args + (["--vars", json.dumps(dict(variables), sort_keys=True)] if variables else [])

    def _key(self, variables: Mapping[str, Any] | None) -> tuple:
        profile = tuple((name, os.environ.get(name)) for name in PROFILE_VARIABLES)
        duckdb_database = Path(os.environ.get("THROUGHLINE_WAREHOUSE", "warehouse.duckdb")).stem
        return (json.dumps(dict(variables or {}), sort_keys=True), profile, duckdb_database,
                project_fingerprint(self.project_dir))

    def _seed_partial_parse(self, target_path: Path) -> None:
        """A new target folder starts from the last parse's partial_parse.msgpack: dbt checks
        it against the project, profile and vars itself, and a stale one costs a full parse,
        which a missing one always does (~7 s). A new process starts from the project's
        target/ (`throughline prepare`'s, or the last tick's: assets.keep_partial_parse)."""
        previous = (self._last_parse or self.project_dir / "target") / PARTIAL_PARSE
        fresh = target_path / PARTIAL_PARSE
        if previous.exists() and not fresh.exists():
            target_path.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(previous, fresh)

    def _manifest(self, target_path: Path, variables: Mapping[str, Any] | None) -> tuple[Any, DbtRun | None]:
        """The kept manifest for these inputs (and None), or a fresh parse and its run (failed if it failed)."""
        from dbt.cli.main import dbtRunner

        key = self._key(variables)
        manifest = self._manifests.get(key)
        if manifest is not None and all(os.environ.get(k) == v for k, v in _parse_env(manifest).items()):
            self._manifests.move_to_end(key)
            return manifest, None
        self._seed_partial_parse(target_path)
        args = ["parse", "--quiet", *self._common(target_path, variables)]  # its events are kept, not printed
        events: list[dict] = []
        result = dbtRunner(callbacks=[_collector(events)]).invoke(args)
        parse = DbtRun(args, result.success, result.result, result.exception, events, parsed=True)
        if not result.success:
            return None, parse
        self._manifests[key] = result.result
        self._last_parse = target_path
        while len(self._manifests) > KEPT_MANIFESTS:
            self._manifests.popitem(last=False)
        return result.result, parse

    def invoke(self, args: Sequence[str], *, target_path: Path, env: Mapping[str, str] | None = None,
               variables: Mapping[str, Any] | None = None,
               on_event: Callable[[dict], None] | None = None, artifacts: bool = True) -> DbtRun:
        """Run `dbt <args>` against the project with `env` on top of this process's environment;
        `on_event` sees each structured event (dbt's JSON log line, as a dict) as it is fired;
        `artifacts=False`: only the compiled SQL and the partial parse (NO_ARTIFACTS)."""
        from dbt.cli.main import dbtRunner

        events: list[dict] = []
        target_path = Path(target_path)
        full_args = [*args, *self._common(target_path, variables)]
        quiet = {} if artifacts else NO_ARTIFACTS
        with self._lock, environment({"DBT_SEND_ANONYMOUS_USAGE_STATS": "false", **quiet, **(env or {})}):
            try:
                manifest, parse = self._manifest(target_path, variables)
                if parse is not None and not parse.success:
                    return parse
                result = dbtRunner(manifest=manifest, callbacks=[_collector(events, on_event)]).invoke(full_args)
            finally:
                release_duckdb()
        return DbtRun(full_args, result.success, result.result, result.exception,
                      (parse.events if parse else []) + events, parsed=parse is not None)


def _collector(events: list[dict], on_event: Callable[[dict], None] | None = None) -> Callable:
    """A dbt callback keeping each event above debug level as a dict (and passing it on):
    debug events come by the thousand a build (each SQL statement) and are slow to convert."""
    from dbt_common.events.functions import msg_to_dict

    def collect(msg) -> None:
        if msg.info.level == "debug":
            return
        event = msg_to_dict(msg)
        events.append(event)
        if on_event is not None:
            on_event(event)

    return collect


def _parse_env(manifest: Any) -> dict[str, str]:
    """The environment variables the parse read, with the values it read (dbt records them
    to invalidate its partial parse the same way)."""
    return {name: value for name, value in (getattr(manifest, "env_vars", None) or {}).items()
            if name != "THROUGHLINE_NOW"}


_shared: InProcessDbt | None = None


def in_process_dbt() -> InProcessDbt:
    """The process's runner for the Throughline project: its kept manifests are shared by
    every caller."""
    global _shared
    if _shared is None:
        _shared = InProcessDbt()
    return _shared
