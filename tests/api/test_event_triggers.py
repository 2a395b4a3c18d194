"""Event triggers through a real Jupyter server: files arriving in a watched folder start
exactly one run (with the paths in its event and in the pipeline's AMPHI_TRIGGER_FILES),
globs outside the workspace are refused at the field, and a job's inbound webhook starts
runs with the right token only, rotates, and is rate-limited."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from pathlib import Path
from typing import Any

import pytest
from api_support import SchedulerClient, interval_job

SHOW_TRIGGER = """\
import json, os
print("GOT " + json.dumps({k: os.environ.get(k) for k in ("AMPHI_TRIGGER_FILES", "AMPHI_PARAMETERS",
    "REGION", "LIMIT", "AMPHI_TRIGGER_FILES_PATH")}))
"""


def _got(run: dict[str, Any]) -> dict[str, Any]:
    line = next(line for line in (run.get("output") or "").splitlines() if line.startswith("GOT "))
    return json.loads(line[4:])  # type: ignore[no-any-return]


def file_job(name: str = "on arrival", glob: str = "data/incoming/*.csv", **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "pipeline_path": "show_trigger.py",
        "schedule_type": "file",
        "watch_path": glob,
        "watch_debounce_seconds": 1,
        **extra,
    }


async def _runs_of(api: SchedulerClient, job_id: str) -> list[dict[str, Any]]:
    return await api.runs(job_id=job_id)


async def _wait_for_runs(api: SchedulerClient, job_id: str, count: int, timeout: float = 30) -> list[dict]:
    deadline = time.monotonic() + timeout
    while True:
        runs = await _runs_of(api, job_id)
        if len(runs) >= count:
            return runs
        assert time.monotonic() < deadline, f"{len(runs)} run(s) of {job_id}, expected {count}"
        await asyncio.sleep(0.1)


@pytest.fixture
def incoming(workspace: Path) -> Path:
    (workspace / "show_trigger.py").write_text(SHOW_TRIGGER)
    folder = workspace / "data" / "incoming"
    folder.mkdir(parents=True)
    return folder


async def _watched(scheduler_app: Any, job_id: str, timeout: float = 10) -> None:
    """Wait until the server watches the job's folder (its set-up follows the job's save)."""
    triggers = scheduler_app.service.file_triggers
    deadline = time.monotonic() + timeout
    while job_id not in triggers.watched_jobs():
        assert time.monotonic() < deadline, "the job is not watched"
        await asyncio.sleep(0.05)


async def _seen(scheduler_app: Any, job_id: str, rel: str, timeout: float = 15) -> None:
    """Wait until the job's stored file state has taken in ``rel`` (its change was looked at)."""
    store = scheduler_app.service.store
    deadline = time.monotonic() + timeout
    while True:
        stored = await asyncio.to_thread(store.file_watch, job_id)
        if stored is not None and rel in stored[1]:
            return
        assert time.monotonic() < deadline, f"{rel} was not looked at"
        await asyncio.sleep(0.1)


