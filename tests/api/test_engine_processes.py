"""The execution engine across real ``jupyter server`` processes on one workspace (default
database <root>/.amphi/scheduler.sqlite): a clean stop during a run, kill -9 during a run
followed by a restart (interrupted run, one catch-up per job, skip policy, schedules
intact), and two servers on one workspace (one active scheduler, takeover after kill -9,
one run per fire time)."""

from __future__ import annotations

import math
import sqlite3
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from api_support import write_pipelines
from engine_support import (
    ENGINE_PIPELINES,
    EngineServer,
    kill_quietly,
    read_int,
    sync_poll,
    ts,
    wait_pids_gone,
    write_files,
)

FINAL = {"success", "failure", "cancelled", "timeout", "interrupted", "skipped"}


@pytest.fixture
def root(tmp_path: Path) -> Path:
    workspace = tmp_path / "workspace"
    write_pipelines(workspace)
    write_files(workspace, ENGINE_PIPELINES)
    return workspace


@pytest.fixture
def strays() -> Iterator[list[int]]:
    """Pipeline pids to kill at the end whatever happens (kill -9 of a server orphans them)."""
    pids: list[int] = []
    yield pids
    for pid in pids:
        kill_quietly(pid)


@pytest.fixture
def server(root: Path, tmp_path: Path) -> Iterator[Callable[..., EngineServer]]:
    """make(**settings) -> a launched (not yet ready) server on the shared workspace."""
    made: list[EngineServer] = []

    def make(**settings: Any) -> EngineServer:
        s = EngineServer(root, tmp_path / "home", settings)
        made.append(s)
        return s.launch()

    yield make
    for s in made:
        s.cleanup()


def stored_run(root: Path, run_id: int) -> dict[str, Any]:
    """A run as recorded in the SQLite file, read directly (no server needed)."""
    with sqlite3.connect(root / ".amphi" / "scheduler.sqlite") as conn:
        conn.row_factory = sqlite3.Row
        row = conn.execute("SELECT * FROM pipeline_scheduler_runs WHERE id = ?", (run_id,)).fetchone()
    assert row is not None, f"run {run_id} is not in the database"
    return dict(row)


def interval(name: str, seconds: int, path: str = "ok.py", **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "pipeline_path": path,
        "schedule_type": "interval",
        "interval_seconds": seconds,
        **extra,
    }


def on_grid(when: float, first: float, step: float) -> bool:
    """Whether ``when`` is one of the fire times first + k*step."""
    k = (when - first) / step
    return k > -1e-6 and math.isclose(k, round(k), abs_tol=1e-3)


def wait_running(s: EngineServer, run_id: int) -> None:
    sync_poll(lambda: s.ok("GET", f"runs/{run_id}")["status"] == "running", 15, 0.05, f"run {run_id} running")


# -- clean stop ---------------------------------------------------------------------------
def test_a_clean_stop_cancels_the_running_pipeline(
    server: Callable[..., EngineServer], root: Path, strays: list[int]
) -> None:
    s = server().wait_ready()
    job = s.ok("POST", "jobs", interval("sleeper", 3600, "spawn_child.py"))
    run = s.ok("POST", f"run/{job['id']}", {"wait": False})
    pid = read_int(root / "marks" / f"{run['id']}.pid")
    child = read_int(root / "marks" / f"{run['id']}.child")
    strays += [pid, child]

    started = time.monotonic()
    s.stop()
    assert time.monotonic() - started < 15
    alive = wait_pids_gone([pid, child], 5)
    assert alive == [], (
        f"a clean stop ends the pipeline ({pid}) and its child ({child}); alive: {alive}, "
        f"run: {stored_run(root, run['id'])}, server log: {s.tail()}"
    )
    recorded = stored_run(root, run["id"])
    assert recorded["status"] == "cancelled", recorded
    assert "shut down" in (recorded["message"] or ""), recorded
    assert recorded["finished_at"] is not None


