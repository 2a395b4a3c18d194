"""The execution engine through a real in-process Jupyter server (pytest-jupyter) with real
pipeline subprocesses and a real SQLite file: timeouts (SIGTERM, then SIGKILL), cancel
without orphans, retries with backoff, the concurrency queue and max_instances, the run
environment (env, parameters, secrets, interpreter, working folder), notebooks,
retention, failure webhooks and .ampln snapshot freshness."""

from __future__ import annotations

import asyncio
import hashlib
import json
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import nbformat
import pytest
from api_support import FINAL_STATUSES, SchedulerClient, interval_job, write_pipelines
from engine_support import (
    ENGINE_PIPELINES,
    WebhookSink,
    async_read_int,
    async_wait_pids_gone,
    group_members,
    kill_quietly,
    max_overlap,
    poll,
    refusing_url,
    spans,
    ts,
    write_files,
)


def _config(db_file: Path, **extra: Any) -> dict[str, Any]:
    return {"timezone": "UTC", "db_url": f"sqlite:///{db_file}", "kill_grace_seconds": 1, **extra}


@pytest.fixture
def extension_config(db_file: Path) -> dict[str, Any]:
    return _config(db_file)


@pytest.fixture
def workspace(jp_root_dir: Path) -> Path:
    write_pipelines(jp_root_dir)
    write_files(jp_root_dir, ENGINE_PIPELINES)
    return jp_root_dir


@pytest.fixture
def marks(workspace: Path) -> Path:
    return workspace / "marks"


def trigger_job(name: str, upstream: str, on: str) -> dict[str, Any]:
    return {
        "name": name,
        "pipeline_path": "ok.py",
        "schedule_type": "trigger",
        "trigger_conditions": [{"job_id": upstream, "on": on}],
    }


async def job_runs(api: SchedulerClient, job_id: str) -> list[dict[str, Any]]:
    """Runs of a job, oldest first."""
    return sorted(await api.runs(job_id=job_id, limit="1000"), key=lambda r: r["id"])


async def final_runs(
    api: SchedulerClient, job_id: str, count: int, timeout: float = 20
) -> list[dict[str, Any]]:
    """Wait until the job has ``count`` runs, all final; answer them oldest first."""

    async def probe() -> list[dict[str, Any]] | None:
        runs = await job_runs(api, job_id)
        if len(runs) >= count and all(r["status"] in FINAL_STATUSES for r in runs):
            return runs
        return None

    return await poll(probe, timeout, what=f"{count} finished runs of {job_id}")  # type: ignore[no-any-return]


async def log_text(api: SchedulerClient, run_id: int) -> str:
    reply = await api.get(f"runs/{run_id}/log", params={"max_bytes": str(1024 * 1024)})
    assert reply.status == 200, reply
    return reply.body["data"]  # type: ignore[no-any-return]


# -- 1. timeouts --------------------------------------------------------------------------
async def test_timeout_stops_the_pipeline_and_its_children(api: SchedulerClient, marks: Path) -> None:
    job = await api.create_job(**interval_job("spawner", path="spawn_child.py", timeout_seconds=1))
    assert job["timeout_seconds"] == 1
    run = await api.start_run(job["id"])
    pid = await async_read_int(marks / f"{run['id']}.pid")
    child = await async_read_int(marks / f"{run['id']}.child")
    try:
        done = await api.wait_run(run["id"], timeout=20)
        assert done["status"] == "timeout", done
        assert 0.9 <= done["duration_seconds"] < 5, done
        assert "timeout" in (done["message"] or ""), done
        assert await async_wait_pids_gone([pid, child]) == [], "the timed-out process tree must be gone"
        assert group_members(pid) == [], "nothing may be left in the run's process group"
        assert (await api.jobs())[0]["last_run"]["status"] == "timeout"
    finally:
        kill_quietly(child)
        kill_quietly(pid)


