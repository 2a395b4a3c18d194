"""Runs with overrides (``POST run/{id}`` with parameters, env, timeout_seconds): what a run
is given reaches the pipeline's environment for that run only, is recorded with the run,
and bad overrides are refused with the field named and nothing run."""

from __future__ import annotations

import json
from pathlib import Path

from api_support import SchedulerClient, interval_job

SHOW_ENV = """\
import json, os
print("GOT " + json.dumps({k: os.environ.get(k) for k in ("LIMIT", "MODE", "REGION", "AMPHI_PARAMETERS",
    "AMPHI_SCHEDULED_FOR")}))
"""


def _got(output: str) -> dict:
    line = next(line for line in output.splitlines() if line.startswith("GOT "))
    return json.loads(line[4:])  # type: ignore[no-any-return]


async def test_overrides_reach_the_pipeline_for_that_run_only(api: SchedulerClient, workspace: Path) -> None:
    (workspace / "show_env.py").write_text(SHOW_ENV)
    job = await api.create_job(
        **interval_job(
            "env",
            "show_env.py",
            parameters={"LIMIT": 10, "MODE": "full"},
            env={"REGION": "eu"},
            timeout_seconds=60,
        )
    )
    result = await api.run_now(job["id"], parameters={"LIMIT": 99}, env={"REGION": "us"}, timeout_seconds=30)
    assert result["success"] is True, result
    got = _got(result["output"])
    assert got["LIMIT"] == "99" and got["MODE"] == "full" and got["REGION"] == "us"
    assert json.loads(got["AMPHI_PARAMETERS"]) == {"LIMIT": 99, "MODE": "full"}
    assert got["AMPHI_SCHEDULED_FOR"]  # a manual run's logical time: when it was asked for

    run = (await api.get(f"runs/{result['run_id']}")).body
    assert run["overrides"] == {"parameters": {"LIMIT": 99}, "env": {"REGION": "us"}, "timeout_seconds": 30}
    assert run["job_version"] == job["version"] == 1

    plain = await api.run_now(job["id"])  # the next run has the job's own values again
    assert _got(plain["output"])["LIMIT"] == "10" and _got(plain["output"])["REGION"] == "eu"
    assert (await api.get(f"runs/{plain['run_id']}")).body["overrides"] is None


async def test_an_overridden_timeout_stops_the_run(api: SchedulerClient, workspace: Path) -> None:
    (workspace / "slow.py").write_text("import time\ntime.sleep(60)\n")
    job = await api.create_job(**interval_job("slow", "slow.py", timeout_seconds=600))
    result = await api.run_now(job["id"], timeout_seconds=1)
    run = (await api.get(f"runs/{result['run_id']}")).body
    assert run["status"] == "timeout", run
    assert run["duration_seconds"] < 30


async def test_bad_overrides_are_refused_naming_the_field_and_nothing_runs(api: SchedulerClient) -> None:
    job = await api.create_job(**interval_job("ok"))
    for body, field in (
        ({"timeout_seconds": 0}, "timeout_seconds"),
        ({"parameters": {"bad name": 1}}, "parameters"),
        ({"parameters": "LIMIT=1"}, "parameters"),
        ({"env": {"A": ["x"]}}, "env"),
        ({"parameters": {"AMPHI_SCHEDULED_FOR": "2020-01-01T00:00:00Z"}}, "parameters"),
        ({"env": {"AMPHI_SCHEDULER_RUN_ID": "1"}}, "env"),
    ):
        reply = await api.post(f"run/{job['id']}", body)
        assert reply.status == 400, (body, reply)
        assert {name.split(".")[0] for name in reply.body["fields"]} == {field}, reply.body
    assert await api.runs() == []


async def test_non_finite_numbers_are_refused_at_the_field_and_nothing_runs(api: SchedulerClient) -> None:
    """NaN and Infinity are not JSON: an answer holding one would not parse in a browser."""
    job = await api.create_job(**interval_job("finite", parameters={"LIMIT": 1}))
    for raw, text in (
        ('{"parameters": {"LIMIT": NaN}}', "NaN"),
        ('{"parameters": {"LIMIT": Infinity}}', "Infinity"),
        ('{"parameters": {"LIMIT": -1e400}}', "-1e400"),
    ):
        reply = await api.request("POST", f"run/{job['id']}", raw=raw)
        assert reply.status == 400, (raw, reply)
        assert reply.body == {
            "error": f"parameters.LIMIT: must be a finite number, not {text}",
            "fields": {"parameters": f"LIMIT: must be a finite number, not {text}"},
        }, reply
    spec = json.dumps(interval_job("infinite")).replace("}", ', "parameters": {"LIMIT": NaN}}')
    created = await api.request("POST", "jobs", raw=spec)
    assert created.status == 400 and created.body["fields"]["parameters"].startswith("LIMIT: "), created
    assert await api.runs() == []
    assert [j["name"] for j in await api.jobs()] == ["finite"]


async def test_a_job_cannot_set_the_variables_the_scheduler_reserves(api: SchedulerClient) -> None:
    for field in ("env", "secret_env", "parameters"):
        reply = await api.post("jobs", interval_job("reserved", **{field: {"AMPHI_SCHEDULER_RUN_ID": "7"}}))
        assert reply.status == 400, (field, reply)
        assert "reserved" in reply.body["fields"][field], reply.body
    assert await api.jobs() == []