async def test_a_file_written_in_chunks_starts_exactly_one_run(
    api: SchedulerClient, incoming: Path, scheduler_app: Any
) -> None:
    (incoming / "old.csv").write_text("a,b\n")  # there before the job: never fires
    job = await api.create_job(**file_job(watch_debounce_seconds=2))
    assert job["schedule_type"] == "file" and job["watch_path"] == "data/incoming/*.csv"
    assert job["schedule_description"] == "When files matching data/incoming/*.csv arrive"
    assert job["next_run_time"] is None and job["webhook_enabled"] is False
    await _watched(scheduler_app, job["id"])

    target = incoming / "a.csv"
    with target.open("w") as f:  # three chunks, each well within the 2 s settle time
        for chunk in ("x,y\n", "1,2\n", "3,4\n"):
            f.write(chunk)
            f.flush()
            await asyncio.sleep(0.5)
    (incoming / "notes.txt").write_text("not a csv")  # does not match: no run of its own

    runs = await _wait_for_runs(api, job["id"], 1)
    run = await api.wait_run(runs[0]["id"])
    assert run["status"] == "success", run
    assert run["triggered_by"] == "file"
    assert run["event"] == {"kind": "file", "paths": ["data/incoming/a.csv"], "count": 1}
    assert json.loads(_got(run)["AMPHI_TRIGGER_FILES"]) == ["data/incoming/a.csv"]
    listed = Path(_got(run)["AMPHI_TRIGGER_FILES_PATH"])
    assert listed.name == "trigger_files.json" and json.loads(listed.read_text()) == ["data/incoming/a.csv"]

    # Settled: the next run is for the next file only (a late second look at the chunks
    # would have fired a.csv again, before it or with it).
    (incoming / "b.csv").write_text("7,8\n")
    runs = await _wait_for_runs(api, job["id"], 2)
    await api.wait_run(runs[0]["id"])
    assert [r["event"]["paths"] for r in await _runs_of(api, job["id"])] == [
        ["data/incoming/b.csv"],
        ["data/incoming/a.csv"],
    ]

    # A change of the same file fires again, once.
    target.write_text("x,y\n5,6\n")
    runs = await _wait_for_runs(api, job["id"], 3)
    third = await api.wait_run(runs[0]["id"])
    assert third["event"] == {"kind": "file", "paths": ["data/incoming/a.csv"], "count": 1}


async def test_editing_a_file_job_moves_or_ends_its_watch_and_forgets_its_files(
    api: SchedulerClient, incoming: Path, scheduler_app: Any
) -> None:
    """Each edit is looked at for that job alone: a new glob watches the new folder only, a
    change to another schedule ends the watch and forgets the files it saw, and so does a
    delete; another job's edit leaves a watch as it was."""
    other = incoming.parent / "other"
    other.mkdir()
    store = scheduler_app.service.store
    job = await api.create_job(**file_job())
    await _watched(scheduler_app, job["id"])
    bystander = await api.create_job(**file_job("bystander", "data/other/*.txt"))
    await _watched(scheduler_app, bystander["id"])

    moved = await api.put(f"jobs/{job['id']}", {**file_job(), "watch_path": "data/other/*.csv"})
    assert moved.status == 200, moved
    deadline = time.monotonic() + 10
    while (await asyncio.to_thread(store.file_watch, job["id"]) or ("",))[0] != "data/other/*.csv":
        assert time.monotonic() < deadline, "the new glob was not taken in"
        await asyncio.sleep(0.05)
    (incoming / "a.csv").write_text("1\n")  # the old folder: no run
    (other / "b.csv").write_text("1\n")
    runs = await _wait_for_runs(api, job["id"], 1)
    assert runs[0]["event"]["paths"] == ["data/other/b.csv"]
    await api.wait_run(runs[0]["id"])

    hourly = {**interval_job("now an hourly job"), "pipeline_path": "show_trigger.py"}
    assert (await api.put(f"jobs/{job['id']}", hourly)).status == 200
    deadline = time.monotonic() + 10
    while job["id"] in scheduler_app.service.file_triggers.watched_jobs():
        assert time.monotonic() < deadline, "the watch outlived the file schedule"
        await asyncio.sleep(0.05)
    assert await asyncio.to_thread(store.file_watch, job["id"]) is None
    (other / "c.csv").write_text("1\n")
    (other / "d.txt").write_text("1\n")  # the bystander still fires
    fired = await _wait_for_runs(api, bystander["id"], 1)
    assert fired[0]["event"]["paths"] == ["data/other/d.txt"]
    assert len(await _runs_of(api, job["id"])) == 1

    assert (await api.delete(f"jobs/{bystander['id']}")).status == 200
    deadline = time.monotonic() + 10
    while await asyncio.to_thread(store.file_watch, bystander["id"]) is not None:
        assert time.monotonic() < deadline, "a deleted job's files were not forgotten"
        await asyncio.sleep(0.05)
    assert scheduler_app.service.file_triggers.watched_jobs() == []


