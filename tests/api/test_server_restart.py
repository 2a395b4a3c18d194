"""A real ``jupyter server`` process, stopped with SIGTERM (its own stop path) and started
again on the same workspace: the default database (<root>/.amphi/scheduler.sqlite) keeps
jobs, next fire times and run history, and a pipeline running at stop is ended with it."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from api_support import write_pipelines
from engine_support import TOKEN, EngineServer, pid_gone

__all__ = ["TOKEN", "JupyterServer"]


PID_PIPELINE = """
import os, time
from pathlib import Path
Path("pid.txt").write_text(str(os.getpid()))
print("started", flush=True)
time.sleep(120)
"""


class JupyterServer(EngineServer):
    """A real server with the extension's default settings (zone UTC)."""

    def stop(self) -> float:  # type: ignore[override]
        """SIGTERM (the server's own stop path); answers how long the stop took."""
        started = time.monotonic()
        super().stop()
        return time.monotonic() - started

    def kill(self) -> None:
        self.cleanup()


@pytest.fixture
def server_factory(tmp_path: Path) -> Any:
    root = tmp_path / "workspace"
    root.mkdir()
    write_pipelines(root)
    (root / "pid_forever.py").write_text(PID_PIPELINE)
    servers: list[JupyterServer] = []

    def make() -> JupyterServer:
        server = JupyterServer(root, tmp_path / "home")
        servers.append(server)
        server.start()
        return server

    yield make
    for server in servers:
        server.kill()


def test_real_server_restart_keeps_jobs_and_history(server_factory: Any) -> None:
    first = server_factory()
    root = first.root
    upstream = first.ok(
        "POST",
        "jobs",
        {"name": "upstream", "pipeline_path": "ok.py", "schedule_type": "interval", "interval_seconds": 3600},
    )
    specs: list[dict[str, Any]] = [
        {"schedule_type": "date", "date_type": "once", "run_date": "2031-05-01T10:00:00.000Z"},
        {
            "schedule_type": "date",
            "date_type": "daily",
            "run_date": "2030-01-15T07:30:00.000Z",
            "timezone": "Europe/Paris",
        },
        {"schedule_type": "date", "date_type": "weekly", "run_date": "2030-01-16T18:00:00.000Z"},
        {"schedule_type": "date", "date_type": "monthly", "run_date": "2030-01-05T06:45:00.000Z"},
        {"schedule_type": "date", "date_type": "every_x_days", "interval_days": 2},
        {"schedule_type": "cron", "cron_expression": "0 */2 * * *"},
        {"schedule_type": "trigger", "trigger_conditions": [{"job_id": upstream["id"], "on": "failure"}]},
    ]
    for i, spec in enumerate(specs):
        first.ok("POST", "jobs", {"name": f"job {i}", "pipeline_path": "ok.py", **spec})
    done = first.ok("POST", f"run/{upstream['id']}")
    assert done["success"] is True

    sleeper = first.ok(
        "POST",
        "jobs",
        {
            "name": "sleeper",
            "pipeline_path": "pid_forever.py",
            "schedule_type": "interval",
            "interval_seconds": 3600,
        },
    )
    active = first.ok("POST", f"run/{sleeper['id']}", {"wait": False})
    deadline = time.monotonic() + 15
    while not (root / "pid.txt").exists() or not (root / "pid.txt").read_text():
        assert time.monotonic() < deadline, "the pipeline never started"
        time.sleep(0.05)
    pipeline_pid = int((root / "pid.txt").read_text())
    assert not pid_gone(pipeline_pid)

    jobs_before = first.ok("GET", "jobs")["jobs"]
    runs_before = first.ok("GET", "runs")["runs"]
    assert len(jobs_before) == 9

    took = first.stop()
    print(f"\nSIGTERM to exit: {took:.2f} s")
    assert took < 20
    assert pid_gone(pipeline_pid), "the pipeline must not outlive the server"
    assert (root / ".amphi" / "scheduler.sqlite").is_file()

    second = server_factory()
    jobs_after = second.ok("GET", "jobs")["jobs"]

    def strip_last_run(jobs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [{k: v for k, v in j.items() if k not in ("last_run", "active_run")} for j in jobs]

    assert strip_last_run(jobs_after) == strip_last_run(jobs_before)
    # The run that was active at the stop showed on its job, and is over after the restart.
    active_before = {j["id"]: j["active_run"] for j in jobs_before}
    active_after = {j["id"]: j["active_run"] for j in jobs_after}
    assert active_before[sleeper["id"]]["id"] == active["id"] and active_after[sleeper["id"]] is None
    assert [j["next_run_time"] for j in jobs_after] == [j["next_run_time"] for j in jobs_before]
    by_id = {j["id"]: j for j in jobs_after}
    assert by_id[upstream["id"]]["last_run"] == {
        "id": done["run_id"],
        "status": "success",
        "finished_at": runs_before[-1]["finished_at"],
    }

    runs_after = second.ok("GET", "runs")["runs"]
    assert [r["id"] for r in runs_after] == [r["id"] for r in runs_before]
    finished_before = {r["id"]: r for r in runs_before if r["status"] == "success"}
    for run in runs_after:
        if run["id"] in finished_before:
            assert run == finished_before[run["id"]]
    ended = second.ok("GET", f"runs/{active['id']}")
    assert ended["status"] in ("cancelled", "interrupted"), ended
    assert by_id[sleeper["id"]]["last_run"]["status"] == ended["status"]
    detail = second.ok("GET", f"runs/{done['run_id']}")
    assert "hello from ok" in detail["output"]

    again = second.ok("POST", f"run/{upstream['id']}")
    assert again["success"] is True and again["run_id"] > max(r["id"] for r in runs_before)
    second.stop()
