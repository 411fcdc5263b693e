"""A real, throwaway PostgreSQL server for the test suite.

initdb into a temporary folder, `postgres` on a free 127.0.0.1 port (and a unix socket
in the same folder), password authentication with a password made up for this run, and
everything removed on stop. The binaries come from PATH or Debian's
/usr/lib/postgresql/<version>/bin (not on PATH); `make setup-postgres` installs them.

initdb refuses to run as root, so as root the server runs as an unprivileged user
(`postgres` when Debian's package created it, else `nobody`) that owns the folder.
"""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

SUPERUSER = "throughline"


def bin_dir() -> Path:
    """Where initdb, pg_ctl and postgres live: beside the initdb on PATH (resolved, since
    /usr/local/bin may hold only symlinks), else the newest Debian version."""
    on_path = shutil.which("initdb")
    if on_path:
        return Path(os.path.realpath(on_path)).parent
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parent.parent.name))
    if not versions:
        raise RuntimeError("PostgreSQL server binaries not found: run `make setup-postgres`")
    return versions[-1].parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _server_user() -> str | None:
    """None when we may run the server ourselves (not root)."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            pwd.getpwnam(name)
            return name
        except KeyError:
            continue
    raise RuntimeError("running as root and no unprivileged user (postgres, nobody) to run PostgreSQL as")


@dataclass
class PostgresServer:
    folder: Path
    port: int
    password: str = field(repr=False)  # never in a traceback or a log
    run_as: str | None
    bin: Path

    host = "127.0.0.1"
    user = SUPERUSER

    @property
    def data(self) -> Path:
        return self.folder / "data"

    def _run(self, *args: str) -> subprocess.CompletedProcess:
        command = [str(self.bin / args[0]), *args[1:]]
        if self.run_as:
            command = ["runuser", "-u", self.run_as, "--", *command]
        # The password is in a file, never on a command line (ps would show it).
        return subprocess.run(command, check=True, capture_output=True, text=True, timeout=120)

    @classmethod
    def start(cls) -> "PostgresServer":
        run_as = _server_user()
        folder = Path(tempfile.mkdtemp(prefix="throughline-pg-"))
        server = cls(folder, _free_port(), secrets.token_urlsafe(24), run_as, bin_dir())
        password_file = folder / "pwfile"
        password_file.write_text(server.password)
        password_file.chmod(0o600)
        if run_as:
            entry = pwd.getpwnam(run_as)
            for path in (folder, password_file):
                os.chown(path, entry.pw_uid, entry.pw_gid)
        # Durability is not worth its time for a throwaway server.
        options = (f"-c listen_addresses={server.host} -c port={server.port} "
                   f"-c unix_socket_directories={folder} -c fsync=off -c synchronous_commit=off "
                   f"-c full_page_writes=off -c timezone=UTC")
        try:
            server._run("initdb", "-D", str(server.data), "-U", SUPERUSER, "--pwfile", str(password_file),
                        "--auth", "scram-sha-256", "-E", "UTF8", "--locale", "C", "--no-sync")
            password_file.unlink()
            server._run("pg_ctl", "start", "-w", "-D", str(server.data), "-l", str(folder / "server.log"), "-o", options)
        except subprocess.CalledProcessError as failed:
            log = folder / "server.log"
            detail = (failed.stdout or "") + (failed.stderr or "") + (log.read_text()[-2000:] if log.exists() else "")
            shutil.rmtree(folder, ignore_errors=True)
            raise RuntimeError(f"PostgreSQL did not start:\n{detail}") from None
        return server

    def stop(self) -> None:
        try:
            self._run("pg_ctl", "stop", "-D", str(self.data), "-m", "fast", "-w")
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)

    def env(self, database: str) -> dict[str, str]:
        """The environment that points Throughline (dbt profile and Python) at `database`."""
        return {
            "THROUGHLINE_TARGET": "postgres",
            "THROUGHLINE_PG_HOST": self.host,
            "THROUGHLINE_PG_PORT": str(self.port),
            "THROUGHLINE_PG_USER": self.user,
            "THROUGHLINE_PG_PASSWORD": self.password,
            "THROUGHLINE_PG_DATABASE": database,
        }

    def connect(self, database: str = "postgres", **kwargs):
        import psycopg

        return psycopg.connect(host=self.host, port=self.port, user=self.user, password=self.password,
                               dbname=database, **kwargs)

    def create_database(self, name: str) -> None:
        with self.connect(autocommit=True) as con:
            con.execute(f'create database "{name}"')