async def test_non_matching_files_and_paused_jobs_start_nothing(
    api: SchedulerClient, incoming: Path, scheduler_app: Any
) -> None:
    job = await api.create_job(**file_job())
    await _watched(scheduler_app, job["id"])
    (incoming / "readme.txt").write_text("no")
    (incoming / ".hidden.csv").write_text("a temporary name a writer renames later")
    (incoming / "sub").mkdir()
    (incoming / "sub" / "deep.csv").write_text("one folder too deep for '*.csv'")
    # A matching file written after them fires one run, for it only: the watcher was live
    # and the files before it matched nothing.
    (incoming / "match.csv").write_text("1\n")
    runs = await _wait_for_runs(api, job["id"], 1)
    assert [r["event"]["paths"] for r in runs] == [["data/incoming/match.csv"]]

    assert (await api.post(f"jobs/{job['id']}/pause")).status == 200
    (incoming / "while_paused.csv").write_text("1\n")
    await _seen(scheduler_app, job["id"], "data/incoming/while_paused.csv")
    assert (await api.post(f"jobs/{job['id']}/resume")).status == 200

    # A paused job fires no backlog on resume: the next run is for the next file only.
    (incoming / "after.csv").write_text("1\n")
    runs = await _wait_for_runs(api, job["id"], 2)
    await api.wait_run(runs[0]["id"])
    runs = await _runs_of(api, job["id"])
    assert [r["event"]["paths"] for r in runs] == [["data/incoming/after.csv"], ["data/incoming/match.csv"]]


@pytest.mark.parametrize(
    ("glob", "said"),
    [
        ("/etc/*.conf", "absolute path"),
        ("../outside/*.csv", "leaves the workspace"),
        ("data/../../*.csv", "leaves the workspace"),
        ("escape/*.csv", "outside the workspace"),
        ("missing/*.csv", "does not exist"),
        (".amphi/runs/*", "scheduler's own files"),
        ("", "required"),
        ("data/incoming/[z-a].csv", "character class '[...]' that is not valid"),
        ("data/incoming/[!].csv", "character class '[...]' that is not valid"),
    ],
)
async def test_globs_outside_the_workspace_are_refused_at_the_field(
    api: SchedulerClient, incoming: Path, workspace: Path, tmp_path: Path, glob: str, said: str
) -> None:
    outside = tmp_path / "outside_folder"
    outside.mkdir()
    os.symlink(outside, workspace / "escape")
    reply = await api.post("jobs", file_job(glob=glob))
    assert reply.status == 400, reply
    assert said in reply.body["fields"]["watch_path"], reply
    assert await api.jobs() == []
    preview = await api.post("schedule/preview", {"schedule_type": "file", "watch_path": glob})
    assert preview.status == 400 and said in preview.body["fields"]["watch_path"], preview


async def test_restart_with_old_files_fires_none_and_new_files_fire_once(
    api: SchedulerClient, incoming: Path, scheduler_app: Any
) -> None:
    """A server that stops and starts again (the same database) fires nothing for the
    files it saw, and one run for the files that arrived while it was stopped."""
    service = scheduler_app.service
    job = await api.create_job(**file_job())
    await _watched(scheduler_app, job["id"])
    (incoming / "seen.csv").write_text("1\n")
    await _wait_for_runs(api, job["id"], 1)

    await service.file_triggers.stop()  # as when the server stops: nothing watches
    (incoming / "while_down.csv").write_text("2\n")
    os.utime(incoming / "seen.csv", ns=(os.stat(incoming / "seen.csv").st_mtime_ns,) * 2)  # unchanged
    await service.file_triggers.start()
    runs = await _wait_for_runs(api, job["id"], 2)
    assert runs[0]["event"]["paths"] == ["data/incoming/while_down.csv"]

    await service.file_triggers.stop()
    await service.file_triggers.start()  # only old files now: nothing fires for them
    await _watched(scheduler_app, job["id"])
    (incoming / "after_restart.csv").write_text("3\n")
    runs = await _wait_for_runs(api, job["id"], 3)
    await api.wait_run(runs[0]["id"])
    runs = await _runs_of(api, job["id"])
    assert len(runs) == 3 and runs[0]["event"]["paths"] == ["data/incoming/after_restart.csv"], runs


