"""``make bench`` figure: how long a standby server takes over the scheduler after the
active one is killed (kill -9), with two real ``jupyter server`` processes on separate
workspaces sharing one PostgreSQL database (a throw-away server, tests/pg/pg_server.py),
at the default lease (``lease_seconds`` 10 s; 3 s with ``--quick``).

Each round kills the active server, times until the standby answers
``scheduler_state: active``, then starts the killed one again as the new standby. The
budget is the lease plus the standby's poll plus one second; the figure says how much of
that is the lease (waiting for it to expire is the design, not overhead).
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from .figures import Figure

ROOT = Path(__file__).resolve().parent.parent


def bench_pg_takeover(client: Any, ws: Path, server: Any, quick: bool) -> list[Figure]:
    for folder in (ROOT / "tests" / "pg", ROOT / "tests" / "api"):
        if str(folder) not in sys.path:
            sys.path.insert(0, str(folder))
    from engine_support import EngineServer, sync_poll  # type: ignore[import-not-found]
    from pg_server import PostgresServer, postgres_bin  # type: ignore[import-not-found]

    name = "standby take-over after kill -9 (PostgreSQL lease)"
    bin_dir = postgres_bin()
    if bin_dir is None:
        return [Figure(name, "PostgreSQL not installed", "", None)]
    lease, poll = (3.0, 0.5) if quick else (10.0, 2.0)
    rounds = 2 if quick else 3
    budget = lease + min(poll, max(0.1, lease / 5)) + 1.0
    pg = PostgresServer(bin_dir).start()
    base = Path(tempfile.mkdtemp(prefix="amphi-bench-pg-"))
    servers: list[Any] = []
    try:
        url = pg.create_database("bench")
        settings = {"db_url": url, "lease_seconds": lease, "lock_poll_seconds": poll}

        def new_server(i: int) -> Any:
            root = base / f"host{i}" / "workspace"
            root.mkdir(parents=True, exist_ok=True)
            s = EngineServer(root, base / f"host{i}" / "home", settings)
            servers.append(s)
            return s.start()

        active = new_server(0)
        sync_poll(lambda: active.state() == "active", timeout=30, what="first server active")
        standby = new_server(1)
        times: list[float] = []
        for i in range(rounds):
            assert standby.state() == "standby"
            active.kill9()
            killed = time.monotonic()
            sync_poll(lambda s=standby: s.state() == "active", timeout=lease + 30, interval=0.02)
            times.append(time.monotonic() - killed)
            active, standby = standby, new_server(i + 2)
        worst = max(times)
        value = (
            f"median {statistics.median(times):.2f} s, worst {worst:.2f} s over {rounds} kills "
            f"({', '.join(f'{t:.2f}' for t in times)}; lease {lease:g} s, "
            f"poll {min(poll, max(0.1, lease / 5)):g} s)"
        )
        return [Figure(name, value, f"<= {budget:g} s", worst <= budget)]
    finally:
        for s in servers:
            s.cleanup()
        pg.stop()
