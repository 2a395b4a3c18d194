"""Run routes through a real server with real pipeline subprocesses: run/{id} (waited and
not), runs (filters, cursor), runs/{id}, runs/{id}/log, runs/{id}/cancel, deletes."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime
from pathlib import Path

from api_support import SchedulerClient, interval_job

RUN_FIELDS = {
    "id",
    "job_id",
    "job_name",
    "pipeline_path",
    "status",
    "triggered_by",
    "scheduled_for",
    "started_at",
    "finished_at",
    "exit_code",
    "duration_seconds",
    "log_size",
    "log_truncated",
}


async def _wait_for_log(api: SchedulerClient, run_id: int, text: str, timeout: float = 15) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        reply = await api.get(f"runs/{run_id}/log")
        assert reply.status == 200, reply
        if text in reply.body["data"]:
            return reply.body  # type: ignore[no-any-return]
        assert time.monotonic() < deadline, f"{text!r} never appeared in the log: {reply.body}"
        await asyncio.sleep(0.05)


async def test_run_now_waits_and_answers_the_original_shape(api: SchedulerClient, workspace: Path) -> None:
    job = await api.create_job(**interval_job("ok"))
    result = await api.run_now(job["id"])
    assert set(result) == {"success", "output", "error", "exit_code", "run_id"}
    assert result["success"] is True
    assert result["exit_code"] == 0
    assert "hello from ok" in result["output"]
    assert f"cwd={workspace}" in result["output"] or f"cwd={workspace.resolve()}" in result["output"]
    assert result["error"] == ""
    assert isinstance(result["run_id"], int)

    run = (await api.get(f"runs/{result['run_id']}")).body
    assert run["status"] == "success" and run["triggered_by"] == "manual"
    listed = (await api.jobs())[0]
    assert listed["last_run"]["id"] == result["run_id"]
    assert listed["last_run"]["status"] == "success"
    assert listed["last_run"]["finished_at"] == run["finished_at"]


async def test_run_now_of_a_failing_pipeline(api: SchedulerClient) -> None:
    job = await api.create_job(**interval_job("fails", path="fail.py"))
    result = await api.run_now(job["id"])
    assert result["success"] is False
    assert result["exit_code"] == 3
    assert "boom: something broke" in result["error"]
    assert "partial output" in result["output"]
    run = (await api.get(f"runs/{result['run_id']}")).body
    assert run["status"] == "failure" and run["exit_code"] == 3
    assert (await api.jobs())[0]["last_run"]["status"] == "failure"


async def test_run_now_in_a_subfolder_runs_there(api: SchedulerClient) -> None:
    job = await api.create_job(**interval_job("local", path="etl/read_local.py"))
    result = await api.run_now(job["id"])
    assert result["success"] is True, result
    assert "read:local data file" in result["output"]


async def test_run_now_without_waiting_answers_202_and_the_run(api: SchedulerClient) -> None:
    job = await api.create_job(**interval_job("ok"))
    run = await api.start_run(job["id"])
    assert RUN_FIELDS <= set(run), set(run)
    assert run["job_id"] == job["id"] and run["job_name"] == "ok"
    assert run["status"] in ("queued", "running")
    assert run["triggered_by"] == "manual"
    assert run["finished_at"] is None
    done = await api.wait_run(run["id"])
    assert done["status"] == "success"
    assert done["exit_code"] == 0
    assert "hello from ok" in done["output"]
    assert done["error"] == ""
    assert done["duration_seconds"] is not None and done["duration_seconds"] >= 0
    started = datetime.fromisoformat(done["started_at"])
    finished = datetime.fromisoformat(done["finished_at"])
    assert started <= finished


async def test_run_now_refuses_a_bad_wait_flag(api: SchedulerClient) -> None:
    job = await api.create_job(**interval_job())
    reply = await api.post(f"run/{job['id']}", {"wait": "yes"})
    assert reply.status == 400, reply
    assert "wait" in reply.body["error"]
    assert await api.runs() == []


async def test_run_detail_has_output_and_error(api: SchedulerClient) -> None:
    job = await api.create_job(**interval_job("fails", path="fail.py"))
    result = await api.run_now(job["id"])
    detail = await api.get(f"runs/{result['run_id']}")
    assert detail.status == 200, detail
    assert RUN_FIELDS | {"output", "error"} <= set(detail.body)
    assert "partial output" in detail.body["output"]
    assert "boom: something broke" in detail.body["error"]
    assert detail.body["log_size"] > 0
    summary = (await api.runs())[0]
    assert "output" not in summary and "error" not in summary, "the list must stay light"


async def test_runs_filters_by_job_and_status(api: SchedulerClient) -> None:
    good = await api.create_job(**interval_job("good"))
    bad = await api.create_job(**interval_job("bad", path="fail.py"))
    ids: dict[str, list[int]] = {}
    for job in (good, bad, good):
        ids.setdefault(job["id"], []).append((await api.run_now(job["id"]))["run_id"])

    everything = await api.runs()
    assert [r["id"] for r in everything] == sorted(sum(ids.values(), []), reverse=True)
    assert [r["id"] for r in await api.runs(job_id=good["id"])] == sorted(ids[good["id"]], reverse=True)
    assert [r["id"] for r in await api.runs(job_id=bad["id"])] == ids[bad["id"]]
    assert {r["job_id"] for r in await api.runs(status="success")} == {good["id"]}
    assert [r["id"] for r in await api.runs(status="failure")] == ids[bad["id"]]
    assert len(await api.runs(status="success,failure")) == 3
    assert await api.runs(job_id="job_unknown") == []

    bad_status = await api.get("runs", params={"status": "exploded"})
    assert bad_status.status == 400 and "status" in bad_status.body["error"], bad_status


async def test_runs_paging_with_limit_and_before(api: SchedulerClient) -> None:
    job = await api.create_job(**interval_job())
    created = [(await api.run_now(job["id"]))["run_id"] for _ in range(5)]
    seen: list[int] = []
    cursor: int | None = None
    pages = 0
    while True:
        params = {"limit": "2"} if cursor is None else {"limit": "2", "before": str(cursor)}
        reply = await api.get("runs", params=params)
        assert reply.status == 200, reply
        page = [r["id"] for r in reply.body["runs"]]
        assert len(page) <= 2
        seen.extend(page)
        pages += 1
        cursor = reply.body["next_cursor"]
        if cursor is None:
            break
        assert cursor == page[-1]
    assert seen == sorted(created, reverse=True)
    assert pages == 3

    for bad in ({"limit": "0"}, {"limit": "1001"}, {"limit": "many"}, {"before": "x"}):
        reply = await api.get("runs", params=bad)
        assert reply.status == 400, (bad, reply)
        assert next(iter(bad)) in reply.body["error"], (bad, reply)


async def test_run_log_reads_from_an_offset(api: SchedulerClient) -> None:
    job = await api.create_job(**interval_job())
    run_id = (await api.run_now(job["id"]))["run_id"]
    whole = await api.get(f"runs/{run_id}/log")
    assert whole.status == 200, whole
    body = whole.body
    assert set(body) >= {"data", "offset", "next_offset", "size", "finished", "status"}
    assert "hello from ok" in body["data"]
    assert body["offset"] == 0
    assert body["next_offset"] == body["size"] == len(body["data"].encode())
    assert body["finished"] is True and body["status"] == "success"

    split = body["data"].index("hello")
    part = await api.get(f"runs/{run_id}/log", params={"offset": str(split), "max_bytes": "5"})
    assert part.body["data"] == "hello"
    assert part.body["next_offset"] == split + 5
    assert part.body["finished"] is False, "more bytes remain after this chunk"

    end = await api.get(f"runs/{run_id}/log", params={"offset": str(body["next_offset"])})
    assert end.body["data"] == ""
    assert end.body["next_offset"] == body["next_offset"]
    assert end.body["finished"] is True

    for bad in ({"offset": "-1"}, {"offset": "x"}, {"max_bytes": "0"}, {"max_bytes": str(2 * 1024 * 1024)}):
        reply = await api.get(f"runs/{run_id}/log", params=bad)
        assert reply.status == 400, (bad, reply)


async def test_cancel_a_sleeping_pipeline(api: SchedulerClient) -> None:
    job = await api.create_job(**interval_job("sleeper", path="forever.py"))
    run = await api.start_run(job["id"])
    live = await _wait_for_log(api, run["id"], "started")
    assert live["finished"] is False
    assert live["status"] == "running"
    assert (await api.get(f"runs/{run['id']}")).body["status"] == "running"

    refused = await api.delete(f"runs/{run['id']}")
    assert refused.status == 409, refused
    cleared = await api.delete("runs")
    assert cleared.body == {"success": True, "deleted": 0}, "an active run is never cleared"

    started = time.monotonic()
    cancelled = await api.post(f"runs/{run['id']}/cancel")
    assert cancelled.status == 200, cancelled
    assert time.monotonic() - started < 8, "SIGTERM should stop a sleeping pipeline quickly"
    assert cancelled.body["status"] == "cancelled"
    assert cancelled.body["finished_at"] is not None
    assert "never printed" not in cancelled.body["output"]
    final = await api.get(f"runs/{run['id']}/log")
    assert final.body["finished"] is True and final.body["status"] == "cancelled"

    again = await api.post(f"runs/{run['id']}/cancel")
    assert again.status == 409, again
    assert "cancelled" in again.body["error"]
    assert (await api.jobs())[0]["last_run"]["status"] == "cancelled"


async def test_waiting_run_now_answers_when_its_run_is_cancelled(api: SchedulerClient) -> None:
    job = await api.create_job(**interval_job("sleeper", path="forever.py"))
    waiting = asyncio.ensure_future(api.post(f"run/{job['id']}"))
    deadline = time.monotonic() + 15
    while not (runs := await api.runs(status="running")):
        assert time.monotonic() < deadline, "the run never started"
        await asyncio.sleep(0.05)
    assert not waiting.done()
    await api.post(f"runs/{runs[0]['id']}/cancel")
    reply = await asyncio.wait_for(waiting, 15)
    assert reply.status == 200, reply
    assert reply.body["success"] is False
    assert reply.body["run_id"] == runs[0]["id"]


async def test_delete_one_run_and_its_log(api: SchedulerClient, workspace: Path) -> None:
    job = await api.create_job(**interval_job())
    first = (await api.run_now(job["id"]))["run_id"]
    second = (await api.run_now(job["id"]))["run_id"]
    log_dir = workspace / ".amphi" / "runs" / str(first)
    assert log_dir.is_dir(), "run logs live under <workspace>/.amphi/runs/<id>/"

    reply = await api.delete(f"runs/{first}")
    assert reply.status == 200 and reply.body == {"success": True}, reply
    assert (await api.get(f"runs/{first}")).status == 404
    assert (await api.get(f"runs/{first}/log")).status == 404
    assert [r["id"] for r in await api.runs()] == [second]
    assert not log_dir.exists()
    assert (await api.delete(f"runs/{first}")).status == 404


async def test_clear_runs_answers_the_count(api: SchedulerClient, workspace: Path) -> None:
    a = await api.create_job(**interval_job("a"))
    b = await api.create_job(**interval_job("b", path="fail.py"))
    for job in (a, a, b, b, b):
        await api.run_now(job["id"])

    only_a = await api.delete("runs", params={"job_id": a["id"]})
    assert only_a.status == 200 and only_a.body == {"success": True, "deleted": 2}, only_a
    assert {r["job_id"] for r in await api.runs()} == {b["id"]}

    rest = await api.delete("runs")
    assert rest.body == {"success": True, "deleted": 3}, rest
    assert await api.runs() == []
    assert list((workspace / ".amphi" / "runs").iterdir()) == []
    assert (await api.delete("runs")).body == {"success": True, "deleted": 0}