async def test_a_run_still_active_makes_a_file_arrival_a_skipped_run(
    api: SchedulerClient, incoming: Path, workspace: Path, scheduler_app: Any
) -> None:
    (workspace / "slow.py").write_text("import time\ntime.sleep(30)\n")
    job = await api.create_job(**file_job(pipeline_path="slow.py", max_instances=1))
    await _watched(scheduler_app, job["id"])
    (incoming / "one.csv").write_text("1\n")
    first = (await _wait_for_runs(api, job["id"], 1))[0]
    (incoming / "two.csv").write_text("2\n")
    runs = await _wait_for_runs(api, job["id"], 2)
    skipped = runs[0]
    assert skipped["status"] == "skipped" and "max_instances" in skipped["message"], skipped
    assert skipped["event"]["paths"] == ["data/incoming/two.csv"]
    assert (await api.post(f"runs/{first['id']}/cancel")).status == 200


# ------------------------------------------------------------------ inbound webhook


async def test_webhook_starts_a_run_with_its_body_as_parameters(
    api: SchedulerClient, workspace: Path
) -> None:
    (workspace / "show_trigger.py").write_text(SHOW_TRIGGER)
    job = await api.create_job(
        **interval_job("hooked", "show_trigger.py", parameters={"LIMIT": 1, "REGION": "us"})
    )
    enabled = await api.post(f"jobs/{job['id']}/webhook")
    assert enabled.status == 200, enabled
    token = enabled.body["token"]
    assert enabled.body["path"] == f"pipeline-scheduler/hooks/{job['id']}/{token}"
    assert enabled.body["url"].endswith(enabled.body["path"])
    listed = (await api.get(f"jobs/{job['id']}")).body
    assert listed["webhook_enabled"] is True and token not in json.dumps(listed)
    assert token not in json.dumps(await api.jobs())

    # No Jupyter token: the webhook's own token authenticates the call.
    call = await api.post(
        f"hooks/{job['id']}/{token}", {"REGION": "eu", "LIMIT": 7}, headers={"Authorization": ""}
    )
    assert call.status == 202, call
    run = await api.wait_run(call.body["id"])
    assert run["status"] == "success" and run["triggered_by"] == "webhook", run
    assert run["overrides"] == {"parameters": {"REGION": "eu", "LIMIT": 7}}
    assert run["event"]["kind"] == "webhook" and run["event"]["content_length"] > 0
    assert token not in json.dumps(run)
    got = _got(run)
    assert got["REGION"] == "eu" and got["LIMIT"] == "7"

    empty = await api.post(f"hooks/{job['id']}/{token}", headers={"Authorization": ""})
    assert empty.status == 202, empty
    assert _got(await api.wait_run(empty.body["id"]))["LIMIT"] == "1"

    bad = await api.post(f"hooks/{job['id']}/{token}", {"LIMIT": [1, 2]}, headers={"Authorization": ""})
    assert bad.status == 400 and "LIMIT" in bad.body["fields"], bad
    assert len(await api.runs(job_id=job["id"])) == 2