async def test_a_pipeline_ignoring_sigterm_is_killed_after_the_grace(
    api: SchedulerClient, marks: Path
) -> None:
    """kill_grace_seconds is 1 here: SIGTERM at 1 s (ignored), SIGKILL at about 2 s."""
    job = await api.create_job(**interval_job("stubborn", path="ignore_term.py", timeout_seconds=1))
    run = await api.start_run(job["id"])
    pid = await async_read_int(marks / f"{run['id']}.pid")
    try:
        done = await api.wait_run(run["id"], timeout=20)
        assert done["status"] == "timeout", done
        assert (marks / f"{run['id']}.term").is_file(), "SIGTERM comes first"
        assert 1.8 <= done["duration_seconds"] < 6, f"SIGKILL after the grace period: {done}"
        assert done["exit_code"] == -9, done
        assert "ignoring SIGTERM" in await log_text(api, run["id"])
        assert await async_wait_pids_gone([pid]) == []
        assert group_members(pid) == []
    finally:
        kill_quietly(pid)


# -- 2. cancel ----------------------------------------------------------------------------
async def test_cancel_a_running_run_leaves_no_orphan(api: SchedulerClient, marks: Path) -> None:
    job = await api.create_job(**interval_job("spawner", path="spawn_child.py"))
    run = await api.start_run(job["id"])
    pid = await async_read_int(marks / f"{run['id']}.pid")
    child = await async_read_int(marks / f"{run['id']}.child")
    try:
        assert group_members(pid) != [], "the pipeline and its child run"
        running = (await api.get(f"runs/{run['id']}")).body
        assert running["status"] == "running", running

        started = time.monotonic()
        reply = await api.post(f"runs/{run['id']}/cancel")
        assert reply.status == 200, reply
        assert reply.body["status"] == "cancelled", reply
        assert reply.body["finished_at"] is not None
        assert time.monotonic() - started < 5
        assert await async_wait_pids_gone([child, pid]) == [], "the pipeline's own child must be gone too"
        assert group_members(pid) == []

        again = await api.post(f"runs/{run['id']}/cancel")
        assert again.status == 409, again
        assert (await api.get(f"runs/{run['id']}")).body["status"] == "cancelled"
    finally:
        kill_quietly(child)
        kill_quietly(pid)


async def test_cancel_of_a_pipeline_ignoring_sigterm(api: SchedulerClient, marks: Path) -> None:
    job = await api.create_job(**interval_job("stubborn", path="ignore_term.py"))
    run = await api.start_run(job["id"])
    pid = await async_read_int(marks / f"{run['id']}.pid")
    try:
        started = time.monotonic()
        reply = await api.post(f"runs/{run['id']}/cancel")
        took = time.monotonic() - started
        assert reply.body["status"] == "cancelled", reply
        assert (marks / f"{run['id']}.term").is_file(), "SIGTERM comes first"
        assert 0.9 <= took < 5, f"SIGKILL after kill_grace_seconds (1 s): {took:.2f}"
        assert await async_wait_pids_gone([pid]) == []
    finally:
        kill_quietly(pid)


class TestQueuedCancel:
    @pytest.fixture
    def extension_config(self, db_file: Path) -> dict[str, Any]:
        return _config(db_file, max_concurrent_runs=1)

    async def test_cancel_a_queued_run_never_starts_it(self, api: SchedulerClient, marks: Path) -> None:
        job = await api.create_job(**interval_job("sleeper", path="pid_sleep.py"))
        first = await api.start_run(job["id"])
        second = await api.start_run(job["id"])
        first_pid = await async_read_int(marks / f"{first['id']}.pid")
        try:
            queued = (await api.get(f"runs/{second['id']}")).body
            assert queued["status"] == "queued", queued

            reply = await api.post(f"runs/{second['id']}/cancel")
            assert reply.status == 200, reply
            assert reply.body["status"] == "cancelled", reply
            assert reply.body["started_at"] is None, reply

            stopped = await api.post(f"runs/{first['id']}/cancel")
            assert stopped.body["status"] == "cancelled", stopped
            # The slot is free now: the cancelled run must still not start.
            await asyncio.sleep(1.0)
            assert not (marks / f"{second['id']}.pid").exists(), "a cancelled queued run never starts"
            after = (await api.get(f"runs/{second['id']}")).body
            assert after["status"] == "cancelled" and after["started_at"] is None, after
            assert after["log_size"] == 0 and after["exit_code"] is None, after
            assert await async_wait_pids_gone([first_pid]) == []
        finally:
            kill_quietly(first_pid)


