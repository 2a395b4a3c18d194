"""The OpenAPI 3.1 document of the REST API, generated from the pydantic models.

Request bodies come from ``models`` (``JobSpecInput`` and its schedule variants), answers
from ``api_models``; this module only adds the routes, their parameters and which model
each status code answers. The server answers the document at
``GET {base_url}pipeline-scheduler/openapi.json``.

Regenerate the two checked-in copies after changing a model (``tests/api/test_openapi.py``
fails until they match)::

    .venv/bin/python -m pipeline_scheduler.openapi --write   # docs/openapi.json
    PATH=.venv/bin:$PATH jlpm gen:types                       # src/generated/openapi.ts

(``python -m pipeline_scheduler.openapi > docs/openapi.json`` writes the same file.)
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from . import __version__, api_models
from .models import (
    ENV_NAME_PATTERN,
    JOB_VARIANTS,
    RESERVED_ENV_NAMES_PATTERN,
    SCHEDULE_VARIANTS,
    BackfillRequest,
    ComponentFileWrite,
    ComponentsConfigWrite,
    JobSpecInput,
    RunNowRequest,
)
from .models import RUN_STATUS_VALUES as RUN_STATUSES

DOCUMENT = Path(__file__).resolve().parent.parent / "docs" / "openapi.json"
_REF = "#/components/schemas/{model}"
# Component names that differ from the class names.
_RENAMED = {"JobSpecInput": "JobSpec"}

REQUEST_MODELS: tuple[type[BaseModel], ...] = (
    JobSpecInput,
    *SCHEDULE_VARIANTS,
    *JOB_VARIANTS,
    RunNowRequest,
    BackfillRequest,
    ComponentsConfigWrite,
    ComponentFileWrite,
)
ANSWER_MODELS: tuple[type[BaseModel], ...] = tuple(getattr(api_models, name) for name in api_models.__all__)


def _ref(name: str) -> dict[str, str]:
    return {"$ref": _REF.format(model=name)}


def _rename_refs(node: Any) -> Any:
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                name = value.rsplit("/", 1)[-1]
                value = _REF.format(model=_RENAMED.get(name, name))
            out[key] = _rename_refs(value)
        return out
    if isinstance(node, list):
        return [_rename_refs(v) for v in node]
    return node


def _without_field_titles(node: Any) -> Any:
    """Drop pydantic's field titles ("Interval Seconds"): they repeat the field name (and
    would become noise comments in the generated TypeScript). Model titles stay."""
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if key == "properties" and isinstance(value, dict):
                value = {
                    name: {k: v for k, v in _without_field_titles(prop).items() if k != "title"}
                    for name, prop in value.items()
                }
            else:
                value = _without_field_titles(value)
            out[key] = value
        return out
    if isinstance(node, list):
        return [_without_field_titles(v) for v in node]
    return node


def _as_extension(schemas: dict[str, Any], model: type[BaseModel]) -> None:
    """Write a subclass's schema as ``allOf`` its base plus what it changes (the schedule
    variants repeat none of the 30 JobSpec fields that they leave as they are)."""
    base = model.__mro__[1]
    name, base_name = model.__name__, _RENAMED.get(base.__name__, base.__name__)
    full, parent = schemas[name], schemas[base_name]
    changed = {
        key: value
        for key, value in full["properties"].items()
        if parent.get("properties", {}).get(key) != value
    }
    extension = {"type": "object", "properties": changed, "required": full.get("required", [])}
    schemas[name] = {
        "title": full["title"],
        **({"description": full["description"]} if "description" in full else {}),
        "allOf": [_ref(base_name), extension],
    }


def _schemas() -> dict[str, Any]:
    _, top = models_json_schema(
        [(m, "validation") for m in (*REQUEST_MODELS, *ANSWER_MODELS)], ref_template=_REF
    )
    schemas = {
        _RENAMED.get(name, name): _without_field_titles(_rename_refs(schema))
        for name, schema in top["$defs"].items()
    }
    # Bases before subclasses: a job variant extends its schedule variant, which extends JobSpec.
    for model in (*JOB_VARIANTS, *SCHEDULE_VARIANTS):
        _as_extension(schemas, model)
    schemas["NewJob"] = {
        "description": "The body of POST jobs: a JobSpec with the fields its schedule type requires. "
        "Not expressible here, and checked by the server: the file exists in the workspace, a "
        "cron expression's values, the time zone exists, a one-off run_date is in the future, "
        "trigger conditions name existing jobs without forming a cycle, an .ampln file comes "
        "with python_code.",
        "oneOf": [_ref(m.__name__) for m in JOB_VARIANTS],
    }
    schemas["ScheduleRequest"] = {
        "description": "The body of POST schedule/preview: the schedule fields of a JobSpec "
        "(name and pipeline_path are not needed).",
        "oneOf": [_ref(m.__name__) for m in SCHEDULE_VARIANTS],
    }
    return dict(sorted(schemas.items()))


def _json(schema: dict[str, Any], description: str = "OK") -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _body(name: str, required: bool = True) -> dict[str, Any]:
    return {"required": required, "content": {"application/json": {"schema": _ref(name)}}}


def _error(description: str) -> dict[str, Any]:
    return _json(_ref("Error"), description)


ERRORS = {
    "400": _error("Bad input: the message (and `fields`) name the field"),
    "403": _error("Not authenticated or not authorised"),
    "503": _error("The database stays locked by another program"),
}
NOT_FOUND = {"404": _error("No such job or run")}
TOO_LARGE = {"413": _error("Too large")}
JOB_ID = {"name": "job_id", "in": "path", "required": True, "schema": {"type": "string"}}
RUN_ID = {"name": "run_id", "in": "path", "required": True, "schema": {"type": "integer", "minimum": 1}}
BACKFILL_ID = {
    "name": "backfill_id",
    "in": "path",
    "required": True,
    "schema": {"type": "integer", "minimum": 1},
}
VERSION = {"name": "version", "in": "path", "required": True, "schema": {"type": "integer", "minimum": 1}}
JOB_ID_QUERY = {"name": "job_id", "in": "query", "schema": {"type": "string"}}


def _paths() -> dict[str, Any]:
    p = "/pipeline-scheduler"
    job = _json(_ref("JobDetail"))
    return {
        f"{p}/jobs": {
            "get": {
                "summary": "List jobs (newest first, without python_code)",
                "responses": {"200": _json(_ref("JobList")), **ERRORS},
            },
            "post": {
                "summary": "Create a job, or replace the job whose id is given",
                "requestBody": _body("NewJob"),
                "responses": {
                    "201": _json(_ref("JobDetail"), "Created"),
                    "200": _json(_ref("JobDetail"), "Replaced"),
                    **ERRORS,
                    **TOO_LARGE,
                },
            },
        },
        f"{p}/jobs/{{job_id}}": {
            "parameters": [JOB_ID],
            "get": {"summary": "One job, with python_code", "responses": {"200": job, **ERRORS, **NOT_FOUND}},
            "put": {
                "summary": "Change some fields of a job (the result is checked as a whole)",
                "requestBody": _body("JobSpec"),
                "responses": {"200": job, **ERRORS, **NOT_FOUND, **TOO_LARGE},
            },
            "delete": {
                "summary": "Delete a job and its history",
                "responses": {
                    "200": _json(_ref("Success")),
                    "409": _error("Other jobs depend on it"),
                    **ERRORS,
                    **NOT_FOUND,
                },
            },
        },
        f"{p}/jobs/{{job_id}}/pause": {
            "parameters": [JOB_ID],
            "post": {"summary": "Pause a job", "responses": {"200": job, **ERRORS, **NOT_FOUND}},
        },
        f"{p}/jobs/{{job_id}}/resume": {
            "parameters": [JOB_ID],
            "post": {"summary": "Resume a job", "responses": {"200": job, **ERRORS, **NOT_FOUND}},
        },
        f"{p}/jobs/{{job_id}}/next_runs": {
            "parameters": [JOB_ID],
            "get": {
                "summary": "A job's next fire times (as if resumed, when paused)",
                "parameters": [
                    {
                        "name": "count",
                        "in": "query",
                        "schema": {"type": "integer", "minimum": 1, "maximum": 50, "default": 10},
                    }
                ],
                "responses": {"200": _json(_ref("JobNextRuns")), **ERRORS, **NOT_FOUND},
            },
        },
        f"{p}/jobs/{{job_id}}/versions": {
            "parameters": [JOB_ID],
            "get": {
                "summary": "A job's versions (job history), newest first, without .ampln code",
                "responses": {"200": _json(_ref("JobVersionList")), **ERRORS, **NOT_FOUND},
            },
        },
        f"{p}/jobs/{{job_id}}/versions/{{version}}": {
            "parameters": [JOB_ID, VERSION],
            "get": {
                "summary": "One version of a job, with its .ampln code",
                "responses": {"200": _json(_ref("JobVersion")), **ERRORS, **NOT_FOUND},
            },
        },
        f"{p}/jobs/{{job_id}}/versions/{{version}}/restore": {
            "parameters": [JOB_ID, VERSION],
            "post": {
                "summary": "Make the job's definition that version's again (recorded as a new "
                "version; secrets and the paused state stay as they are)",
                "responses": {
                    "200": job,
                    "400": _error("That version cannot be restored now: `fields` names why"),
                    "409": _error("The job was changed by another request at the same moment"),
                    **{k: v for k, v in ERRORS.items() if k != "400"},
                    **NOT_FOUND,
                },
            },
        },
        f"{p}/jobs/{{job_id}}/backfill": {
            "parameters": [JOB_ID],
            "post": {
                "summary": "Run a job for every fire time of its schedule in a past range, oldest first",
                "requestBody": _body("BackfillRequest"),
                "responses": {"202": _json(_ref("Backfill"), "Started (or queued)"), **ERRORS, **NOT_FOUND},
            },
        },
        f"{p}/jobs/{{job_id}}/backfills": {
            "parameters": [JOB_ID],
            "get": {
                "summary": "A job's backfills, newest first",
                "responses": {"200": _json(_ref("BackfillList")), **ERRORS, **NOT_FOUND},
            },
        },
        f"{p}/backfills/{{backfill_id}}": {
            "parameters": [BACKFILL_ID],
            "get": {
                "summary": "One backfill, with the counts of its runs",
                "responses": {"200": _json(_ref("Backfill")), **ERRORS, **NOT_FOUND},
            },
        },
        f"{p}/backfills/{{backfill_id}}/cancel": {
            "parameters": [BACKFILL_ID],
            "post": {
                "summary": "Cancel a backfill: its queued and running runs, and the fire times left",
                "responses": {
                    "200": _json(_ref("Backfill")),
                    "409": _error("Not active"),
                    **ERRORS,
                    **NOT_FOUND,
                },
            },
        },
        f"{p}/schedule/preview": {
            "post": {
                "summary": "Check a schedule: its description and next 5 fire times",
                "requestBody": _body("ScheduleRequest"),
                "responses": {"200": _json(_ref("Preview")), **ERRORS},
            },
        },
        f"{p}/run/{{job_id}}": {
            "parameters": [JOB_ID],
            "post": {
                "summary": "Run a job now (waiting for the end does not block the server)",
                "requestBody": _body("RunNowRequest", required=False),
                "responses": {
                    "200": _json(_ref("RunNowResult"), "The run ended (wait: true)"),
                    "202": _json(_ref("Run"), "Started (wait: false)"),
                    **ERRORS,
                    **NOT_FOUND,
                    **TOO_LARGE,
                },
            },
        },
        f"{p}/jobs/{{job_id}}/webhook": {
            "parameters": [JOB_ID],
            "post": {
                "summary": "Enable the job's inbound webhook, or rotate its token (the old one stops "
                "working); the answer is the only time the token is shown",
                "responses": {"200": _json(_ref("WebhookToken")), **ERRORS, **NOT_FOUND},
            },
            "delete": {
                "summary": "Disable the job's inbound webhook",
                "responses": {"200": _json(_ref("Success")), **ERRORS, **NOT_FOUND},
            },
        },
        f"{p}/hooks/{{job_id}}/{{token}}": {
            "parameters": [
                JOB_ID,
                {"name": "token", "in": "path", "required": True, "schema": {"type": "string"}},
            ],
            "post": {
                "summary": "Call a job's inbound webhook: start a run (authenticated by the token "
                "in the URL, not by Jupyter; for external systems)",
                "description": "The optional JSON object body gives values to parameters the job "
                "declares in its `parameters` (value types as there), for this run only; they are "
                "environment variables of the run, so any other name is refused with 400. "
                "An unknown job, a wrong token and a disabled webhook all answer the same 404; a "
                "paused job answers 409. "
                "Recorded with triggered_by 'webhook'; honours the job's max_instances (a refused "
                "call is recorded as a skipped run).",
                "security": [],
                "requestBody": {
                    "required": False,
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "propertyNames": {
                                    "pattern": ENV_NAME_PATTERN,
                                    "not": {"pattern": RESERVED_ENV_NAMES_PATTERN},
                                },
                                "additionalProperties": {"type": ["string", "number", "boolean"]},
                            }
                        }
                    },
                },
                "responses": {
                    "202": _json(_ref("Run"), "Started (or recorded skipped: max_instances)"),
                    "400": _error("A name the job does not declare, or a wrong value: `fields` names it"),
                    "404": _error("No such webhook (unknown job, wrong token or disabled)"),
                    "409": _error("The job is paused"),
                    "429": _error("Called too often: try again after Retry-After seconds"),
                    **TOO_LARGE,
                },
            },
        },
        f"{p}/runs": {
            "get": {
                "summary": "Run history, newest first",
                "parameters": [
                    JOB_ID_QUERY,
                    {
                        "name": "status",
                        "in": "query",
                        "schema": {"type": "string"},
                        "description": "one status or several, comma-separated: " + ", ".join(RUN_STATUSES),
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
                "responses": {"200": _json(_ref("RunList")), **ERRORS},
            },
            "delete": {
                "summary": "Delete all finished runs (or those of job_id) and their logs",
                "parameters": [JOB_ID_QUERY],
                "responses": {"200": _json(_ref("DeletedRuns")), **ERRORS},
            },
        },
        f"{p}/runs/recent": {
            "get": {
                "summary": "The newest runs of each of some jobs (run strips), compact",
                "parameters": [
                    {
                        "name": "job_ids",
                        "in": "query",
                        "required": True,
                        "schema": {"type": "string"},
                        "description": "job ids, comma-separated (at most 200)",
                    },
                    {
                        "name": "per_job",
                        "in": "query",
                        "schema": {"type": "integer", "minimum": 1, "maximum": 100, "default": 20},
                    },
                ],
                "responses": {"200": _json(_ref("RecentRuns")), **ERRORS},
            },
        },
        f"{p}/runs/timeline": {
            "get": {
                "summary": "Runs whose span (queued to finished, or now) overlaps a time range",
                "parameters": [
                    {
                        "name": "since",
                        "in": "query",
                        "schema": {"type": "string", "format": "date-time"},
                        "description": "ISO 8601 with offset; default: 24 hours before until",
                    },
                    {
                        "name": "until",
                        "in": "query",
                        "schema": {"type": "string", "format": "date-time"},
                        "description": "ISO 8601 with offset; default: now (at most 366 days after since)",
                    },
                    {
                        "name": "limit",
                        "in": "query",
                        "schema": {"type": "integer", "minimum": 1, "maximum": 10000, "default": 2000},
                    },
                ],
                "responses": {"200": _json(_ref("RunTimeline")), **ERRORS},
            },
        },
        f"{p}/runs/{{run_id}}": {
            "parameters": [RUN_ID],
            "get": {
                "summary": "One run with its output and error tails",
                "responses": {"200": _json(_ref("RunDetail")), **ERRORS, **NOT_FOUND},
            },
            "delete": {
                "summary": "Delete a finished run and its log",
                "responses": {
                    "200": _json(_ref("Success")),
                    "409": _error("Still active"),
                    **ERRORS,
                    **NOT_FOUND,
                },
            },
        },
        f"{p}/runs/{{run_id}}/cancel": {
            "parameters": [RUN_ID],
            "post": {
                "summary": "Stop a queued or running run; answers it once stopped",
                "responses": {
                    "200": _json(_ref("RunDetail")),
                    "409": _error("Not active"),
                    **ERRORS,
                    **NOT_FOUND,
                },
            },
        },
        f"{p}/runs/{{run_id}}/rerun": {
            "parameters": [RUN_ID],
            "post": {
                "summary": "Run a past run again: its logical time (scheduled_for) and overrides",
                "responses": {
                    "202": _json(_ref("Run"), "The new run (triggered_by 'rerun')"),
                    "409": _error("Its job was deleted"),
                    **ERRORS,
                    **NOT_FOUND,
                },
            },
        },
        f"{p}/runs/{{run_id}}/log": {
            "parameters": [RUN_ID],
            "get": {
                "summary": "Log text from a byte offset (for live views)",
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
                "responses": {"200": _json(_ref("RunLog")), **ERRORS, **NOT_FOUND},
            },
        },
        f"{p}/runs/{{run_id}}/log/download": {
            "parameters": [RUN_ID],
            "get": {
                "summary": "The whole log as a file (a download, streamed from the disk)",
                "responses": {
                    "200": {
                        "description": "The log as it is now",
                        "content": {"text/plain": {"schema": {"type": "string"}}},
                    },
                    **ERRORS,
                    **NOT_FOUND,
                },
            },
        },
        f"{p}/runs/finished": {
            "get": {
                "summary": "Runs that ended after a cursor, in the order they ended",
                "description": "Without `after`: no runs and the current cursor (start there). "
                "Then pass the answered `cursor` as `after`: each run that ends is answered "
                "exactly once, also a long run that ends after a later one.",
                "parameters": [
                    {
                        "name": "after",
                        "in": "query",
                        "schema": {"type": "integer", "minimum": 0},
                        "description": "cursor: `cursor` of the previous answer",
                    },
                    {
                        "name": "limit",
                        "in": "query",
                        "schema": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 200},
                    },
                ],
                "responses": {"200": _json(_ref("FinishedRuns")), **ERRORS},
            },
        },
        f"{p}/runs/{{run_id}}/notebook": {
            "parameters": [RUN_ID],
            "get": {
                "summary": "The executed notebook of a notebook run (a download)",
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
                "responses": {"200": _json(_ref("Config")), **ERRORS},
            }
        },
        f"{p}/components-config": {
            "get": {
                "summary": "Amphi ETL's .amphi/config.toml",
                "responses": {"200": _json(_ref("ComponentsConfig")), **ERRORS},
            },
            "post": {
                "summary": "Write .amphi/config.toml",
                "requestBody": _body("ComponentsConfigWrite"),
                "responses": {"200": _json(_ref("Success")), **ERRORS, **TOO_LARGE},
            },
        },
        f"{p}/components-file": {
            "post": {
                "summary": "Write .amphi/components/<filename>",
                "requestBody": _body("ComponentFileWrite"),
                "responses": {"200": _json(_ref("ComponentFileResult")), **ERRORS, **TOO_LARGE},
            },
            "delete": {
                "summary": "Delete .amphi/components/<filename>",
                "parameters": [
                    {"name": "filename", "in": "query", "required": True, "schema": {"type": "string"}}
                ],
                "responses": {"200": _json(_ref("ComponentFileResult")), **ERRORS, **NOT_FOUND},
            },
        },
        f"{p}/openapi.json": {
            "get": {"summary": "This document", "responses": {"200": _json({"type": "object"}), **ERRORS}}
        },
    }


def build_spec() -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "amphi-scheduler",
            "version": __version__,
            "description": "Pipeline scheduler inside JupyterLab. Paths are relative to the "
            "Jupyter server's base_url. Every route needs Jupyter authentication; errors are "
            '{"error": "...", "fields": {...}}. Generated from the pydantic models of '
            "pipeline_scheduler/models.py (requests) and api_models.py (answers).",
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
        "paths": _paths(),
    }


def render() -> str:
    """The document as the checked-in ``docs/openapi.json`` holds it."""
    return json.dumps(build_spec(), indent=2, sort_keys=True) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipeline_scheduler.openapi", description=__doc__)
    parser.add_argument("--write", action="store_true", help=f"write {DOCUMENT} instead of printing")
    args = parser.parse_args(argv)
    if args.write:
        DOCUMENT.write_text(render(), encoding="utf-8")
    else:
        sys.stdout.write(render())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