async def test_a_webhook_call_sets_only_parameters_the_job_declares(
    api: SchedulerClient, workspace: Path
) -> None:
    """Parameters become environment variables: a caller holding the URL must not set
    PYTHONPATH, LD_PRELOAD or the scheduler's own AMPHI_* variables."""
    (workspace / "show_trigger.py").write_text(SHOW_TRIGGER)
    job = await api.create_job(
        **interval_job("declared", "show_trigger.py", parameters={"LIMIT": 1, "DAY": "today"})
    )
    token = (await api.post(f"jobs/{job['id']}/webhook")).body["token"]
    path, no_auth = f"hooks/{job['id']}/{token}", {"Authorization": ""}
    for body, name in (
        ({"PYTHONPATH": str(workspace)}, "PYTHONPATH"),
        ({"LIMIT": 5, "LD_PRELOAD": "/tmp/evil.so"}, "LD_PRELOAD"),
        ({"AMPHI_SCHEDULER_RUN_ID": "1"}, "AMPHI_SCHEDULER_RUN_ID"),
        ({"LIMIT2": 5}, "LIMIT2"),
    ):
        refused = await api.post(path, body, headers=no_auth)
        assert refused.status == 400, (body, refused)
        assert refused.body == {
            "error": f"{name}: not a parameter of this job; it declares LIMIT, DAY",
            "fields": {name: "not a parameter of this job; it declares LIMIT, DAY"},
        }, refused
    assert await api.runs(job_id=job["id"]) == []

    passed = await api.post(path, {"LIMIT": 5}, headers=no_auth)
    assert passed.status == 202, passed
    run = await api.wait_run(passed.body["id"])
    assert run["status"] == "success" and run["overrides"] == {"parameters": {"LIMIT": 5}}, run
    assert _got(run)["LIMIT"] == "5"
    assert json.loads(_got(run)["AMPHI_PARAMETERS"]) == {"LIMIT": 5, "DAY": "today"}

    bare = await api.create_job(**interval_job("no parameters"))
    bare_token = (await api.post(f"jobs/{bare['id']}/webhook")).body["token"]
    none = await api.post(f"hooks/{bare['id']}/{bare_token}", {"LIMIT": 1}, headers=no_auth)
    assert none.status == 400 and none.body["fields"] == {
        "LIMIT": "not a parameter of this job; it declares none"
    }, none
    assert (await api.post(f"hooks/{bare['id']}/{bare_token}", {}, headers=no_auth)).status == 202


async def test_a_webhook_call_refuses_non_finite_numbers(api: SchedulerClient) -> None:
    job = await api.create_job(**interval_job("finite", parameters={"LIMIT": 1}))
    token = (await api.post(f"jobs/{job['id']}/webhook")).body["token"]
    for raw, text in (
        ('{"LIMIT": NaN}', "NaN"),
        ('{"LIMIT": -Infinity}', "-Infinity"),
        ('{"LIMIT": 1e999}', "1e999"),
    ):
        reply = await api.request(
            "POST", f"hooks/{job['id']}/{token}", raw=raw, headers={"Authorization": ""}
        )
        assert reply.status == 400, (raw, reply)
        assert reply.body["fields"] == {"LIMIT": f"must be a finite number, not {text}"}, reply
    assert await api.runs(job_id=job["id"]) == []


async def test_a_paused_job_answers_409_to_its_webhook_and_runs_nothing(api: SchedulerClient) -> None:
    job = await api.create_job(**interval_job("paused hook"))
    token = (await api.post(f"jobs/{job['id']}/webhook")).body["token"]
    assert (await api.post(f"jobs/{job['id']}/pause")).status == 200
    call = await api.post(f"hooks/{job['id']}/{token}", {}, headers={"Authorization": ""})
    assert call.status == 409, call
    assert call.body == {"error": "The job is paused; resume it to accept webhook calls."}
    assert await api.runs(job_id=job["id"]) == []
    # Rotating the token of a paused job keeps it paused; a resumed job takes calls again.
    token = (await api.post(f"jobs/{job['id']}/webhook")).body["token"]
    assert (await api.get(f"jobs/{job['id']}")).body["paused"] is True
    assert (await api.post(f"hooks/{job['id']}/{token}", {}, headers={"Authorization": ""})).status == 409
    assert (await api.post(f"jobs/{job['id']}/resume")).status == 200
    assert (await api.post(f"hooks/{job['id']}/{token}", {}, headers={"Authorization": ""})).status == 202