class TestDefaultTimeout:
    @pytest.fixture
    def extension_config(self, db_file: Path) -> dict[str, Any]:
        return _config(db_file, default_timeout_seconds=1)

    async def test_the_configured_default_timeout_applies(self, api: SchedulerClient, marks: Path) -> None:
        job = await api.create_job(**interval_job("sleeper", path="pid_sleep.py"))
        run = await api.start_run(job["id"])
        pid = await async_read_int(marks / f"{run['id']}.pid")
        try:
            done = await api.wait_run(run["id"], timeout=20)
            assert done["status"] == "timeout", done
            assert done["duration_seconds"] < 5, done
            assert await async_wait_pids_gone([pid]) == []
        finally:
            kill_quietly(pid)


# -- 3. retries ---------------------------------------------------------------------------
async def test_retries_back_off_and_dependents_see_only_the_final_outcome(
    api: SchedulerClient,
) -> None:
    with WebhookSink() as sink:
        job = await api.create_job(
            **interval_job(
                "flaky", path="always_fail.py", max_retries=2, retry_delay_seconds=1, webhook_url=sink.url
            )
        )
        assert (job["max_retries"], job["retry_delay_seconds"]) == (2, 1)
        on_failure = await api.create_job(**trigger_job("on failure", job["id"], "failure"))
        on_success = await api.create_job(**trigger_job("on success", job["id"], "success"))

        await api.start_run(job["id"])
        attempts = await final_runs(api, job["id"], 3, timeout=20)
        await final_runs(api, on_failure["id"], 1, timeout=10)
        await asyncio.sleep(1.5)  # time enough for a wrong 4th attempt or a 2nd trigger

        attempts = await job_runs(api, job["id"])
        assert [r["attempt"] for r in attempts] == [1, 2, 3], attempts
        assert [r["triggered_by"] for r in attempts] == ["manual", "retry", "retry"], attempts
        assert [r["status"] for r in attempts] == ["failure"] * 3, attempts
        first_gap = ts(attempts[1]["started_at"]) - ts(attempts[0]["finished_at"])
        second_gap = ts(attempts[2]["started_at"]) - ts(attempts[1]["finished_at"])
        assert 0.95 <= first_gap < 1.8, f"retry_delay_seconds=1 before attempt 2: {first_gap:.2f}"
        assert 1.95 <= second_gap < 2.9, f"exponential backoff, 2 s before attempt 3: {second_gap:.2f}"

        fired = await job_runs(api, on_failure["id"])
        assert len(fired) == 1, f"the 'on failure' dependent fires once: {fired}"
        assert fired[0]["triggered_by"] == "trigger"
        assert ts(fired[0]["created_at"]) >= ts(attempts[2]["finished_at"]), "after the last attempt"
        assert await job_runs(api, on_success["id"]) == []

        await poll(lambda: _value(sink.posts), 10, what="the failure webhook")
        await asyncio.sleep(0.3)
        assert len(sink.posts) == 1, f"one alert, for the final failure only: {sink.posts}"
        assert sink.posts[0]["job"]["id"] == job["id"]
        assert sink.posts[0]["run"]["id"] == attempts[2]["id"]
        assert sink.posts[0]["run"]["status"] == "failure"


async def _value(x: Any) -> Any:
    return x


async def test_a_retry_that_succeeds_ends_the_series(api: SchedulerClient, marks: Path) -> None:
    job = await api.create_job(
        **interval_job("fails once", path="fail_once.py", max_retries=2, retry_delay_seconds=1)
    )
    on_failure = await api.create_job(**trigger_job("on failure", job["id"], "failure"))
    on_success = await api.create_job(**trigger_job("on success", job["id"], "success"))

    result = await api.run_now(job["id"])
    assert result["success"] is False
    runs = await final_runs(api, job["id"], 2, timeout=15)
    await final_runs(api, on_success["id"], 1, timeout=10)
    await asyncio.sleep(1.5)

    runs = await job_runs(api, job["id"])
    assert [(r["attempt"], r["triggered_by"], r["status"]) for r in runs] == [
        (1, "manual", "failure"),
        (2, "retry", "success"),
    ], runs
    assert (marks / "fail_once.count").read_text() == "2"
    assert len(await job_runs(api, on_success["id"])) == 1
    assert await job_runs(api, on_failure["id"]) == []
    assert (await api.get(f"jobs/{job['id']}")).body["last_run"]["status"] == "success"


