"""A throw-away PostgreSQL server for the tests (imported by name: tests/pg is on sys.path).

Facts this relies on (checked on the CI machines, Debian 12, PostgreSQL 15):

- ``initdb``/``pg_ctl`` come with Debian's ``postgresql`` package (``make test`` installs
  it when missing) under ``/usr/lib/postgresql/<version>/bin``; ``/usr/local/bin`` may
  link them too. ``AMPHI_PG_BIN`` names another folder.
- ``initdb`` refuses to run as root. As root, the server's folder is handed to the
  ``postgres`` system user (created by Debian's package) and ``initdb``/``pg_ctl`` run
  through ``runuser -u postgres``; as any other user they run directly.
- The server listens on 127.0.0.1 on a free port, with its unix socket in its own temporary
  folder (never ``/var/run/postgresql``), ``trust`` authentication (loopback only), and
  ``fsync=off`` (a test server: nothing survives it anyway). Start-up takes about 1.5 s.
- Each test asks for a fresh database (``CREATE DATABASE``: about 0.1 s) so that tests
  never see each other's rows.
"""

from __future__ import annotations

import glob
import itertools
import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

_counter = itertools.count(1)


def postgres_bin() -> Path | None:
    """The folder of ``initdb`` and ``pg_ctl`` (None: PostgreSQL is not installed)."""
    candidates = [os.environ.get("AMPHI_PG_BIN", "")]
    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)
    candidates.append(str(Path(shutil.which("initdb") or "/nonexistent").parent))
    for folder in candidates:
        if folder and (Path(folder) / "initdb").exists() and (Path(folder) / "pg_ctl").exists():
            return Path(folder)
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PostgresServer:
    """``initdb`` into a temporary folder, ``pg_ctl start``; ``stop()`` removes it all."""

    def __init__(self, bin_dir: Path) -> None:
        self.bin_dir = bin_dir
        self.base = Path(tempfile.mkdtemp(prefix="amphi-pg-"))
        self.data = self.base / "data"
        self.port = free_port()
        self.as_root = os.geteuid() == 0
        self.user = "postgres"
        self.is_running = False

    def _run(self, *argv: str) -> subprocess.CompletedProcess[str]:
        cmd = [str(self.bin_dir / argv[0]), *argv[1:]]
        if self.as_root:
            cmd = ["runuser", "-u", self.user, "--", *cmd]
        return subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=60)

    def start(self) -> PostgresServer:
        if self.as_root:
            shutil.chown(self.base, self.user, self.user)
        os.chmod(self.base, 0o700)
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", self.user, "-E", "UTF8", "--no-sync")
        options = (
            f"-p {self.port} -k {self.base} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
        )
        self._run(
            "pg_ctl", "-D", str(self.data), "-o", options, "-l", str(self.base / "server.log"), "-w", "start"
        )
        self.is_running = True
        return self

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://{self.user}@127.0.0.1:{self.port}/{database}"

    def create_database(self, prefix: str = "t") -> str:
        """A new empty database; answer its SQLAlchemy URL."""
        import psycopg

        name = f"{prefix}_{os.getpid()}_{next(_counter)}"
        with psycopg.connect(
            f"host=127.0.0.1 port={self.port} user={self.user} dbname=postgres", autocommit=True
        ) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def log_text(self) -> str:
        try:
            return (self.base / "server.log").read_text(errors="replace")
        except OSError:
            return ""

    def stop(self) -> None:
        if self.is_running:
            try:
                self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
            except subprocess.CalledProcessError:
                pass
            self.is_running = False
        shutil.rmtree(self.base, ignore_errors=True)