async def test_enabling_rotating_and_disabling_a_webhook_do_not_change_the_definition(
    api: SchedulerClient,
) -> None:
    """``updated_at`` is when the definition last changed (a deadline that passed before it
    is not alerted), and versions are definitions: a webhook's token is neither."""
    job = await api.create_job(**interval_job("kept"))
    versions = (await api.get(f"jobs/{job['id']}/versions")).body
    for method in ("POST", "POST", "DELETE"):  # enable, rotate, disable
        assert (await api.request(method, f"jobs/{job['id']}/webhook")).status == 200
        now = (await api.get(f"jobs/{job['id']}")).body
        assert now["webhook_enabled"] is (method == "POST"), now
        assert now["updated_at"] == job["updated_at"] and now["version"] == job["version"] == 1, now
    assert (await api.get(f"jobs/{job['id']}/versions")).body == versions


async def test_the_webhook_token_is_not_in_the_server_log(api: SchedulerClient, jp_serverapp: Any) -> None:
    job = await api.create_job(**interval_job("quiet", parameters={"LIMIT": 1}))
    token = (await api.post(f"jobs/{job['id']}/webhook")).body["token"]
    wrong = token[:-4] + "nope"
    records: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(self.format(record))

    collect = Collect(level=logging.DEBUG)
    loggers = [jp_serverapp.log, logging.getLogger("tornado"), logging.getLogger()]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.addHandler(collect)
        logger.setLevel(logging.DEBUG)
    try:
        no_auth = {"Authorization": ""}
        assert (await api.post(f"hooks/{job['id']}/{wrong}", {}, headers=no_auth)).status == 404
        assert (await api.post(f"hooks/{job['id']}/{token}", {"NOPE": 1}, headers=no_auth)).status == 400
        assert (await api.get(f"hooks/{job['id']}/{token}", headers=no_auth)).status == 405
        assert (await api.post(f"hooks/{job['id']}/{token}", {}, headers=no_auth)).status == 202
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.removeHandler(collect)
            logger.setLevel(level)
    logged = "\n".join(records)
    assert f"/hooks/{job['id']}/[secret]" in logged, logged  # the requests were logged
    assert token not in logged and wrong not in logged, logged
    assert token[:20] not in logged and wrong[:20] not in logged, logged


async def test_wrong_rotated_or_disabled_tokens_are_refused_and_run_nothing(
    api: SchedulerClient, workspace: Path
) -> None:
    job = await api.create_job(**interval_job("guarded"))
    other = await api.create_job(**interval_job("no hook"))
    no_auth = {"Authorization": ""}
    old = (await api.post(f"jobs/{job['id']}/webhook")).body["token"]
    new = (await api.post(f"jobs/{job['id']}/webhook")).body["token"]  # rotate
    assert new != old
    refusals = [
        await api.post(f"hooks/{job['id']}/{old}", {}, headers=no_auth),  # rotated away
        await api.post(f"hooks/{job['id']}/{new[:-1]}x", {}, headers=no_auth),
        await api.post(f"hooks/{job['id']}/", {}, headers=no_auth),
        await api.post(f"hooks/{other['id']}/{new}", {}, headers=no_auth),  # a job without a webhook
        await api.post(f"hooks/job_unknown/{new}", {}, headers=no_auth),
    ]
    answers = {(r.status, json.dumps(r.body)) for r in refusals[:2] + refusals[3:]}
    assert answers == {(404, json.dumps({"error": "No such webhook."}))}, refusals
    assert refusals[2].status in (403, 404)
    assert await api.runs() == []

    assert (await api.delete(f"jobs/{job['id']}/webhook")).status == 200
    assert (await api.get(f"jobs/{job['id']}")).body["webhook_enabled"] is False
    gone = await api.post(f"hooks/{job['id']}/{new}", {}, headers=no_auth)
    assert gone.status == 404 and gone.body == {"error": "No such webhook."}
    assert await api.runs() == []
    # Enabling needs Jupyter's authentication.
    assert (await api.post(f"jobs/{job['id']}/webhook", headers=no_auth)).status == 403