async def test_cancelling_an_attempt_ends_the_retry_series(api: SchedulerClient, marks: Path) -> None:
    job = await api.create_job(
        **interval_job("retrying sleeper", path="pid_sleep.py", max_retries=2, retry_delay_seconds=0)
    )
    on_failure = await api.create_job(**trigger_job("on failure", job["id"], "failure"))
    run = await api.start_run(job["id"])
    pid = await async_read_int(marks / f"{run['id']}.pid")
    try:
        reply = await api.post(f"runs/{run['id']}/cancel")
        assert reply.body["status"] == "cancelled", reply
        await asyncio.sleep(1.0)
        runs = await job_runs(api, job["id"])
        assert [r["status"] for r in runs] == ["cancelled"], "a cancelled run is not retried"
        assert await job_runs(api, on_failure["id"]) == [], "cancelled is not a failure"
    finally:
        kill_quietly(pid)


# -- 4. concurrency -----------------------------------------------------------------------
class TestConcurrencyLimit:
    @pytest.fixture
    def extension_config(self, db_file: Path) -> dict[str, Any]:
        return _config(db_file, max_concurrent_runs=2)

    async def test_ten_runs_with_a_limit_of_two_queue_in_fifo_order(
        self, api: SchedulerClient, marks: Path
    ) -> None:
        assert (await api.get("config")).body["max_concurrent_runs"] == 2
        job = await api.create_job(**interval_job("one second", path="one_second.py"))
        created = [await api.start_run(job["id"]) for _ in range(10)]
        ids = [r["id"] for r in created]
        assert ids == sorted(ids)

        most_running, most_queued = 0, 0
        deadline = time.monotonic() + 30
        while True:
            runs = await api.runs(job_id=job["id"])
            statuses = [r["status"] for r in runs]
            running, queued = statuses.count("running"), statuses.count("queued")
            assert running <= 2, f"never more than 2 running: {statuses}"
            assert set(statuses) <= {"queued", "running", "success"}, statuses
            most_running, most_queued = max(most_running, running), max(most_queued, queued)
            if all(s == "success" for s in statuses):
                break
            assert time.monotonic() < deadline, statuses
            await asyncio.sleep(0.05)

        assert most_running == 2, "two run side by side"
        assert most_queued >= 6, "the others wait as 'queued'"
        runs = sorted(await api.runs(job_id=job["id"]), key=lambda r: r["id"])
        assert [r["id"] for r in runs] == ids
        assert all(r["status"] == "success" for r in runs), runs
        started = [ts(r["started_at"]) for r in runs]
        # FIFO: started in the order they were queued. Two runs given slots at the same
        # instant may spawn their processes a few ms apart in either order; a queue out of
        # order would be off by a whole run (1 s).
        for earlier, later in zip(started, started[1:], strict=False):
            assert later >= earlier - 0.25, f"started out of queue order: {started}"
        assert started[2] >= min(started[:2]) + 0.9, "the 3rd run waited for a free slot"
        seen = spans(marks, ids)
        assert max_overlap(list(seen.values())) == 2, f"the pipelines themselves overlap by 2 at most: {seen}"


