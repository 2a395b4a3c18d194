"""The OpenAPI 3 description of the REST API, built from the request models.

``python -m pipeline_scheduler.openapi > docs/openapi.json`` writes the checked-in copy;
a test keeps it, the route table and the models in step. The server also answers it at
``GET {base_url}pipeline-scheduler/openapi.json``.
"""

from __future__ import annotations

import copy
import json
import sys
from typing import Any

from . import __version__
from .models import JobSpecInput

RUN_STATUSES = ["queued", "running", "success", "failure", "cancelled", "timeout", "interrupted", "skipped"]


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str = "OK") -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _body(schema: dict[str, Any], required: bool = True) -> dict[str, Any]:
    return {"required": required, "content": {"application/json": {"schema": schema}}}


ERRORS = {
    "400": _json(_ref("Error"), "Bad input: the message names the field"),
    "403": _json(_ref("Error"), "Not authenticated or not authorised"),
}
NOT_FOUND = {"404": _json(_ref("Error"), "No such job or run")}
JOB_ID = {"name": "job_id", "in": "path", "required": True, "schema": {"type": "string"}}
RUN_ID = {"name": "run_id", "in": "path", "required": True, "schema": {"type": "integer", "minimum": 1}}


def _schemas() -> dict[str, Any]:
    spec_schema = JobSpecInput.model_json_schema(ref_template="#/components/schemas/{model}")
    defs = spec_schema.pop("$defs", {})
    job_props = copy.deepcopy(spec_schema["properties"])
    job_props.pop("secret_env", None)
    job_props.pop("python_code", None)
    nullable_text = {"type": ["string", "null"]}
    job_props.update(
        {
            "id": {"type": "string"},
            "next_run_time": {**nullable_text, "format": "date-time"},
            "trigger": {"type": "string"},
            "schedule_description": {"type": "string"},
            "paused": {"type": "boolean"},
            "last_run": {"anyOf": [_ref("LastRun"), {"type": "null"}]},
            "created_at": {"type": "string", "format": "date-time"},
            "updated_at": {"type": "string", "format": "date-time"},
            "code_hash": nullable_text,
            "pipeline_changed": {"type": ["boolean", "null"]},
            "secret_env_keys": {"type": "array", "items": {"type": "string"}},
            "python_code": {**nullable_text, "description": "only in GET jobs/{id}"},
        }
    )
    run_props: dict[str, Any] = {
        "id": {"type": "integer"},
        "job_id": {"type": "string"},
        "job_name": {"type": "string"},
        "pipeline_path": {"type": "string"},
        "status": {"type": "string", "enum": RUN_STATUSES},
        "triggered_by": {"type": "string", "enum": ["schedule", "manual", "trigger", "catchup", "retry"]},
        "attempt": {"type": "integer"},
        "scheduled_for": {**nullable_text, "format": "date-time"},
        "created_at": {**nullable_text, "format": "date-time"},
        "started_at": {**nullable_text, "format": "date-time"},
        "finished_at": {**nullable_text, "format": "date-time"},
        "exit_code": {"type": ["integer", "null"]},
        "duration_seconds": {"type": ["number", "null"]},
        "log_size": {"type": "integer"},
        "log_truncated": {"type": "boolean"},
        "pipeline_changed": {"type": ["boolean", "null"]},
        "message": nullable_text,
        "has_notebook": {"type": "boolean"},
        "output": {"type": "string", "description": "detail only: end of stdout"},
        "error": {"type": "string", "description": "detail only: end of stderr"},
    }
    return {
        **defs,
        "JobSpec": spec_schema,
        "Job": {"type": "object", "properties": job_props, "required": ["id", "name", "pipeline_path"]},
        "LastRun": {
            "type": "object",
            "properties": {
                "id": {"type": "integer"},
                "status": {"type": "string"},
                "finished_at": {**nullable_text, "format": "date-time"},
            },
        },
        "Run": {"type": "object", "properties": run_props, "required": ["id", "job_id", "status"]},
        "RunResult": {
            "type": "object",
            "properties": {
                "success": {"type": "boolean"},
                "output": {"type": "string"},
                "error": {"type": "string"},
                "exit_code": {"type": ["integer", "null"]},
                "run_id": {"type": "integer"},
            },
            "required": ["success", "output", "error", "exit_code", "run_id"],
        },
        "Preview": {
            "type": "object",
            "properties": {
                "description": {"type": "string"},
                "trigger": {"type": "string"},
                "timezone": {"type": "string"},
                "next_run_times": {"type": "array", "items": {"type": "string", "format": "date-time"}},
            },
        },
        "LogChunk": {
            "type": "object",
            "properties": {
                "data": {"type": "string"},
                "offset": {"type": "integer"},
                "next_offset": {"type": "integer"},
                "size": {"type": "integer"},
                "finished": {"type": "boolean"},
                "status": {"type": "string"},
            },
        },
        "Success": {
            "type": "object",
            "properties": {
                "success": {"type": "boolean"},
                "deleted": {"type": "integer"},
                "filename": {"type": "string"},
            },
            "required": ["success"],
        },
        "Error": {"type": "object", "properties": {"error": {"type": "string"}}, "required": ["error"]},
    }