def test_a_clean_stop_with_the_wait_policy_lets_the_run_finish(
    server: Callable[..., EngineServer], root: Path
) -> None:
    s = server(shutdown_policy="wait").wait_ready()
    assert s.ok("GET", "config")["shutdown_policy"] == "wait"
    job = s.ok("POST", "jobs", interval("one second", 3600, "one_second.py"))
    run = s.ok("POST", f"run/{job['id']}", {"wait": False})
    wait_running(s, run["id"])
    s.stop()
    recorded = stored_run(root, run["id"])
    assert recorded["status"] == "success", recorded
    assert (root / "marks" / f"{run['id']}.span").is_file(), "the pipeline ran to its end"


# -- kill -9 and restart ------------------------------------------------------------------
def test_kill_9_during_a_run_then_restart_recovers_and_catches_up_once(
    server: Callable[..., EngineServer], root: Path, strays: list[int]
) -> None:
    first = server().wait_ready()
    sleeper = first.ok("POST", "jobs", interval("sleeper", 3600, "pid_sleep.py"))
    run = first.ok("POST", f"run/{sleeper['id']}", {"wait": False})
    pid = read_int(root / "marks" / f"{run['id']}.pid")
    strays.append(pid)
    wait_running(first, run["id"])

    grace = {"misfire_grace_time": 3600}
    every2 = first.ok("POST", "jobs", interval("every 2 s", 2, **grace))
    separate = first.ok("POST", "jobs", interval("every 2 s, no coalescing", 2, coalesce=False, **grace))
    skipper = first.ok("POST", "jobs", interval("every 2 s, skip", 2, catchup="skip", **grace))
    nightly = first.ok(
        "POST",
        "jobs",
        {
            "name": "nightly",
            "pipeline_path": "ok.py",
            "schedule_type": "cron",
            "cron_expression": "30 4 * * *",
        },
    )
    jobs_before = {j["id"]: j for j in first.ok("GET", "jobs")["jobs"]}
    first.kill9()
    killed_at = time.time()
    assert first.process is not None and first.process.returncode == -9

    # Wait past two fire times of the every-2-s jobs before starting the next server.
    time.sleep(max(0.0, ts(every2["next_run_time"]) + 2.1 - time.time()))
    second = server()
    launched_at = time.time()
    second.wait_ready()
    ready_at = time.time()
    time.sleep(2.5)  # let regular fire times come after the catch-up

    interrupted = second.ok("GET", f"runs/{run['id']}")
    assert interrupted["status"] == "interrupted", interrupted
    assert interrupted["finished_at"] is not None

    # Jobs and their schedules are intact, next fire times are in the future.
    checked_at = time.time()
    jobs_after = {j["id"]: j for j in second.ok("GET", "jobs")["jobs"]}
    assert set(jobs_after) == set(jobs_before)
    ignore = {"last_run", "active_run", "next_run_time"}
    for job_id, before in jobs_before.items():
        after = jobs_after[job_id]
        assert {k: v for k, v in after.items() if k not in ignore} == {
            k: v for k, v in before.items() if k not in ignore
        }
        assert after["next_run_time"] is not None and ts(after["next_run_time"]) > checked_at - 0.3, after
    assert jobs_after[nightly["id"]]["next_run_time"] == jobs_before[nightly["id"]]["next_run_time"]
    assert jobs_after[sleeper["id"]]["next_run_time"] == jobs_before[sleeper["id"]]["next_run_time"]
    assert jobs_after[sleeper["id"]]["last_run"]["status"] == "interrupted"
    for job in (every2, separate, skipper):
        nxt = ts(jobs_after[job["id"]]["next_run_time"])
        assert nxt <= checked_at + 2.1 and on_grid(nxt, ts(job["next_run_time"]), 2), jobs_after[job["id"]]
    assert second.runs(nightly["id"]) == []

    def check_interval_job(job: dict[str, Any], expect_catchup: str) -> list[dict[str, Any]]:
        runs = sorted(second.runs(job["id"]), key=lambda r: r["id"])
        first_fire = ts(job["next_run_time"])
        assert first_fire < killed_at + 2.1
        assert runs, f"{job['name']}: nothing recorded"
        for r in runs:
            assert r["scheduled_for"] is not None and on_grid(ts(r["scheduled_for"]), first_fire, 2), (
                f"{job['name']}: every record belongs to a real fire time: {r}"
            )
            assert ts(r["created_at"]) > launched_at, "nothing ran while no server was up"
        catchups = [r for r in runs if r["triggered_by"] == "catchup"]
        done = [r for r in catchups if r["status"] != "skipped"]
        if expect_catchup == "run_once":
            assert len(done) == 1, f"{job['name']}: exactly one catch-up run: {runs}"
            assert done[0]["status"] == "success", done
            assert ts(done[0]["created_at"]) < ready_at + 1, "the catch-up runs at start-up"
        else:
            assert done == [], f"{job['name']}: the skip policy runs nothing: {runs}"
            assert len(catchups) >= 1, f"{job['name']}: the missed fire time is recorded: {runs}"
            assert all("skip" in (r["message"] or "") for r in catchups), catchups
        for r in runs:
            if r["triggered_by"] != "catchup":
                assert r["triggered_by"] == "schedule" and r["status"] in ("success", "running", "queued"), r
                assert ts(r["scheduled_for"]) > ts(catchups[-1]["scheduled_for"]), r
        per_fire_time = Counter(r["scheduled_for"] for r in runs)
        assert max(per_fire_time.values()) == 1, f"{job['name']}: one record per fire time: {runs}"
        assert any(r["triggered_by"] == "schedule" for r in runs), f"{job['name']} keeps firing: {runs}"
        return runs

    check_interval_job(every2, "run_once")
    runs = check_interval_job(separate, "run_once")
    # Without coalescing, each missed fire time gets its record: one catch-up, others skipped.
    missed = [r for r in runs if r["triggered_by"] == "catchup"]
    assert len(missed) >= 2, runs
    assert all(r["status"] == "skipped" for r in missed[1:]), missed
    check_interval_job(skipper, "skip")
    second.stop()