async def test_max_instances_records_skipped_fire_times(api: SchedulerClient, marks: Path) -> None:
    """A 1 s interval job whose pipeline takes 1.5 s, with max_instances 1."""
    job = await api.create_job(**interval_job("overlapping", path="slow_span.py", seconds=1, max_instances=1))
    assert job["max_instances"] == 1

    most_running = 0
    deadline = time.monotonic() + 20
    while True:
        runs = await job_runs(api, job["id"])
        most_running = max(most_running, sum(r["status"] == "running" for r in runs))
        assert most_running <= 1, runs
        done = [r for r in runs if r["status"] == "success"]
        skipped = [r for r in runs if r["status"] == "skipped"]
        if len(done) >= 2 and len(skipped) >= 2:
            break
        assert time.monotonic() < deadline, runs
        await asyncio.sleep(0.05)
    paused = await api.post(f"jobs/{job['id']}/pause")
    assert paused.status == 200, paused

    runs = await poll(lambda: _all_final(api, job["id"]), 10, what="the last run of the paused job to end")
    for run in (r for r in runs if r["status"] == "skipped"):
        assert run["triggered_by"] == "schedule", run
        assert run["scheduled_for"] is not None and run["started_at"] is None, run
        assert "max_instances" in (run["message"] or ""), run
    executed = [r["id"] for r in runs if r["status"] == "success"]
    assert max_overlap(list(spans(marks, executed).values())) == 1, "never two running at once"
    assert {r["status"] for r in runs} <= {"success", "skipped"}, runs


async def _all_final(api: SchedulerClient, job_id: str) -> list[dict[str, Any]] | None:
    runs = await job_runs(api, job_id)
    return runs if all(r["status"] in FINAL_STATUSES for r in runs) else None


# -- 7. environment -----------------------------------------------------------------------
SECRET = "s3cr3t-Value-9876"


async def test_env_parameters_and_secrets(api: SchedulerClient, workspace: Path) -> None:
    job = await api.create_job(
        **interval_job("env", path="env_print.py"),
        env={"GREETING": "hello world", "REGION": "eu-west"},
        parameters={"BATCH_SIZE": 500, "DRY_RUN": True},
        secret_env={"API_TOKEN": SECRET},
    )
    assert job["env"] == {"GREETING": "hello world", "REGION": "eu-west"}
    assert job["parameters"] == {"BATCH_SIZE": 500, "DRY_RUN": True}
    assert job["secret_env_keys"] == ["API_TOKEN"]
    for answer in (job, (await api.get(f"jobs/{job['id']}")).body, await api.jobs()):
        assert SECRET not in json.dumps(answer), "secret values are never echoed back"

    # A partial update that does not mention the secret keeps it.
    updated = await api.put(f"jobs/{job['id']}", {"description": "nightly"})
    assert updated.status == 200, updated
    assert updated.body["secret_env_keys"] == ["API_TOKEN"]
    assert SECRET not in json.dumps(updated.body)

    result = await api.run_now(job["id"])
    assert result["success"] is True, result
    out = result["output"]
    assert "GREETING=hello world" in out and "REGION=eu-west" in out
    assert "BATCH_SIZE=500" in out and "DRY_RUN=true" in out
    parameters = json.loads(out.split("AMPHI_PARAMETERS=", 1)[1].splitlines()[0])
    assert parameters == {"BATCH_SIZE": 500, "DRY_RUN": True}
    assert f"token sha256={hashlib.sha256(SECRET.encode()).hexdigest()}" in out, "the pipeline got the secret"
    assert "using token ***" in out
    assert "stderr token ***" in result["error"]
    run = (await api.get(f"runs/{result['run_id']}")).body
    log = await log_text(api, result["run_id"])
    assert "using token ***" in log
    for text in (out, result["error"], json.dumps(run), log):
        assert SECRET not in text, "the secret must not appear in tails or logs"


async def test_a_secret_is_masked_even_across_read_boundaries(api: SchedulerClient) -> None:
    """1.2 MB of output holding the secret 40,000 times: pipe reads cut it anywhere."""
    job = await api.create_job(
        **interval_job("flood", path="secret_flood.py"), secret_env={"API_TOKEN": SECRET}
    )
    result = await api.run_now(job["id"])
    assert result["success"] is True, result
    size = (await api.get(f"runs/{result['run_id']}")).body["log_size"]
    offset, chunks = 0, []
    while offset < size:
        reply = await api.get(
            f"runs/{result['run_id']}/log", params={"offset": str(offset), "max_bytes": str(1024 * 1024)}
        )
        chunks.append(reply.body["data"])
        offset = reply.body["next_offset"]
    log = "".join(chunks)
    assert log.count("token *** ") == 40000, "every occurrence is masked"
    assert "token *** 39999" in log
    for text in (log, result["output"]):
        assert SECRET not in text
        # Not even a piece of it (a secret cut in two by a read must still be masked).
        assert SECRET[:8] not in text and SECRET[-8:] not in text