class TestRateLimit:
    @pytest.fixture
    def extension_config(self, db_file: Path) -> dict[str, Any]:
        return {"timezone": "UTC", "db_url": f"sqlite:///{db_file}", "webhook_rate_per_minute": 2}

    async def test_calls_beyond_the_rate_answer_429_with_retry_after(
        self, api: SchedulerClient, jp_fetch: Any
    ) -> None:
        job = await api.create_job(**interval_job("limited", max_instances=10))
        token = (await api.post(f"jobs/{job['id']}/webhook")).body["token"]
        path = f"hooks/{job['id']}/{token}"
        statuses = [(await api.post(path, {}, headers={"Authorization": ""})).status for _ in range(3)]
        assert statuses == [202, 202, 429], statuses
        response = await jp_fetch(
            "pipeline-scheduler",
            *path.split("/"),
            method="POST",
            body="{}",
            raise_error=False,
            headers={"Authorization": ""},
        )
        assert response.code == 429
        assert 1 <= int(response.headers["Retry-After"]) <= 30
        assert len(await api.runs(job_id=job["id"])) == 2
        # Wrong tokens never use up the job's calls (and are not told about the limit).
        wrong = await api.post(f"hooks/{job['id']}/nope", {}, headers={"Authorization": ""})
        assert wrong.status == 404


# ------------------------------------------------------------------ a real server restart


def test_a_restarted_server_fires_for_files_that_came_while_it_was_down_only(tmp_path: Path) -> None:
    """Two real ``jupyter server`` processes, one after the other, on one workspace: the
    second fires nothing for the files the first saw, and one run for the file written
    while no server ran."""
    from engine_support import EngineServer

    root = tmp_path / "workspace"
    (root / "data" / "incoming").mkdir(parents=True)
    (root / "show_trigger.py").write_text(SHOW_TRIGGER)
    (root / "data" / "incoming" / "old.csv").write_text("there before the job\n")
    servers: list[EngineServer] = []

    def start() -> EngineServer:
        server = EngineServer(root, tmp_path / "home")
        servers.append(server)
        return server.start()

    def wait_runs(server: EngineServer, job_id: str, count: int) -> list[dict[str, Any]]:
        deadline = time.monotonic() + 30
        while len(runs := server.runs(job_id)) < count:
            assert time.monotonic() < deadline, f"{len(runs)} run(s), expected {count}"
            time.sleep(0.1)
        return runs

    try:
        first = start()
        job = first.ok("POST", "jobs", file_job())
        # Written at once after the save, before the watch may be set up: it still fires
        # (modified after the job was saved).
        (root / "data" / "incoming" / "seen.csv").write_text("1\n")
        assert wait_runs(first, job["id"], 1)[0]["event"]["paths"] == ["data/incoming/seen.csv"]
        first.stop()

        (root / "data" / "incoming" / "while_down.csv").write_text("2\n")
        second = start()
        runs = wait_runs(second, job["id"], 2)
        assert runs[0]["event"]["paths"] == ["data/incoming/while_down.csv"]
        assert runs[0]["triggered_by"] == "file"
        second.stop()

        third = start()  # only files already seen: nothing fires for them
        (root / "data" / "incoming" / "after.csv").write_text("3\n")
        runs = wait_runs(third, job["id"], 3)
        assert len(runs) == 3 and runs[0]["event"]["paths"] == ["data/incoming/after.csv"], runs
    finally:
        for server in servers:
            server.cleanup()


