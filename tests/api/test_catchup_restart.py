"""Catch-up policies across a real server restart: fire times missed while no server ran
are all run ('all': oldest first, one at a time for max_instances 1, none skipped), only
the latest is run ('latest', and its older name 'run_once'), or they are recorded skipped
('none', and its older name 'skip')."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from api_support import write_pipelines
from engine_support import EngineServer, max_overlap, sync_poll, ts

EVERY_2S = "*/2 * * * * *"
POLICIES = ("all", "latest", "run_once", "none", "skip")


def test_catch_up_all_latest_none_after_a_restart(tmp_path: Path) -> None:
    root = tmp_path / "workspace"
    root.mkdir()
    write_pipelines(root)
    (root / "nap.py").write_text("import time\ntime.sleep(0.5)\n")
    servers: list[EngineServer] = []
    try:
        first = EngineServer(root, tmp_path / "home")
        servers.append(first)
        first.start()
        jobs: dict[str, dict[str, Any]] = {}
        for policy in POLICIES:
            jobs[policy] = first.ok(
                "POST",
                "jobs",
                {
                    "name": f"catch up {policy}",
                    "pipeline_path": "nap.py",
                    "schedule_type": "cron",
                    "cron_expression": EVERY_2S,
                    "catchup": policy,
                    "max_instances": 1,
                    "misfire_grace_time": 600,
                },
            )
        first.stop()
        stopped_at = time.time()
        time.sleep(7)  # the downtime itself: about 3 fire times of each job pass unseen

        second = EngineServer(root, tmp_path / "home")
        servers.append(second)
        second.start()

        def after_stop(job_id: str) -> list[dict[str, Any]]:
            """Catch-up runs, and the new server's ordinary fires."""
            runs = [
                r
                for r in second.runs(job_id)
                if r["triggered_by"] == "catchup" or ts(r["scheduled_for"]) > stopped_at
            ]
            return sorted(runs, key=lambda r: ts(r["scheduled_for"]))

        def settled(job_id: str) -> list[dict[str, Any]] | None:
            """The runs since the stop, once the catch-up is over: an ordinary fire of the
            new server is recorded and no catch-up run is still active."""
            runs = after_stop(job_id)
            catchup = [r for r in runs if r["triggered_by"] == "catchup"]
            ordinary = [r for r in runs if r["triggered_by"] == "schedule"]
            if not catchup or not ordinary or any(r["status"] in ("queued", "running") for r in catchup):
                return None
            if ts(ordinary[0]["scheduled_for"]) < ts(catchup[-1]["scheduled_for"]):
                return None
            return runs

        results = {p: sync_poll(lambda p=p: settled(jobs[p]["id"]), timeout=60, what=p) for p in POLICIES}

        def split(runs: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], float]:
            catchup = [r for r in runs if r["triggered_by"] == "catchup"]
            first_ordinary = min(ts(r["scheduled_for"]) for r in runs if r["triggered_by"] == "schedule")
            return catchup, first_ordinary

        # all: every missed fire time, 2 s apart up to the first ordinary fire, each run
        # (queued behind the one before: max_instances 1), never two at once.
        catchup, first_ordinary = split(results["all"])
        times = [ts(r["scheduled_for"]) for r in catchup]
        assert len(times) >= 3, catchup
        assert [round(b - a, 3) for a, b in zip(times, times[1:], strict=False)] == [2.0] * (len(times) - 1)
        assert round(first_ordinary - times[-1], 3) == 2.0, (times, first_ordinary)
        assert times[0] <= stopped_at + 2
        assert {r["status"] for r in catchup} == {"success"}, catchup
        assert max_overlap([(ts(r["started_at"]), ts(r["finished_at"])) for r in catchup]) == 1

        # latest (and run_once): one run, of the latest missed fire time.
        for policy in ("latest", "run_once"):
            catchup, first_ordinary = split(results[policy])
            assert [r["status"] for r in catchup] == ["success"], (policy, catchup)
            assert round(first_ordinary - ts(catchup[0]["scheduled_for"]), 3) == 2.0

        # none (and skip): recorded skipped, nothing run.
        for policy in ("none", "skip"):
            catchup, _ = split(results[policy])
            assert {r["status"] for r in catchup} == {"skipped"}, (policy, catchup)
            assert f"catch-up policy '{policy}'" in catchup[0]["message"]
        second.stop()
    finally:
        for server in servers:
            server.cleanup()


HOLD_PIPELINE = """\
import time
from pathlib import Path
Path("started").touch()
while Path("hold").exists():
    time.sleep(0.05)
"""


def test_a_backfill_stopped_with_its_server_is_resumed_by_the_next(tmp_path: Path) -> None:
    root = tmp_path / "workspace"
    root.mkdir()
    write_pipelines(root)
    (root / "hold.py").write_text(HOLD_PIPELINE)
    (root / "hold").touch()
    servers: list[EngineServer] = []
    try:
        first = EngineServer(root, tmp_path / "home")
        servers.append(first)
        first.start()
        job = first.ok(
            "POST",
            "jobs",
            {
                "name": "held",
                "pipeline_path": "hold.py",
                "schedule_type": "cron",
                "cron_expression": "0 * * * *",
            },
        )
        made = first.ok(
            "POST",
            f"jobs/{job['id']}/backfill",
            {"start": "2026-01-01T00:00:00Z", "end": "2026-01-01T02:00:00Z"},
        )
        assert made["total"] == 3
        sync_poll(lambda: (root / "started").exists(), what="the first run started")
        first.stop()  # its run is cancelled by the stop; the backfill stays running
        (root / "hold").unlink()

        second = EngineServer(root, tmp_path / "home")
        servers.append(second)
        second.start()

        def ended() -> dict[str, Any] | None:
            backfill = second.ok("GET", f"backfills/{made['id']}")
            return backfill if backfill["status"] in ("done", "cancelled") else None

        backfill = sync_poll(ended, timeout=60, what="the backfill resumed and ended")
        assert backfill["status"] == "done", backfill
        # The fire time the stop ended is run again, then the two left.
        assert backfill["counts"] == {"cancelled": 1, "success": 3}, backfill
        runs = [r for r in second.runs(job["id"]) if r["triggered_by"] == "backfill"]
        done = sorted(ts(r["scheduled_for"]) for r in runs if r["status"] == "success")
        assert [round(b - a) for a, b in zip(done, done[1:], strict=False)] == [3600, 3600]
        second.stop()
    finally:
        for server in servers:
            server.cleanup()