async def test_python_executable_and_working_dir(
    api: SchedulerClient, workspace: Path, tmp_path: Path
) -> None:
    venv = tmp_path / "other-env"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    assert python.exists()

    job = await api.create_job(
        **interval_job("elsewhere", path="env_print.py"),
        python_executable=str(python),
        working_dir="sub/workdir",
    )
    assert job["python_executable"] == str(python)
    assert job["working_dir"] == "sub/workdir"
    result = await api.run_now(job["id"])
    assert result["success"] is True, result
    assert f"executable={python}" in result["output"], result["output"]
    assert f"prefix={venv}" in result["output"], "the other environment's interpreter ran it"
    assert f"cwd={workspace / 'sub' / 'workdir'}" in result["output"], result["output"]

    default = await api.create_job(**interval_job("default", path="env_print.py"))
    plain = await api.run_now(default["id"])
    assert f"prefix={sys.prefix}" in plain["output"]
    assert f"cwd={workspace}\n" in plain["output"], "without working_dir: the pipeline's folder"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("working_dir", "../x"),
        ("working_dir", "/tmp"),
        ("working_dir", "no/such/folder"),
        ("python_executable", "relative/python"),
        ("python_executable", "/no/such/python"),
    ],
)
async def test_bad_working_dir_or_interpreter_is_refused(
    api: SchedulerClient, field: str, value: str
) -> None:
    reply = await api.post("jobs", {**interval_job("bad", path="ok.py"), field: value})
    assert reply.status == 400, reply
    assert reply.body["error"].startswith(f"{field}:"), reply
    assert await api.jobs() == []

    job = await api.create_job(**interval_job("good", path="ok.py"))
    reply = await api.put(f"jobs/{job['id']}", {field: value})
    assert reply.status == 400, reply
    assert field not in (await api.get(f"jobs/{job['id']}")).body


# -- 8. notebooks -------------------------------------------------------------------------
def _notebook(*sources: str) -> str:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(s) for s in sources]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nbformat.writes(nb)


async def test_notebooks_run_with_their_output_in_the_log(api: SchedulerClient, workspace: Path) -> None:
    (workspace / "failing.ipynb").write_text(
        _notebook(
            'print("first cell says hi")', 'raise ValueError("notebook boom")', 'print("never reached")'
        )
    )
    (workspace / "passing.ipynb").write_text(_notebook('print("all good")', "6 * 7"))
    failing = await api.create_job(**interval_job("failing nb", path="failing.ipynb"))
    passing = await api.create_job(**interval_job("passing nb", path="passing.ipynb"))
    runs = [await api.start_run(failing["id"]), await api.start_run(passing["id"])]
    bad, good = [await api.wait_run(r["id"], timeout=60) for r in runs]

    assert bad["status"] == "failure", bad
    log = await log_text(api, bad["id"])
    assert "first cell says hi" in log, log
    assert "ValueError" in log and "notebook boom" in log, log
    assert "never reached" not in log
    assert bad["has_notebook"] is True

    reply = await api.get(f"runs/{bad['id']}/notebook")
    assert reply.status == 200, reply
    executed = nbformat.reads(json.dumps(reply.body), as_version=4)
    first, second, third = executed.cells
    assert "first cell says hi" in "".join(o.get("text", "") for o in first.outputs)
    assert any(o.get("output_type") == "error" and o.get("ename") == "ValueError" for o in second.outputs)
    assert third.outputs == []

    assert good["status"] == "success", good
    assert "all good" in await log_text(api, good["id"])
    executed = nbformat.reads(json.dumps((await api.get(f"runs/{good['id']}/notebook")).body), as_version=4)
    assert executed.cells[1].outputs[0]["data"]["text/plain"] == "42"

    plain = await api.create_job(**interval_job("plain"))
    ran = await api.run_now(plain["id"])
    assert (await api.get(f"runs/{ran['run_id']}/notebook")).status == 404