def build_spec() -> dict[str, Any]:
    p = "/pipeline-scheduler"
    paths: dict[str, Any] = {
        f"{p}/jobs": {
            "get": {
                "summary": "List jobs (newest first, without python_code)",
                "responses": {
                    "200": _json(
                        {"type": "object", "properties": {"jobs": {"type": "array", "items": _ref("Job")}}}
                    ),
                    **ERRORS,
                },
            },
            "post": {
                "summary": "Create a job, or replace the job whose id is given",
                "requestBody": _body(_ref("JobSpec")),
                "responses": {
                    "201": _json(_ref("Job"), "Created"),
                    "200": _json(_ref("Job"), "Replaced"),
                    "413": _json(_ref("Error"), "Too large"),
                    **ERRORS,
                },
            },
        },
        f"{p}/jobs/{{job_id}}": {
            "parameters": [JOB_ID],
            "get": {
                "summary": "One job, with python_code",
                "responses": {"200": _json(_ref("Job")), **ERRORS, **NOT_FOUND},
            },
            "put": {
                "summary": "Change some fields of a job",
                "requestBody": _body(_ref("JobSpec")),
                "responses": {"200": _json(_ref("Job")), **ERRORS, **NOT_FOUND},
            },
            "delete": {
                "summary": "Delete a job and its history",
                "responses": {
                    "200": _json(_ref("Success")),
                    "409": _json(_ref("Error"), "Other jobs depend on it"),
                    **ERRORS,
                    **NOT_FOUND,
                },
            },
        },
        f"{p}/jobs/{{job_id}}/pause": {
            "parameters": [JOB_ID],
            "post": {
                "summary": "Pause a job",
                "responses": {"200": _json(_ref("Job")), **ERRORS, **NOT_FOUND},
            },
        },
        f"{p}/jobs/{{job_id}}/resume": {
            "parameters": [JOB_ID],
            "post": {
                "summary": "Resume a job",
                "responses": {"200": _json(_ref("Job")), **ERRORS, **NOT_FOUND},
            },
        },
        f"{p}/schedule/preview": {
            "post": {
                "summary": "Validate a schedule: description and next 5 fire times",
                "requestBody": _body(_ref("JobSpec")),
                "responses": {"200": _json(_ref("Preview")), **ERRORS},
            },
        },
        f"{p}/run/{{job_id}}": {
            "parameters": [JOB_ID],
            "post": {
                "summary": "Run a job now",
                "requestBody": _body(
                    {
                        "type": "object",
                        "properties": {
                            "wait": {"type": "boolean", "default": True},
                            "python_code": {"type": "string"},
                        },
                    },
                    required=False,
                ),
                "responses": {
                    "200": _json(_ref("RunResult"), "The run ended (wait: true)"),
                    "202": _json(_ref("Run"), "Started (wait: false)"),
                    **ERRORS,
                    **NOT_FOUND,
                },
            },
        },
        f"{p}/runs": {
            "get": {
                "summary": "Run history, newest first",
                "parameters": [
                    {"name": "job_id", "in": "query", "schema": {"type": "string"}},
                    {
                        "name": "status",
                        "in": "query",
                        "schema": {"type": "string"},
                        "description": "one status or several, comma-separated",
                    },
                    {
                        "name": "limit",
                        "in": "query",
                        "schema": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 200},
                    },
                    {
                        "name": "before",
                        "in": "query",
                        "schema": {"type": "integer", "minimum": 1},
                        "description": "cursor: next_cursor of the previous page",
                    },
                ],
                "responses": {
                    "200": _json(
                        {
                            "type": "object",
                            "properties": {
                                "runs": {"type": "array", "items": _ref("Run")},
                                "next_cursor": {"type": ["integer", "null"]},
                            },
                        }
                    ),
                    **ERRORS,
                },
            },
            "delete": {
                "summary": "Delete all finished runs (or those of job_id) and their logs",
                "parameters": [{"name": "job_id", "in": "query", "schema": {"type": "string"}}],
                "responses": {"200": _json(_ref("Success")), **ERRORS},
            },
        },
        f"{p}/runs/{{run_id}}": {
            "parameters": [RUN_ID],
            "get": {
                "summary": "One run with its output and error tails",
                "responses": {"200": _json(_ref("Run")), **ERRORS, **NOT_FOUND},
            },
            "delete": {
                "summary": "Delete a finished run and its log",
                "responses": {
                    "200": _json(_ref("Success")),
                    "409": _json(_ref("Error"), "Still active"),
                    **ERRORS,
                    **NOT_FOUND,
                },
            },
        },
        f"{p}/runs/{{run_id}}/cancel": {
            "parameters": [RUN_ID],
            "post": {
                "summary": "Stop a queued or running run",
                "responses": {
                    "200": _json(_ref("Run")),
                    "409": _json(_ref("Error"), "Not active"),
                    **ERRORS,
                    **NOT_FOUND,
                },
            },
        },
        f"{p}/runs/{{run_id}}/log": {
            "parameters": [RUN_ID],
            "get": {
                "summary": "Log bytes from an offset (for live views)",
                "parameters": [
                    {
                        "name": "offset",
                        "in": "query",
                        "schema": {"type": "integer", "minimum": 0, "default": 0},
                    },
                    {
                        "name": "max_bytes",
                        "in": "query",
                        "schema": {"type": "integer", "minimum": 1, "maximum": 1048576, "default": 65536},
                    },
                ],
                "responses": {"200": _json(_ref("LogChunk")), **ERRORS, **NOT_FOUND},
            },
        },
        f"{p}/runs/{{run_id}}/notebook": {
            "parameters": [RUN_ID],
            "get": {
                "summary": "The executed notebook of a notebook run",
                "responses": {
                    "200": {
                        "description": "The .ipynb file",
                        "content": {"application/x-ipynb+json": {"schema": {"type": "object"}}},
                    },
                    **ERRORS,
                    **NOT_FOUND,
                },
            },
        },
        f"{p}/config": {
            "get": {
                "summary": "Workspace and scheduler settings",
                "responses": {
                    "200": _json(
                        {
                            "type": "object",
                            "properties": {
                                "amphi_dir": {"type": "string"},
                                "scheduler_state": {"type": "string", "enum": ["active", "standby"]},
                            },
                        }
                    ),
                    **ERRORS,
                },
            }
        },
        f"{p}/components-config": {
            "get": {
                "summary": "Amphi ETL's .amphi/config.toml",
                "responses": {
                    "200": _json({"type": "object", "properties": {"content": {"type": "string"}}}),
                    **ERRORS,
                },
            },
            "post": {
                "summary": "Write .amphi/config.toml",
                "requestBody": _body(
                    {"type": "object", "properties": {"content": {"type": "string"}}, "required": ["content"]}
                ),
                "responses": {
                    "200": _json(_ref("Success")),
                    "413": _json(_ref("Error"), "Too large"),
                    **ERRORS,
                },
            },
        },
        f"{p}/components-file": {
            "post": {
                "summary": "Write .amphi/components/<filename>",
                "requestBody": _body(
                    {
                        "type": "object",
                        "properties": {"filename": {"type": "string"}, "content": {"type": "string"}},
                        "required": ["filename", "content"],
                    }
                ),
                "responses": {
                    "200": _json(_ref("Success")),
                    "413": _json(_ref("Error"), "Too large"),
                    **ERRORS,
                },
            },
            "delete": {
                "summary": "Delete .amphi/components/<filename>",
                "parameters": [
                    {"name": "filename", "in": "query", "required": True, "schema": {"type": "string"}}
                ],
                "responses": {"200": _json(_ref("Success")), **ERRORS, **NOT_FOUND},
            },
        },
        f"{p}/openapi.json": {
            "get": {"summary": "This description", "responses": {"200": _json({"type": "object"}), **ERRORS}}
        },
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "amphi-scheduler",
            "version": __version__,
            "description": "Pipeline scheduler inside JupyterLab. Paths are relative to the "
            "Jupyter server's base_url. "
            'Every route needs Jupyter authentication; errors are {"error": "..."}.',
        },
        "components": {
            "schemas": _schemas(),
            "securitySchemes": {
                "token": {
                    "type": "apiKey",
                    "in": "header",
                    "name": "Authorization",
                    "description": "'token <Jupyter token>'",
                }
            },
        },
        "security": [{"token": []}],
        "paths": paths,
    }


if __name__ == "__main__":
    json.dump(build_spec(), sys.stdout, indent=2, sort_keys=True)
    sys.stdout.write("\n")
