"""The request and answer models: ranges visible to the schema with readable messages,
lenient whole numbers, statuses from the one enum, answers that refuse unknown fields."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from pipeline_scheduler import api_models, domain, models
from pipeline_scheduler.errors import InvalidRequestError
from pipeline_scheduler.models import JOB_VARIANTS, SCHEDULE_VARIANTS, JobSpecInput, parse_job_spec

RANGES = {
    "interval_seconds": (1, models.MAX_INTERVAL_SECONDS),
    "interval_days": (1, models.MAX_INTERVAL_DAYS),
    "max_instances": (1, 100),
    "misfire_grace_time": (1, 7 * 24 * 3600),
    "timeout_seconds": (1, 7 * 24 * 3600),
    "max_retries": (0, 10),
    "retry_delay_seconds": (0, 24 * 3600),
}


def _property(name: str) -> dict[str, Any]:
    prop = JobSpecInput.model_json_schema()["properties"][name]
    (branch,) = [b for b in prop.get("anyOf", [prop]) if b.get("type") != "null"]
    return branch  # type: ignore[no-any-return]


@pytest.mark.parametrize(("field", "bounds"), RANGES.items())
def test_ranges_are_in_the_schema_and_enforced_with_readable_messages(
    field: str, bounds: tuple[int, int]
) -> None:
    low, high = bounds
    assert _property(field) == {"type": "integer", "minimum": low, "maximum": high}
    for ok in (low, high, str(high), float(low)):
        assert getattr(JobSpecInput.model_validate({field: ok}), field) == int(ok)
    for bad, message in (
        (low - 1, f"{field}: must be from {low} to {high}, not {low - 1}"),
        (high + 1, f"{field}: must be from {low} to {high}, not {high + 1}"),
        (1.5, f"{field}: must be a whole number from {low} to {high}, not 1.5"),
        (True, f"{field}: must be a whole number"),
        ("soon", f"{field}: must be a whole number"),
    ):
        with pytest.raises(InvalidRequestError) as info:
            parse_job_spec({field: bad})
        assert info.value.message.startswith(message), info.value.message


def test_enums_are_in_the_schema() -> None:
    assert _property("schedule_type")["enum"] == ["date", "interval", "cron", "trigger", "file"]
    assert _property("date_type")["enum"] == ["once", "daily", "weekly", "monthly", "every_x_days"]
    assert _property("catchup")["enum"] == ["all", "latest", "none", "run_once", "skip"]
    assert _property("logical_operator")["enum"] == ["AND", "OR"]
    run = api_models.Run.model_json_schema()
    assert run["$defs"]["RunStatus"]["enum"] == list(domain.RUN_STATUS_VALUES)
    assert run["$defs"]["TriggeredBy"]["enum"] == list(domain.TRIGGERED_BY_VALUES)


def test_statuses_are_the_domain_enum() -> None:
    assert models.RunStatus is domain.RunStatus
    assert models.ACTIVE_STATUSES is domain.ACTIVE_STATUSES
    assert models.FAILED_STATUSES is domain.FAILED_STATUSES
    assert "failure" in models.FAILED_STATUSES and "queued" in models.ACTIVE_STATUSES


def test_text_fields_are_stripped_and_bounded() -> None:
    spec = JobSpecInput.model_validate(
        {"name": "  Nightly  ", "cron_expression": " 0 3 * * * ", "logical_operator": "and"}
    )
    assert (spec.name, spec.cron_expression, spec.logical_operator) == ("Nightly", "0 3 * * *", "AND")
    assert _property("name") == {"type": "string", "minLength": 1, "maxLength": 200, "pattern": r"\S"}
    for body, message in (
        ({"name": "   "}, "name: required"),
        ({"name": "x" * 201}, "name: at most 200 characters"),
        ({"description": "x" * 2001}, "description: at most 2000 characters"),
        ({"env": {"1X": "v"}}, "env: '1X' is not a valid variable name"),
        ({"env": {"X": "a\x00b"}}, "env: the value of 'X'"),
        ({"env": {"AMPHI_SCHEDULER_RUN_ID": "1"}}, "env: 'AMPHI_SCHEDULER_RUN_ID' is reserved"),
        ({"secret_env": {"AMPHI_TRIGGER_FILES": "[]"}}, "secret_env: 'AMPHI_TRIGGER_FILES' is reserved"),
        ({"parameters": {"AMPHI_PARAMETERS": "{}"}}, "parameters: 'AMPHI_PARAMETERS' is reserved"),
        ({"parameters": {"LIMIT": float("nan")}}, "parameters: the value of 'LIMIT' must be a finite number"),
        (
            {"parameters": {"LIMIT": float("-inf")}},
            "parameters: the value of 'LIMIT' must be a finite number",
        ),
        ({"kernel_name": "no spaces"}, "kernel_name: 'no spaces' is not a kernel name"),
        ({"webhook_url": "ftp://x"}, "webhook_url: 'ftp://x' is not an http(s) URL"),
        ({"id": "-x"}, "id: use 1-100 letters"),
        ({"trigger_conditions": [{"job_id": "a", "on": "maybe"}]}, "trigger_conditions.0.on: must be one of"),
    ):
        with pytest.raises(InvalidRequestError) as info:
            parse_job_spec(body)
        assert info.value.message.startswith(message), info.value.message


VARIANT_BODIES = {
    "OnceSchedule": {"schedule_type": "date", "run_date": "2031-01-15T08:30:00Z"},
    "WallClockSchedule": {"schedule_type": "date", "date_type": "weekly", "run_date": "2031-01-15T08:30:00Z"},
    "EveryXDaysSchedule": {"schedule_type": "date", "date_type": "every_x_days", "interval_days": 2},
    "IntervalSchedule": {"schedule_type": "interval", "interval_seconds": 60},
    "CronSchedule": {"schedule_type": "cron", "cron_expression": "0 3 * * *"},
    "TriggerSchedule": {"schedule_type": "trigger", "trigger_conditions": [{"job_id": "a", "on": "failure"}]},
    "FileSchedule": {"schedule_type": "file", "watch_path": "data/incoming/*.csv"},
}


@pytest.mark.parametrize("variant", SCHEDULE_VARIANTS, ids=lambda v: v.__name__)
def test_schedule_variants_require_their_fields_and_parse_as_job_specs(variant: type[JobSpecInput]) -> None:
    body = VARIANT_BODIES[variant.__name__]
    assert variant.model_validate(body).model_dump(exclude_unset=True) == (
        JobSpecInput.model_validate(body).model_dump(exclude_unset=True)
    )
    with pytest.raises(ValidationError):
        variant.model_validate({"schedule_type": body["schedule_type"]})


@pytest.mark.parametrize("variant", JOB_VARIANTS, ids=lambda v: v.__name__)
def test_job_variants_also_require_name_and_file(variant: type[JobSpecInput]) -> None:
    body = VARIANT_BODIES[variant.__name__.replace("JobSpec", "Schedule")]
    with pytest.raises(ValidationError):
        variant.model_validate(body)
    variant.model_validate({**body, "name": "n", "pipeline_path": "ok.py"})


ANSWER_MODELS: list[type[BaseModel]] = [getattr(api_models, name) for name in api_models.__all__]


@pytest.mark.parametrize("model", ANSWER_MODELS, ids=lambda m: m.__name__)
def test_answer_models_refuse_unknown_fields(model: type[BaseModel]) -> None:
    assert model.model_config.get("extra") == "forbid"
    assert model.model_config.get("strict") is True


def test_answer_models_describe_the_new_fields() -> None:
    job = api_models.Job.model_json_schema()
    assert "active_run" in job["properties"] and "active_run" in job["required"]
    active = job["$defs"]["ActiveRun"]
    assert active["properties"]["status"]["enum"] == ["queued", "running"]
    assert set(active["required"]) == {"id", "status", "started_at"}
    assert "version" in api_models.Config.model_json_schema()["required"]
    error = api_models.Error.model_json_schema()
    assert error["required"] == ["error"] and "fields" in error["properties"]
    api_models.Error.model_validate_json('{"error": "x", "fields": {"interval_seconds": "must be ..."}}')
    detail = api_models.RunDetail.model_json_schema()
    assert {"output", "error"} <= set(detail["required"])
    assert "python_code" in api_models.JobDetail.model_json_schema()["required"]
    assert "python_code" not in api_models.Job.model_json_schema()["properties"]


def test_strict_answers_refuse_coercions() -> None:
    with pytest.raises(ValidationError):
        api_models.LastRun.model_validate_json('{"id": "1", "status": "success", "finished_at": null}')
    with pytest.raises(ValidationError):  # a time without its offset
        api_models.LastRun.model_validate_json(
            '{"id": 1, "status": "success", "finished_at": "2030-01-01T00:00:00"}'
        )
    with pytest.raises(ValidationError):
        api_models.LastRun.model_validate_json('{"id": 1, "status": "done", "finished_at": null}')


def test_request_bodies_refuse_non_finite_numbers_at_their_field() -> None:
    """NaN and Infinity are not JSON (a browser's JSON.parse refuses them): refused where
    they are, before any model sees them."""
    for raw, message, fields in (
        (b'{"parameters": {"LIMIT": NaN}}', "parameters.LIMIT: must be a finite number, not NaN", None),
        (b'{"num_cpus": Infinity}', "num_cpus: must be a finite number, not Infinity", None),
        (b'{"a": [1, {"b": -1e999}]}', "a.1.b: must be a finite number, not -1e999", None),
        (
            b'{"LIMIT": -Infinity}',
            "LIMIT: must be a finite number, not -Infinity",
            {"LIMIT": "must be a finite number, not -Infinity"},
        ),
    ):
        with pytest.raises(InvalidRequestError) as info:
            models.parse_json_object(raw)
        assert info.value.message == message
        if fields is not None:
            assert info.value.fields == fields
    assert models.parse_json_object(b'{"x": 1.5e300, "y": [-0.0]}') == {"x": 1.5e300, "y": [-0.0]}


def test_webhook_parameters_refuse_reserved_names_and_non_finite_numbers() -> None:
    for body, name in (
        ({"AMPHI_SCHEDULED_FOR": "x"}, "AMPHI_SCHEDULED_FOR"),
        ({"LIMIT": float("nan")}, "LIMIT"),
    ):
        with pytest.raises(InvalidRequestError) as info:
            models.parse_webhook_parameters(body)
        assert list(info.value.fields) == [name], info.value.fields
