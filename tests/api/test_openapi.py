"""One contract source: models -> docs/openapi.json -> src/generated/openapi.ts stay in step,
the route table is documented, real answers of a real server match the answer models, and
request bodies valid by the document are accepted by the server.

Regenerate after a model change (see ``pipeline_scheduler/openapi.py``)::

    .venv/bin/python -m pipeline_scheduler.openapi --write && PATH=.venv/bin:$PATH jlpm gen:types
"""

from __future__ import annotations

import asyncio
import json
import math
import re
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import jsonschema
from api_support import SchedulerClient, interval_job
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from pipeline_scheduler import api_models
from pipeline_scheduler.handlers import route_table
from pipeline_scheduler.models import JobSpecInput
from pipeline_scheduler.openapi import build_spec, render

REPO = Path(__file__).resolve().parents[2]
DOCUMENT = REPO / "docs" / "openapi.json"
GENERATED_TS = REPO / "src" / "generated" / "openapi.ts"
BIN = REPO / "node_modules" / ".bin"
REGENERATE = "run `.venv/bin/python -m pipeline_scheduler.openapi --write && jlpm gen:types`"


def _without_version(spec: dict[str, Any]) -> dict[str, Any]:
    spec = json.loads(json.dumps(spec))
    spec["info"].pop("version", None)
    return spec


# ---------------------------------------------------------------- the three copies


def test_checked_in_document_is_generated_from_the_models() -> None:
    on_disk = json.loads(DOCUMENT.read_text(encoding="utf-8"))
    assert _without_version(on_disk) == _without_version(build_spec()), (
        f"docs/openapi.json is stale: {REGENERATE}"
    )
    # Byte for byte too (apart from the version), so a hand edit of the file is caught.
    assert re.sub(r'"version": "[^"]*"', "", DOCUMENT.read_text(encoding="utf-8")) == re.sub(
        r'"version": "[^"]*"', "", render()
    )


async def test_served_document_is_the_generated_one(api: SchedulerClient) -> None:
    reply = await api.get("openapi.json")
    assert reply.status == 200, reply
    assert reply.body == build_spec()