NOTEBOOK_WITH_CHILD = """
import os, subprocess, time
from pathlib import Path
marks = Path(os.environ["AMPHI_SCHEDULER_WORKSPACE"]) / "marks"
marks.mkdir(exist_ok=True)
run = os.environ["AMPHI_SCHEDULER_RUN_ID"]
child = subprocess.Popen(["sleep", "60"])
(marks / f"{run}.child").write_text(str(child.pid))
(marks / f"{run}.pid").write_text(str(os.getpid()))
print("kernel busy", flush=True)
time.sleep(60)
"""


async def test_cancel_of_a_notebook_run_stops_its_kernel_and_children(
    api: SchedulerClient, workspace: Path, marks: Path
) -> None:
    (workspace / "busy.ipynb").write_text(_notebook(NOTEBOOK_WITH_CHILD))
    job = await api.create_job(**interval_job("busy nb", path="busy.ipynb"))
    run = await api.start_run(job["id"])
    kernel = await async_read_int(marks / f"{run['id']}.pid", timeout=60)
    child = await async_read_int(marks / f"{run['id']}.child")
    try:
        reply = await api.post(f"runs/{run['id']}/cancel")
        assert reply.status == 200 and reply.body["status"] == "cancelled", reply
        assert await async_wait_pids_gone([kernel, child], timeout=8) == [], (
            "the notebook's kernel and the processes it started must not outlive the run"
        )
    finally:
        kill_quietly(child)
        kill_quietly(kernel)


# -- 9. retention -------------------------------------------------------------------------
class TestRetention:
    @pytest.fixture
    def extension_config(self, db_file: Path) -> dict[str, Any]:
        return _config(db_file, retention_max_runs_per_job=5)

    async def test_only_the_newest_runs_and_their_logs_are_kept(
        self, api: SchedulerClient, workspace: Path
    ) -> None:
        job = await api.create_job(**interval_job("often"))
        other = await api.create_job(**interval_job("other"))
        kept_other = [(await api.run_now(other["id"]))["run_id"] for _ in range(2)]
        ids = [(await api.run_now(job["id"]))["run_id"] for _ in range(12)]
        logs = workspace / ".amphi" / "runs"

        async def pruned() -> list[dict[str, Any]] | None:
            runs = await job_runs(api, job["id"])
            return runs if len(runs) == 5 else None

        runs = await poll(pruned, 10, what="retention down to 5 runs")
        assert [r["id"] for r in runs] == ids[-5:], "the 5 newest remain"
        for run_id in ids[:-5]:
            assert not (logs / str(run_id)).exists(), f"log folder of pruned run {run_id} is gone"
            assert (await api.get(f"runs/{run_id}")).status == 404
        for run_id in ids[-5:] + kept_other:
            assert (logs / str(run_id) / "output.log").is_file()
        assert [r["id"] for r in await job_runs(api, other["id"])] == kept_other, "per job"


# -- 10. failure webhook ------------------------------------------------------------------
async def test_failure_webhook_gets_one_post_per_failure_or_timeout(api: SchedulerClient) -> None:
    with WebhookSink() as sink:
        failing = await api.create_job(**interval_job("failing", path="fail.py", webhook_url=sink.url))
        slow = await api.create_job(
            **interval_job("slow", path="pid_sleep.py", timeout_seconds=1, webhook_url=sink.url)
        )
        fine = await api.create_job(**interval_job("fine", path="ok.py", webhook_url=sink.url))
        assert failing["webhook_url"] == sink.url
        started = [await api.start_run(j["id"]) for j in (failing, slow, fine)]
        finished = [await api.wait_run(r["id"], timeout=20) for r in started]
        assert [r["status"] for r in finished] == ["failure", "timeout", "success"], finished

        await poll(lambda: _value(len(sink.posts) >= 2), 10, what="two webhook POSTs")
        await asyncio.sleep(0.5)
        assert len(sink.posts) == 2, sink.posts
        by_job = {p["job"]["id"]: p for p in sink.posts}
        assert set(by_job) == {failing["id"], slow["id"]}
        assert by_job[failing["id"]]["run"]["status"] == "failure"
        assert by_job[failing["id"]]["run"]["id"] == finished[0]["id"]
        assert by_job[failing["id"]]["event"] == "run_failed"
        assert "boom" in by_job[failing["id"]]["error_tail"]
        assert by_job[slow["id"]]["run"]["status"] == "timeout"
        assert by_job[slow["id"]]["event"] == "run_timed_out"
        assert all(h.get("Content-Type") == "application/json" for h in sink.headers)


