"""Job history through the real server: every change of a job's definition is a version
(who, when, which fields), pausing and resending the same definition are not, a restore
brings an old definition back as a new version that fires on its old schedule, secrets
never appear in versions and survive a restore, and bad version ids are refused."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest
from api_support import FINAL_STATUSES, SchedulerClient, interval_job
from jupyter_server.auth.identity import IdentityProvider, User

from pipeline_scheduler.api_models import JobDetail, JobVersion, JobVersionList


def author(name: str) -> dict[str, str]:
    """The header a client names its user with (a new dict: the test client adds to it)."""
    return {"X-Pipeline-Scheduler-Author": name}


async def _versions(api: SchedulerClient, job_id: str) -> list[dict[str, Any]]:
    reply = await api.get(f"jobs/{job_id}/versions")
    assert reply.status == 200, reply
    JobVersionList.model_validate_json(json.dumps(reply.body))
    return reply.body["versions"]  # type: ignore[no-any-return]


async def _restore(api: SchedulerClient, job_id: str, version: int, **kw: Any) -> dict[str, Any]:
    reply = await api.post(f"jobs/{job_id}/versions/{version}/restore", **kw)
    assert reply.status == 200, reply
    JobDetail.model_validate_json(json.dumps(reply.body))
    return reply.body  # type: ignore[no-any-return]


async def test_changes_are_versions_and_pauses_and_resends_are_not(api: SchedulerClient) -> None:
    job = await api.create_job(**interval_job("load", seconds=3600))
    assert job["version"] == 1
    (first,) = await _versions(api, job["id"])
    assert first["version"] == 1 and first["changes"] == [] and first["restored_from"] is None
    assert first["author"]  # the Jupyter user of the token (an anonymous one here)
    assert first["definition"]["interval_seconds"] == 3600 and first["definition"]["name"] == "load"

    changed = await api.put(
        f"jobs/{job['id']}", {"interval_seconds": 60, "name": "load v2"}, headers=author("alice (cli)")
    )
    assert changed.status == 200, changed
    assert changed.body["version"] == 2

    for path in ("pause", "resume"):
        assert (await api.post(f"jobs/{job['id']}/{path}")).status == 200
    assert (await api.put(f"jobs/{job['id']}", {"paused": True})).body["version"] == 2
    resent = await api.put(f"jobs/{job['id']}", {**interval_job("load v2", seconds=60), "paused": False})
    assert resent.status == 200 and resent.body["version"] == 2, resent

    replaced = await api.post("jobs", {**interval_job("load v3", seconds=60), "id": job["id"]})
    assert replaced.status == 200 and replaced.body["version"] == 3, replaced

    listed = await _versions(api, job["id"])
    assert [v["version"] for v in listed] == [3, 2, 1]
    assert listed[1]["changes"] == ["name", "interval_seconds"]
    assert listed[1]["author"] == "alice (cli)"
    assert listed[0]["changes"] == ["name"]
    assert listed[0]["created_at"] >= listed[1]["created_at"] >= listed[2]["created_at"]
    one = await api.get(f"jobs/{job['id']}/versions/2")
    assert one.status == 200 and one.body == listed[1], one
    JobVersion.model_validate_json(json.dumps(one.body))


async def test_a_restored_version_fires_on_its_old_schedule(api: SchedulerClient) -> None:
    job = await api.create_job(**interval_job("every 2 s", seconds=2, paused=True))
    slower = await api.put(f"jobs/{job['id']}", {"interval_seconds": 3600})
    assert slower.body["version"] == 2
    assert (await api.post(f"jobs/{job['id']}/resume")).status == 200
    manual = await api.run_now(job["id"])
    assert (await api.get(f"runs/{manual['run_id']}")).body["job_version"] == 2

    restored = await _restore(api, job["id"], 1)
    assert restored["version"] == 3 and restored["interval_seconds"] == 2 and not restored["paused"]
    newest = (await _versions(api, job["id"]))[0]
    assert newest["restored_from"] == 1 and newest["changes"] == ["interval_seconds"]

    deadline = time.monotonic() + 15
    while True:
        runs = [r for r in await api.runs(job_id=job["id"]) if r["triggered_by"] == "schedule"]
        if len([r for r in runs if r["status"] in FINAL_STATUSES]) >= 2:
            break
        assert time.monotonic() < deadline, f"the restored 2 s interval did not fire twice: {runs}"
        await asyncio.sleep(0.1)
    assert {r["job_version"] for r in runs} == {3}
    assert {r["status"] for r in runs if r["status"] in FINAL_STATUSES} == {"success"}


async def test_secrets_never_appear_in_versions_and_survive_a_restore(
    api: SchedulerClient, workspace: Path
) -> None:
    (workspace / "secret.py").write_text(
        "import os\nprint('TOKEN is new:', os.environ['TOKEN'] == 'n3w-value')\n"
    )
    job = await api.create_job(**interval_job("secret", "secret.py", secret_env={"TOKEN": "0ld-value"}))
    rotated = await api.put(f"jobs/{job['id']}", {"secret_env": {"TOKEN": "n3w-value"}})
    assert rotated.body["version"] == 2
    await api.put(f"jobs/{job['id']}", {"env": {"MODE": "full"}})

    answers = [await api.get(f"jobs/{job['id']}/versions")] + [
        await api.get(f"jobs/{job['id']}/versions/{n}") for n in (1, 2, 3)
    ]
    for reply in answers:
        assert reply.status == 200, reply
        text = json.dumps(reply.body)
        assert "0ld-value" not in text and "n3w-value" not in text, text
    listed = answers[0].body["versions"]
    assert listed[1]["changes"] == ["secret_env"]
    assert all(v["definition"]["secret_env_keys"] == ["TOKEN"] for v in listed)

    restored = await _restore(api, job["id"], 1)
    assert restored["secret_env_keys"] == ["TOKEN"] and restored.get("env") is None
    result = await api.run_now(job["id"])
    assert "TOKEN is new: True" in result["output"], result


async def test_deleting_a_job_deletes_its_versions(api: SchedulerClient, db_file: Path) -> None:
    job = await api.create_job(**interval_job("short-lived", id="short-lived"))
    await api.put(f"jobs/{job['id']}", {"interval_seconds": 60})
    assert (await api.delete(f"jobs/{job['id']}")).status == 200
    assert (await api.get(f"jobs/{job['id']}/versions")).status == 404
    with sqlite3.connect(db_file) as db:
        left = db.execute(
            "SELECT count(*) FROM pipeline_scheduler_job_versions WHERE job_id = ?", (job["id"],)
        )
        assert left.fetchone() == (0,)
    again = await api.create_job(**interval_job("short-lived again", id="short-lived"))
    assert [v["version"] for v in await _versions(api, again["id"])] == [1]


async def test_bad_version_ids_and_versions_that_cannot_be_restored(
    api: SchedulerClient, workspace: Path
) -> None:
    (workspace / "gone.py").write_text("print('soon gone')\n")
    job = await api.create_job(**interval_job("moves", "gone.py"))
    await api.put(f"jobs/{job['id']}", {"pipeline_path": "ok.py"})
    for method, path in (
        ("GET", f"jobs/{job['id']}/versions/0"),
        ("GET", f"jobs/{job['id']}/versions/abc"),
        ("GET", f"jobs/{job['id']}/versions/3"),
        ("POST", f"jobs/{job['id']}/versions/99/restore"),
        ("POST", f"jobs/{job['id']}/versions/-1/restore"),
        ("GET", "jobs/no_such_job/versions"),
        ("POST", "jobs/no_such_job/versions/1/restore"),
    ):
        reply = await api.request(method, path)
        assert reply.status == 404 and reply.body["error"], (path, reply)

    (workspace / "gone.py").unlink()
    refused = await api.post(f"jobs/{job['id']}/versions/1/restore")
    assert refused.status == 400 and "pipeline_path" in refused.body["fields"], refused
    assert (await api.get(f"jobs/{job['id']}")).body["version"] == 2

    upstream = await api.create_job(**interval_job("upstream"))
    chained = await api.create_job(
        name="after upstream",
        pipeline_path="ok.py",
        schedule_type="trigger",
        trigger_conditions=[{"job_id": upstream["id"], "on": "success"}],
    )
    await api.put(f"jobs/{chained['id']}", {"schedule_type": "interval", "interval_seconds": 3600})
    assert (await api.delete(f"jobs/{upstream['id']}")).status == 200
    refused = await api.post(f"jobs/{chained['id']}/versions/1/restore")
    assert refused.status == 400 and "trigger_conditions" in refused.body["fields"], refused
    assert len(await _versions(api, chained["id"])) == 2


async def test_a_job_stored_before_job_history_gets_its_old_definition_as_version_1(
    api: SchedulerClient, db_file: Path
) -> None:
    job = await api.create_job(**interval_job("old", seconds=600))
    with sqlite3.connect(db_file) as db:  # as a database of schema 5 holds it
        db.execute("DELETE FROM pipeline_scheduler_job_versions")
    (only,) = await _versions(api, job["id"])
    assert only["version"] == 1 and only["author"] is None and only["definition"]["interval_seconds"] == 600

    assert (
        await api.put(f"jobs/{job['id']}", {"interval_seconds": 60}, headers=author("alice (cli)"))
    ).status == 200
    listed = await _versions(api, job["id"])
    assert [(v["version"], v["author"]) for v in listed] == [(2, "alice (cli)"), (1, None)]
    restored = await _restore(api, job["id"], 1)
    assert restored["interval_seconds"] == 600 and restored["version"] == 3


class NamedUser(IdentityProvider):
    """Every token request is Ada's (as under JupyterHub, where users have names)."""

    def generate_anonymous_user(self, handler: Any) -> User:
        return User(username="ada", name="Ada Lovelace")


class TestNamedUser:
    """Under a server whose users have names, the author is the name."""

    @pytest.fixture
    def jp_server_config(self, extension_config: dict[str, Any]) -> dict[str, Any]:
        return {
            "ServerApp": {
                "jpserver_extensions": {"pipeline_scheduler": True},
                "identity_provider_class": NamedUser,
            },
            "PipelineSchedulerApp": extension_config,
        }

    async def test_the_author_is_the_jupyter_user_and_says_the_cli(self, api: SchedulerClient) -> None:
        job = await api.create_job(**interval_job("by ada"))
        assert (
            await api.put(f"jobs/{job['id']}", {"interval_seconds": 60}, headers=author("alice (cli)"))
        ).status == 200
        await _restore(api, job["id"], 1, headers=author("mallory"))
        assert [v["author"] for v in await _versions(api, job["id"])] == [
            "Ada Lovelace",
            "Ada Lovelace (cli)",
            "Ada Lovelace",
        ]