def test_generated_typescript_is_current() -> None:
    """src/generated/openapi.ts is what `jlpm gen:types` makes of docs/openapi.json now.
    (node_modules is installed by `make test`; without it this fails rather than skips.)"""
    generator, prettier = BIN / "openapi-typescript", BIN / "prettier"
    assert generator.exists() and prettier.exists(), (
        f"{generator} is missing: run `jlpm install` (make test does) before the tests"
    )
    raw = subprocess.run(
        [str(generator), str(DOCUMENT), "--default-non-nullable", "false"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout
    formatted = subprocess.run(
        [str(prettier), "--stdin-filepath", str(GENERATED_TS)],
        input=raw,
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout
    assert GENERATED_TS.read_text(encoding="utf-8") == formatted, (
        f"src/generated/openapi.ts is stale: {REGENERATE}"
    )


def _pattern_to_path(pattern: str) -> str:
    path = pattern.rstrip("?").rstrip("/")
    names = iter(["{job_id}", "{run_id}"])
    if "/runs/" in path:
        return re.sub(r"\(\[\^/\]\+\)", "{run_id}", path)
    if "/backfills/" in path:
        return re.sub(r"\(\[\^/\]\+\)", "{backfill_id}", path)
    if "/hooks/" in path:
        names = iter(["{job_id}", "{token}"])
        return re.sub(r"\(\[\^/\]\+\)", lambda _: next(names), path)
    if "/versions/" in path:
        names = iter(["{job_id}", "{version}"])
        return re.sub(r"\(\[\^/\]\+\)", lambda _: next(names), path)
    path = re.sub(r"\(\[\^/\]\+\)/\(pause\|resume\)", "{job_id}/(pause|resume)", path)
    return re.sub(r"\(\[\^/\]\+\)", next(names), path)


def test_every_route_and_method_is_described() -> None:
    spec = build_spec()
    described: set[tuple[str, str]] = {
        (path, method)
        for path, item in spec["paths"].items()
        for method in item
        if method in ("get", "post", "put", "delete")
    }
    served: set[tuple[str, str]] = set()
    for pattern, handler in route_table():
        if pattern.endswith("(.*)"):
            continue  # the JSON 404 for unknown routes
        path = _pattern_to_path(pattern)
        paths = (
            [path.replace("(pause|resume)", "pause"), path.replace("(pause|resume)", "resume")]
            if "(pause|resume)" in path
            else [path]
        )
        for method in ("get", "post", "put", "delete"):
            if method in vars(handler):
                served.update((p, method) for p in paths)
    assert served == described


def test_job_spec_schema_lists_every_model_field() -> None:
    schema = build_spec()["components"]["schemas"]["JobSpec"]
    assert set(schema["properties"]) == set(JobSpecInput.model_fields)


def test_every_answer_model_is_a_component() -> None:
    schemas = build_spec()["components"]["schemas"]
    assert set(api_models.__all__) <= set(schemas)


# ---------------------------------------------------------------- real answers


def check(model: type[BaseModel], body: Any) -> Any:
    """Validate an answer strictly (no unknown field, no coercion) against its model."""
    try:
        model.model_validate_json(json.dumps(body))
    except ValidationError as err:
        raise AssertionError(
            f"answer does not match {model.__name__}: {err}\n{json.dumps(body)[:2000]}"
        ) from None
    return body


FUTURE = (datetime.now(timezone.utc) + timedelta(days=30)).replace(microsecond=0)
AMPLN_CODE = "print('generated from the pipeline')\n"


def _job_bodies(trigger_target: str) -> dict[str, dict[str, Any]]:
    at = FUTURE.isoformat().replace("+00:00", "Z")
    return {
        "once": {"schedule_type": "date", "date_type": "once", "run_date": at},
        "daily": {"schedule_type": "date", "date_type": "daily", "run_date": at, "timezone": "Europe/Paris"},
        "weekly": {"schedule_type": "date", "date_type": "weekly", "run_date": at},
        "monthly": {"schedule_type": "date", "date_type": "monthly", "run_date": at},
        "every_x_days": {"schedule_type": "date", "date_type": "every_x_days", "interval_days": 3},
        "interval": {
            "schedule_type": "interval",
            "interval_seconds": 3600,
            "max_instances": 2,
            "coalesce": True,
            "misfire_grace_time": 60,
            "catchup": "skip",
            "timeout_seconds": 600,
            "max_retries": 2,
            "retry_delay_seconds": 30,
            "env": {"STAGE": "test"},
            "secret_env": {"API_KEY": "s3cret-value"},
            "parameters": {"LIMIT": 100, "RATIO": 0.5, "DRY": True, "LABEL": "x"},
            "python_executable": sys.executable,
            "working_dir": "etl",
            "webhook_url": "https://hooks.example.com/alert",
            "deadline_time": "07:30",
            "max_duration_minutes": 90,
            "slack_webhook_url": "https://hooks.slack.example/services/T0/B0/x",
            "alert_emails": ["ops@example.org"],
            "alert_on": ["failure", "deadline"],
            "description": "every option set",
        },
        "cron": {"schedule_type": "cron", "cron_expression": "*/5 * * * *", "paused": True},
        "file": {"schedule_type": "file", "watch_path": "etl/*.csv", "watch_debounce_seconds": 5},
        "trigger": {
            "schedule_type": "trigger",
            "logical_operator": "AND",
            "trigger_conditions": [{"job_id": trigger_target, "on": "success"}],
        },
    }


async def test_job_answers_match_the_models(api: SchedulerClient, workspace: Path) -> None:
    (workspace / "flow.ampln").write_text(
        '{"doc": {"type": "pipeline"}, "pipelines": []}\n', encoding="utf-8"
    )
    base = check(api_models.JobDetail, await api.create_job(**interval_job("base")))
    created = {}
    for kind, body in _job_bodies(base["id"]).items():
        reply = await api.post("jobs", {"name": kind, "pipeline_path": "ok.py", **body})
        assert reply.status == 201, (kind, reply)
        created[kind] = check(api_models.JobDetail, reply.body)
        detail = await api.get(f"jobs/{reply.body['id']}")
        check(api_models.JobDetail, detail.body)
    ampln = await api.post(
        "jobs",
        {**interval_job("ampln", path="flow.ampln"), "python_code": AMPLN_CODE},
    )
    assert ampln.status == 201, ampln
    check(api_models.JobDetail, ampln.body)

    listing = await api.get("jobs")
    check(api_models.JobList, listing.body)
    assert len(listing.body["jobs"]) == len(created) + 2

    job_id = created["interval"]["id"]
    check(api_models.JobDetail, (await api.put(f"jobs/{job_id}", {"name": "renamed"})).body)
    check(api_models.JobDetail, (await api.post(f"jobs/{job_id}/pause")).body)
    check(api_models.JobDetail, (await api.post(f"jobs/{job_id}/resume")).body)
    replaced = await api.post("jobs", {**interval_job("replaced"), "id": job_id})
    assert replaced.status == 200, replaced
    check(api_models.JobDetail, replaced.body)
    check(api_models.Success, (await api.delete(f"jobs/{created['once']['id']}")).body)


async def test_run_answers_match_the_models(api: SchedulerClient) -> None:
    ok = await api.create_job(**interval_job("ok"))
    waited = await api.post(f"run/{ok['id']}", {"wait": True})
    assert waited.status == 200, waited
    check(api_models.RunNowResult, waited.body)
    failed = await api.create_job(**interval_job("fail", path="fail.py"))
    check(api_models.RunNowResult, await api.run_now(failed["id"]))

    forever = await api.create_job(**interval_job("forever", path="forever.py"))
    started = await api.post(f"run/{forever['id']}", {"wait": False})
    assert started.status == 202, started
    check(api_models.Run, started.body)
    # While it is active, the job's answers (and the list) carry it.
    for _ in range(100):
        job = check(api_models.JobDetail, (await api.get(f"jobs/{forever['id']}")).body)
        if job.get("active_run") and job["active_run"]["status"] == "running":
            break
        await asyncio.sleep(0.05)
    check(api_models.JobList, (await api.get("jobs")).body)
    check(api_models.RunLog, (await api.get(f"runs/{started.body['id']}/log")).body)
    cancelled = await api.post(f"runs/{started.body['id']}/cancel")
    assert cancelled.status == 200, cancelled
    check(api_models.RunDetail, cancelled.body)

    page = await api.get("runs", params={"limit": "1"})
    check(api_models.RunList, page.body)
    assert page.body["next_cursor"] is not None
    check(api_models.RunList, (await api.get("runs", params={"before": str(page.body["next_cursor"])})).body)
    run_id = waited.body["run_id"]
    check(api_models.RunDetail, (await api.get(f"runs/{run_id}")).body)
    log = await api.get(f"runs/{run_id}/log", params={"offset": "0", "max_bytes": "16"})
    check(api_models.RunLog, log.body)
    check(api_models.Success, (await api.delete(f"runs/{run_id}")).body)
    check(api_models.DeletedRuns, (await api.delete("runs")).body)


async def test_preview_and_components_answers_match_the_models(api: SchedulerClient) -> None:
    target = await api.create_job(**interval_job("target"))
    for kind, body in _job_bodies(target["id"]).items():
        reply = await api.post("schedule/preview", body)
        assert reply.status == 200, (kind, reply)
        check(api_models.Preview, reply.body)
    check(api_models.ComponentsConfig, (await api.get("components-config")).body)
    check(api_models.Success, (await api.post("components-config", {"content": "[x]\n"})).body)
    check(api_models.ComponentsConfig, (await api.get("components-config")).body)
    saved = await api.post("components-file", {"filename": "c.json", "content": "{}"})
    check(api_models.ComponentFileResult, saved.body)
    removed = await api.delete("components-file", params={"filename": "c.json"})
    check(api_models.ComponentFileResult, removed.body)


async def test_config_answer_matches_the_model(api: SchedulerClient) -> None:
    """Config carries every key of the model, `version` (the package version) included."""
    from pipeline_scheduler import __version__

    reply = await api.get("config")
    assert reply.status == 200, reply
    check(api_models.Config, reply.body)
    assert reply.body["version"] == __version__


async def test_error_answers_match_the_model(api: SchedulerClient) -> None:
    job = await api.create_job(**interval_job("has a dependent"))
    await api.create_job(
        name="dependent",
        pipeline_path="ok.py",
        schedule_type="trigger",
        trigger_conditions=[{"job_id": job["id"], "on": "success"}],
    )
    bad = await api.post("jobs", interval_job(seconds=0))
    assert bad.status == 400, bad
    check(api_models.Error, bad.body)
    if "fields" in bad.body:
        assert set(bad.body["fields"]) == {"interval_seconds"}, bad
    errors = [
        (400, await api.post("schedule/preview", {"schedule_type": "cron", "cron_expression": "61 * * * *"})),
        (400, await api.post("jobs", raw="{not json")),
        (400, await api.get("runs", params={"limit": "0"})),
        (404, await api.get("jobs/job_nope")),
        (404, await api.get("runs/abc")),
        (404, await api.get("no/such/route")),
        (409, await api.delete(f"jobs/{job['id']}")),
        (403, await api.get("jobs", headers={"Authorization": ""})),
    ]
    for status, reply in errors:
        assert reply.status == status, reply
        check(api_models.Error, reply.body)


# ---------------------------------------------------------------- schema-driven bodies
# Bodies generated from the document's NewJob and ScheduleRequest schemas (not from the
# models) must be accepted. What a schema cannot say (the file exists, a cron
# expression's values, a real time zone, a future date, an existing job id) is drawn from
# valid values, as the schemas' descriptions tell a client.

PIPELINE_PATHS = ["ok.py", "etl/read_local.py"]
CRONS = ["*/5 * * * *", "0 8 * * mon-fri", "0 0 1 * *", "30 2 * * 0", "0 */2 * * * *", " 15 3 * * * "]
ZONES = ["UTC", "Europe/Paris", "America/New_York", "Asia/Kolkata", "Australia/Lord_Howe"]
RUN_DATES = [
    FUTURE.isoformat(),
    FUTURE.isoformat().replace("+00:00", "Z"),
    (FUTURE + timedelta(days=3, hours=5)).strftime("%Y-%m-%dT%H:%M:%S.000Z"),
    (FUTURE + timedelta(days=40)).astimezone(timezone(timedelta(hours=-5))).isoformat(),
]
SEMANTIC: dict[str, list[Any]] = {
    "pipeline_path": PIPELINE_PATHS,
    "cron_expression": CRONS,
    "timezone": ZONES,
    "run_date": RUN_DATES,
    "python_executable": [sys.executable],
    "working_dir": ["etl"],
    "webhook_url": ["https://hooks.example.com/x", "http://127.0.0.1:9/alert"],
    "slack_webhook_url": ["https://hooks.slack.example/services/T0/B0/x"],
    "watch_path": ["etl/*.csv", "etl/**/*.json", "*.py", "etl/report_??.[ct]sv"],
}


class _Generator:
    """Hypothesis strategies from the JSON Schema subset the document uses."""

    def __init__(self, components: dict[str, Any], job_ids: list[str]) -> None:
        self.components = components
        self.semantic = {**SEMANTIC, "job_id": job_ids}

    def resolve(self, schema: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in schema:
            schema = self.components[schema["$ref"].rsplit("/", 1)[-1]]
        if "allOf" in schema:
            merged: dict[str, Any] = {"type": "object", "properties": {}, "required": []}
            for part in schema["allOf"]:
                part = self.resolve(part)
                merged["properties"].update(part.get("properties", {}))
                merged["required"] += part.get("required", [])
            return merged
        return schema

    def strategy(self, schema: dict[str, Any], name: str = "") -> st.SearchStrategy[Any]:
        schema = self.resolve(schema)
        if name in self.semantic and schema.get("type") == "string":
            return st.sampled_from(self.semantic[name])
        for key in ("anyOf", "oneOf"):
            if key in schema:
                return st.one_of([self.strategy(s, name) for s in schema[key]])
        if "const" in schema:
            return st.just(schema["const"])
        if "enum" in schema:
            return st.sampled_from(schema["enum"])
        kind = schema.get("type")
        if isinstance(kind, list):
            return st.one_of([self.strategy({**schema, "type": k}, name) for k in kind])
        if kind == "null":
            return st.none()
        if kind == "boolean":
            return st.booleans()
        if kind == "integer":
            return st.integers(schema.get("minimum"), schema.get("maximum"))
        if kind == "number":
            low, high = schema.get("minimum"), schema.get("maximum")
            if low is not None or high is not None:  # e.g. Ray resource amounts
                whole = st.integers(
                    None if low is None else math.ceil(low), None if high is None else math.floor(high)
                )
                return st.floats(low, high, allow_nan=False, allow_infinity=False) | whole
            return st.floats(allow_nan=False, allow_infinity=False) | st.integers(-(10**12), 10**12)
        if kind == "string":
            return self.text(schema)
        if kind == "array":
            return st.lists(
                self.strategy(schema["items"], name),
                min_size=schema.get("minItems", 0),
                max_size=min(schema.get("maxItems", 3), 3),
                unique_by=(lambda v: json.dumps(v, sort_keys=True)) if schema.get("uniqueItems") else None,
            )
        if kind == "object" and "properties" in schema:
            return self.record(schema)
        if kind == "object":
            keys = schema.get("propertyNames", {}).get("pattern")
            return st.dictionaries(
                st.from_regex(keys, fullmatch=True) if keys else st.text(max_size=10),
                self.strategy(schema.get("additionalProperties", {}), name),
                max_size=min(schema.get("maxProperties", 3), 3),
            )
        raise AssertionError(f"no generator for {schema}")

    def text(self, schema: dict[str, Any]) -> st.SearchStrategy[str]:
        low, high = schema.get("minLength", 0), schema.get("maxLength", 60)
        if "pattern" in schema:
            base = st.from_regex(schema["pattern"], fullmatch=schema["pattern"].startswith("^"))
            return base.filter(lambda s: low <= len(s) <= high)
        return st.text(min_size=low, max_size=min(high, 60))

    def record(self, schema: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
        required = set(schema.get("required", []))
        fields = {
            key: self.strategy(prop, key)
            for key, prop in schema["properties"].items()
            if key not in ("secret_env", "python_code")  # write-only / .ampln only
        }
        present = {k: v for k, v in fields.items() if k in required}
        optional = {k: v for k, v in fields.items() if k not in required}
        return st.fixed_dictionaries(present, optional=optional)


def _draw(strategy: st.SearchStrategy[Any], count: int) -> list[Any]:
    """``count`` examples of a strategy (Hypothesis cannot drive an async test itself)."""
    drawn: list[Any] = []

    @settings(
        max_examples=count,
        database=None,
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(strategy)
    def collect(value: Any) -> None:
        drawn.append(value)

    collect()
    return drawn


def _validator(name: str, components: dict[str, Any]) -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(
        {"$ref": f"#/components/schemas/{name}", "components": {"schemas": components}}
    )


async def test_bodies_valid_by_the_schema_are_accepted(api: SchedulerClient) -> None:
    components = build_spec()["components"]["schemas"]
    target = await api.create_job(**interval_job("target"))
    generator = _Generator(components, [target["id"]])

    def not_the_target(body: dict[str, Any]) -> bool:
        return body.get("id") != target["id"]  # replacing the target would make it trigger itself

    for schema_name, route, per_variant, expected in (
        ("ScheduleRequest", "schedule/preview", 25, {200}),
        ("NewJob", "jobs", 15, {200, 201}),
    ):
        validator = _validator(schema_name, components)
        for variant in components[schema_name]["oneOf"]:
            bodies = _draw(generator.strategy(variant).filter(not_the_target), per_variant)
            assert len(bodies) >= per_variant // 2, variant
            for body in bodies:
                validator.validate(body)  # the generator itself keeps to the document
                reply = await api.post(route, body)
                assert reply.status in expected, (
                    f"POST {route} refused a body valid by {schema_name}: {body!r} -> {reply}"
                )