# -- two servers on one workspace ---------------------------------------------------------
def test_two_servers_one_active_scheduler_and_takeover_after_kill_9(
    server: Callable[..., EngineServer], root: Path
) -> None:
    a, b = server(), server()
    a.wait_ready()
    b.wait_ready()
    states = {s.port: s.state() for s in (a, b)}
    assert sorted(states.values()) == ["active", "standby"], states
    active, standby = (a, b) if states[a.port] == "active" else (b, a)

    job = standby.ok("POST", "jobs", interval("every 2 s", 2, "whoami.py", misfire_grace_time=3600))
    created_at = time.time()

    def executed(after: float = 0.0) -> list[dict[str, Any]]:
        return [
            r
            for r in standby.runs(job["id"])
            if r["status"] != "skipped" and r["scheduled_for"] and ts(r["scheduled_for"]) > after
        ]

    sync_poll(lambda: len([r for r in executed() if r["status"] in FINAL]) >= 3, 20, 0.2, "3 fire times")
    assert standby.state() == "standby" and active.state() == "active"
    for r in executed():
        if r["status"] == "success":
            out = standby.ok("GET", f"runs/{r['id']}")["output"]
            assert f"ppid={active.pid}" in out, f"run by the active server only: {out}"

    active.kill9()
    killed_at = time.time()
    took = sync_poll(lambda: standby.state() == "active" and time.time() - killed_at, 10, 0.1, "takeover")
    assert took < 5, f"took over {took:.1f} s after the kill (lock_poll_seconds is 2)"

    sync_poll(
        lambda: len([r for r in executed(killed_at) if r["status"] == "success"]) >= 3,
        20,
        0.2,
        "3 fire times after the takeover",
    )
    runs = standby.runs(job["id"])
    per_fire_time = Counter(r["scheduled_for"] for r in runs)
    assert max(per_fire_time.values()) == 1, f"exactly one run per fire time: {sorted(per_fire_time.items())}"
    assert all(r["scheduled_for"] is not None and ts(r["scheduled_for"]) > created_at for r in runs)
    for r in executed(killed_at + 1):
        if r["status"] == "success":
            out = standby.ok("GET", f"runs/{r['id']}")["output"]
            assert f"ppid={standby.pid}" in out, out
    assert {r["status"] for r in runs} <= {"success", "interrupted", "running", "queued"}, runs
    standby.stop()
