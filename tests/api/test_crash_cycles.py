"""Kill -9 of the server during running pipelines, restart, five times over: nothing is
lost, the runs that were running are marked interrupted, schedules are intact and the
interval job fires again soon after each restart. ``make soak`` runs more cycles
(AMPHI_SOAK_CYCLES)."""

from __future__ import annotations

import os
import signal
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from test_server_restart import JupyterServer

CYCLES = int(os.environ.get("AMPHI_SOAK_CYCLES") or 5)


def _wait(predicate: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        assert time.monotonic() < deadline, what
        time.sleep(0.1)


def _reads(path: Path) -> str:
    try:
        return path.read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return ""


def test_kill_nine_cycles(tmp_path: Path, figure: Any) -> None:
    root = tmp_path / "workspace"
    root.mkdir()
    (root / "long.py").write_text("import time\nprint('working', flush=True)\ntime.sleep(120)\n")
    (root / "tick.py").write_text("print('tick')\n")
    server = JupyterServer(root, tmp_path)
    server.start()
    long_job = server.ok(
        "POST",
        "jobs",
        {"name": "long", "pipeline_path": "long.py", "schedule_type": "cron", "cron_expression": "0 3 * * *"},
    )
    tick = server.ok(
        "POST",
        "jobs",
        {"name": "tick", "pipeline_path": "tick.py", "schedule_type": "interval", "interval_seconds": 2},
    )
    killed_runs: list[int] = []
    ready_after: list[float] = []  # kill -9 to the API answering again
    fired_after: list[float] = []  # restart to the interval job's first run after it
    try:
        for cycle in range(CYCLES):
            run = server.ok("POST", f"run/{long_job['id']}", {"wait": False})
            _wait(
                lambda: server.ok("GET", f"runs/{run['id']}")["status"] == "running",  # noqa: B023
                20,
                f"cycle {cycle}: the long run never started",
            )
            assert server.process is not None
            server.process.send_signal(signal.SIGKILL)
            server.process.wait()
            killed_runs.append(run["id"])
            restarted_at = time.time()
            server.start()
            ready_after.append(time.time() - restarted_at)
            started_at = restarted_at
            assert server.ok("GET", f"runs/{run['id']}")["status"] == "interrupted"
            jobs = {j["id"]: j for j in server.ok("GET", "jobs")["jobs"]}
            assert set(jobs) == {long_job["id"], tick["id"]}
            assert jobs[long_job["id"]]["cron_expression"] == "0 3 * * *"
            assert datetime.fromisoformat(jobs[long_job["id"]]["next_run_time"]).timestamp() > restarted_at

            def ticked_since_restart() -> bool:
                runs = server.ok("GET", f"runs?job_id={tick['id']}&limit=20")["runs"]
                return any(
                    r["status"] == "success"
                    and r["started_at"]
                    and datetime.fromisoformat(r["started_at"]).timestamp() > started_at  # noqa: B023
                    for r in runs
                )

            _wait(ticked_since_restart, 15, f"cycle {cycle}: the interval job did not fire after restart")
            fired_after.append(time.time() - restarted_at)
        all_runs = server.ok("GET", "runs?limit=1000")["runs"]
        # (A tick that happened to run at a kill is interrupted too: only count the long job.)
        interrupted = sorted(
            r["id"] for r in all_runs if r["status"] == "interrupted" and r["job_id"] == long_job["id"]
        )
        assert interrupted == sorted(killed_runs)
        assert not [r for r in all_runs if r["status"] == "running" and r["id"] in killed_runs]

        # The pipelines the killed servers left behind were stopped at the next start.
        def leftovers() -> list[str]:
            return [
                p.parent.name
                for p in Path("/proc").glob("[0-9]*/cmdline")
                if _reads(p).endswith(str(root / "long.py"))
            ]

        # The last cycle's run is still alive (its server is): all others must be gone.
        _wait(lambda: len(leftovers()) <= 1, 10, f"leftover pipelines: {leftovers()}")
        figure(
            f"kill -9 during a run, {CYCLES} cycles",
            f"{len(interrupted)}/{CYCLES} killed runs marked interrupted, 0 lost; API back after "
            f"max {max(ready_after):.1f} s; 2 s interval job ran again within max {max(fired_after):.1f} s "
            "(upper bound: polled every 0.1 s)",
        )
    finally:
        server.kill()
