"""Every route refuses a request without credentials, and every route is authorised
through jupyter_server's authorizer (resource ``pipeline-scheduler``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from api_support import SchedulerClient, interval_job, scheduler_state
from jupyter_server.auth.authorizer import Authorizer

NO_CREDENTIALS = {"Authorization": ""}

# (method, path, body, query). {job} / {run} are filled with a real job / finished run, and
# bodies are valid, so that a route missing its check would do real work and answer 2xx.
ROUTES: list[tuple[str, str, Any, dict[str, str] | None]] = [
    ("GET", "jobs", None, None),
    ("POST", "jobs", interval_job("intruder"), None),
    ("GET", "jobs/{job}", None, None),
    ("PUT", "jobs/{job}", {"name": "renamed by intruder"}, None),
    ("DELETE", "jobs/{job}", None, None),
    ("POST", "jobs/{job}/pause", None, None),
    ("POST", "jobs/{job}/resume", None, None),
    ("POST", "schedule/preview", {"schedule_type": "interval", "interval_seconds": 60}, None),
    ("POST", "run/{job}", {"wait": False}, None),
    ("GET", "runs", None, None),
    ("DELETE", "runs", None, None),
    ("GET", "runs/{run}", None, None),
    ("DELETE", "runs/{run}", None, None),
    ("GET", "runs/{run}/log", None, None),
    ("GET", "runs/{run}/log/download", None, None),
    ("GET", "runs/{run}/notebook", None, None),
    ("POST", "runs/{run}/cancel", None, None),
    ("GET", "runs/recent", None, {"job_ids": "job_x"}),
    ("GET", "runs/timeline", None, None),
    ("GET", "runs/finished", None, None),
    ("GET", "jobs/{job}/next_runs", None, None),
    ("POST", "jobs/{job}/backfill", {"start": "2026-01-01T00:00:00Z", "end": "2026-01-01T02:00:00Z"}, None),
    ("GET", "jobs/{job}/backfills", None, None),
    ("GET", "backfills/1", None, None),
    ("POST", "backfills/1/cancel", None, None),
    ("POST", "runs/{run}/rerun", None, None),
    ("GET", "jobs/{job}/versions", None, None),
    ("GET", "jobs/{job}/versions/1", None, None),
    ("POST", "jobs/{job}/versions/1/restore", None, None),
    ("POST", "jobs/{job}/webhook", None, None),
    ("DELETE", "jobs/{job}/webhook", None, None),
    ("GET", "openapi.json", None, None),
    ("GET", "config", None, None),
    ("GET", "components-config", None, None),
    ("POST", "components-config", {"content": "intruder = true\n"}, None),
    ("POST", "components-file", {"filename": "intruder.json", "content": "{}"}, None),
    ("DELETE", "components-file", None, {"filename": "keep.json"}),
    ("GET", "no-such-route", None, None),
]
ROUTE_IDS = [f"{m} {p}" for m, p, _, _ in ROUTES]
# Routes for external systems, authenticated by a secret in their URL instead of Jupyter's
# login: without the right secret they answer 404 and change nothing ({hook}: the job's id
# and a wrong token; the job's webhook is enabled).
TOKEN_ROUTES: list[tuple[str, str, Any]] = [
    ("POST", "hooks/{job}/wrong-token", {"LIMIT": 1}),
    ("POST", "hooks/{job}/", {}),
    ("POST", "hooks/job_unknown/wrong-token", {}),
]


def test_every_route_of_the_extension_is_in_the_table() -> None:
    """A new route cannot be left out of the authentication tests."""
    import re

    from pipeline_scheduler.handlers import route_table

    paths = [path for _, path, _, _ in ROUTES] + [path for _, path, _ in TOKEN_ROUTES]
    covered = {
        handler
        for path in paths
        for pattern, handler in [
            next((pat, h) for pat, h in route_table() if re.fullmatch(pat, "/pipeline-scheduler/" + path))
        ]
    }
    missing = {h.__name__ for _, h in route_table()} - {h.__name__ for h in covered}
    assert not missing, f"routes without an authentication test: {sorted(missing)}"


async def _seed(api: SchedulerClient) -> tuple[dict[str, Any], int]:
    job = await api.create_job(**interval_job("owner's job"))
    run_id = (await api.run_now(job["id"]))["run_id"]
    saved = await api.post("components-file", {"filename": "keep.json", "content": "{}"})
    assert saved.status == 200, saved
    return job, run_id


# An empty Authorization header, and the same with a matching XSRF cookie/header pair: the
# second passes Tornado's XSRF check, so only the route's own authentication can refuse it.
CREDENTIAL_CASES = {
    "no-token": dict(NO_CREDENTIALS),
    "no-token-valid-xsrf": {**NO_CREDENTIALS, "Cookie": "_xsrf=0123abcd", "X-XSRFToken": "0123abcd"},
}


@pytest.mark.parametrize("credentials", list(CREDENTIAL_CASES))
@pytest.mark.parametrize(("method", "path", "body", "query"), ROUTES, ids=ROUTE_IDS)
async def test_route_refuses_requests_without_credentials(
    api: SchedulerClient,
    workspace: Path,
    method: str,
    path: str,
    body: Any,
    query: dict[str, str] | None,
    credentials: str,
) -> None:
    job, run_id = await _seed(api)
    before = await scheduler_state(api, workspace)
    url = path.format(job=job["id"], run=run_id)
    headers = dict(CREDENTIAL_CASES[credentials])
    reply = await api.request(method, url, body, params=query, headers=headers)
    assert reply.status == 403, reply
    assert isinstance(reply.body, dict) and reply.body.get("error"), reply
    if credentials == "no-token-valid-xsrf":
        error = reply.body["error"]
        assert "'_xsrf'" not in error and "does not match" not in error, "XSRF should have passed"
    assert await scheduler_state(api, workspace) == before, "a refused request must change nothing"


@pytest.mark.parametrize("credentials", list(CREDENTIAL_CASES))
@pytest.mark.parametrize(
    ("method", "path", "body"), TOKEN_ROUTES, ids=[f"{m} {p}" for m, p, _ in TOKEN_ROUTES]
)
async def test_token_route_refuses_requests_without_the_right_token(
    api: SchedulerClient, workspace: Path, method: str, path: str, body: Any, credentials: str
) -> None:
    job, _ = await _seed(api)
    enabled = await api.post(f"jobs/{job['id']}/webhook")
    assert enabled.status == 200, enabled
    before = await scheduler_state(api, workspace)
    headers = dict(CREDENTIAL_CASES[credentials])
    reply = await api.request(method, path.format(job=job["id"]), body, headers=headers)
    assert reply.status in (403, 404), reply
    assert isinstance(reply.body, dict) and reply.body.get("error"), reply
    assert await scheduler_state(api, workspace) == before, "a refused request must change nothing"
    # The right token opens it without any Jupyter credentials.
    opened = await api.post(f"hooks/{job['id']}/{enabled.body['token']}", {}, headers=headers)
    assert opened.status == 202, opened


class DenySchedulerAuthorizer(Authorizer):
    """Lets authenticated users do everything except use the pipeline scheduler."""

    def is_authorized(self, handler: Any, user: Any, action: str, resource: str) -> bool:
        return resource != "pipeline-scheduler"


class TestAuthorizer:
    """With an authorizer that refuses the resource, authenticated requests get 403 too."""

    @pytest.fixture
    def jp_server_config(self, extension_config: dict[str, Any]) -> dict[str, Any]:
        return {
            "ServerApp": {
                "jpserver_extensions": {"pipeline_scheduler": True},
                "authorizer_class": DenySchedulerAuthorizer,
            },
            "PipelineSchedulerApp": extension_config,
        }

    async def test_every_route_is_authorised_for_its_resource(
        self, api: SchedulerClient, workspace: Path
    ) -> None:
        # Only the 'pipeline-scheduler' resource is refused: Jupyter's own API still works.
        status = await api.get("api/status", prefix="")
        assert status.status == 200, status
        for method, path, body, query in ROUTES:
            url = path.format(job="job_x", run=1)
            reply = await api.request(method, url, body, params=query)
            assert reply.status == 403, (method, path, reply)
            assert isinstance(reply.body, dict) and reply.body.get("error"), (method, path, reply)
        assert not (workspace / ".amphi" / "components").exists()
        assert not (workspace / ".amphi" / "config.toml").exists()
