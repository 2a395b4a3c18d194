"""docs/openapi.json, the route table and the request models stay in step."""

from __future__ import annotations

import json
import re
from pathlib import Path

from pipeline_scheduler.handlers import route_table
from pipeline_scheduler.models import JobSpecInput
from pipeline_scheduler.openapi import build_spec

REPO = Path(__file__).resolve().parents[2]


def _without_version(spec: dict) -> dict:
    spec = json.loads(json.dumps(spec))
    spec["info"].pop("version", None)
    return spec


def test_checked_in_spec_is_current() -> None:
    on_disk = json.loads((REPO / "docs" / "openapi.json").read_text())
    assert _without_version(on_disk) == _without_version(build_spec()), (
        "docs/openapi.json is stale: run `python -m pipeline_scheduler.openapi > docs/openapi.json`"
    )


def _pattern_to_path(pattern: str) -> str:
    path = pattern.rstrip("?").rstrip("/")
    names = iter(["{job_id}", "{run_id}"])
    if "/runs/" in path:
        return re.sub(r"\(\[\^/\]\+\)", "{run_id}", path)
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