async def test_an_unreachable_webhook_does_not_hold_up_the_run(api: SchedulerClient) -> None:
    job = await api.create_job(**interval_job("failing", path="fail.py", webhook_url=refusing_url()))
    for _ in range(2):
        started = time.monotonic()
        result = await api.run_now(job["id"])
        assert time.monotonic() - started < 5
        assert result["success"] is False
        run = (await api.get(f"runs/{result['run_id']}")).body
        assert run["status"] == "failure" and run["finished_at"] is not None, run
    assert (await api.jobs())[0]["last_run"]["status"] == "failure"


async def test_a_webhook_that_never_answers_does_not_stall_other_work(api: SchedulerClient) -> None:
    """A webhook that accepts connections and never answers holds a thread for the alert
    timeout; runs, logs and the API must go on meanwhile."""
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(16)
    url = f"http://127.0.0.1:{silent.getsockname()[1]}/hook"
    try:
        failing = await api.create_job(**interval_job("failing", path="fail.py", webhook_url=url))
        fine = await api.create_job(**interval_job("fine"))
        for _ in range(4):
            assert (await api.run_now(failing["id"]))["success"] is False
        await asyncio.sleep(0.3)  # the alerts are now waiting for an answer
        started = time.monotonic()
        result = await api.run_now(fine["id"])
        log = await api.get(f"runs/{result['run_id']}/log")
        took = time.monotonic() - started
        assert result["success"] is True, result
        assert log.status == 200 and "hello from ok" in log.body["data"], log
        assert took < 3, f"a run and its log took {took:.1f} s while webhooks hang"
    finally:
        silent.close()


@pytest.mark.parametrize(
    "url",
    ["ftp://example.com/hook", "file:///etc/passwd", "javascript:alert(1)", "example.com/hook", "http://"],
)
async def test_a_webhook_that_is_not_http_is_refused(api: SchedulerClient, url: str) -> None:
    reply = await api.post("jobs", interval_job("hooked", webhook_url=url))
    assert reply.status == 400, reply
    assert reply.body["error"].startswith("webhook_url:"), reply
    assert await api.jobs() == []


# -- 11. .ampln freshness -----------------------------------------------------------------
async def test_ampln_runs_say_whether_the_stored_code_is_fresh(api: SchedulerClient, workspace: Path) -> None:
    pipeline = workspace / "flow.ampln"
    pipeline.write_text('{"doc": {"type": "pipeline"}, "pipelines": []}\n')
    job = await api.create_job(
        **interval_job("flow", path="flow.ampln"), python_code="print('generated code ran')\n"
    )
    first = await api.run_now(job["id"])
    assert first["success"] is True and "generated code ran" in first["output"], first
    line = (await log_text(api, first["run_id"])).splitlines()[0]
    assert "stored code matches the pipeline file" in line, line
    assert "WARNING" not in line
    assert (await api.get(f"runs/{first['run_id']}")).body["pipeline_changed"] is False

    pipeline.write_text('{"doc": {"type": "pipeline"}, "pipelines": [{"changed": true}]}\n')
    second = await api.run_now(job["id"])
    assert second["success"] is True, second
    line = (await log_text(api, second["run_id"])).splitlines()[0]
    assert "WARNING" in line and "changed" in line, line
    assert (await api.get(f"runs/{second['run_id']}")).body["pipeline_changed"] is True
    assert (await api.get(f"jobs/{job['id']}")).body["pipeline_changed"] is True