class TestServerThatRefusesUnauthenticatedAccess:
    """``ServerApp.allow_unauthenticated_access = False`` refuses every handler method not
    marked for it: the webhook call is marked, the rest of the API still needs a token."""

    @pytest.fixture
    def jp_server_config(self, extension_config: dict[str, Any]) -> dict[str, Any]:
        return {
            "ServerApp": {
                "jpserver_extensions": {"pipeline_scheduler": True},
                "allow_unauthenticated_access": False,
            },
            "PipelineSchedulerApp": extension_config,
        }

    async def test_the_webhook_still_opens_with_its_token(self, api: SchedulerClient) -> None:
        job = await api.create_job(**interval_job("strict"))
        token = (await api.post(f"jobs/{job['id']}/webhook")).body["token"]
        call = await api.post(f"hooks/{job['id']}/{token}", {}, headers={"Authorization": ""})
        assert call.status == 202, call
        wrong = await api.post(f"hooks/{job['id']}/x{token}", {}, headers={"Authorization": ""})
        assert wrong.status == 404, wrong
        assert (await api.get("jobs", headers={"Authorization": ""})).status == 403


async def test_a_glob_whose_folder_is_missing_is_looked_at_again_now_and_then_not_at_once(
    api: SchedulerClient, workspace: Path, scheduler_app: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The look at every file job that retries a missing folder waits its time: it is not
    run again and again while the folder stays missing."""
    import shutil

    import pipeline_scheduler.file_triggers as file_triggers

    monkeypatch.setattr(file_triggers, "_RETRY_SECONDS", 0.5)
    triggers = scheduler_app.service.file_triggers
    looks: list[float] = []
    sync = triggers.sync

    async def counted() -> None:
        looks.append(time.monotonic())
        await sync()

    (workspace / "show_trigger.py").write_text(SHOW_TRIGGER)
    folder = workspace / "comes" / "and" / "goes"
    folder.mkdir(parents=True)
    job = await api.create_job(**file_job(glob="comes/and/goes/*.csv"))
    await _watched(scheduler_app, job["id"])
    # The folder goes while no watch runs (as between two servers): the next start finds
    # it missing.
    await triggers.stop()
    shutil.rmtree(workspace / "comes")
    monkeypatch.setattr(triggers, "sync", counted)
    await triggers.start()
    deadline = time.monotonic() + 10
    while len(looks) < 3:
        assert time.monotonic() < deadline, f"the missing folder was looked at {len(looks)} time(s)"
        await asyncio.sleep(0.05)
    await asyncio.sleep(1)
    gaps = [b - a for a, b in zip(looks, looks[1:], strict=False)]
    assert len(looks) <= 8 and min(gaps) >= 0.4, gaps
    assert job["id"] not in triggers.watched_jobs()
    folder.mkdir(parents=True)
    await _watched(scheduler_app, job["id"])  # a later look finds it again


async def test_a_watched_folder_removed_and_made_again_is_watched_again(
    api: SchedulerClient, incoming: Path, scheduler_app: Any
) -> None:
    import shutil

    job = await api.create_job(**file_job())
    await _watched(scheduler_app, job["id"])
    shutil.rmtree(incoming)
    await asyncio.sleep(1)
    incoming.mkdir()
    deadline = time.monotonic() + 40
    # Written until the watch is back (it looks again at a missing folder now and then).
    while not await _runs_of(api, job["id"]):
        (incoming / "back.csv").write_text(str(time.monotonic()))
        assert time.monotonic() < deadline, "the folder is not watched again"
        await asyncio.sleep(1)
    runs = await _runs_of(api, job["id"])
    assert runs[0]["event"]["paths"] == ["data/incoming/back.csv"]
