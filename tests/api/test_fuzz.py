"""Generated requests against a real server (Hypothesis): never a 5xx, every 4xx is JSON
with an 'error', the server keeps answering, and nothing is created or run outside the
workspace.

Bodies are drawn from three families: arbitrary JSON, job specifications with one field
replaced by an arbitrary value, and file names built from traversal pieces.
"""

from __future__ import annotations

import json
import string
import urllib.error
import urllib.request
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_server_restart import TOKEN, JupyterServer

from pipeline_scheduler.models import JobSpecInput

VALID_JOB = {
    "name": "fuzz",
    "pipeline_path": "ok.py",
    "schedule_type": "cron",
    "cron_expression": "0 3 * * *",
}
SPEC_FIELDS = sorted(JobSpecInput.model_fields)
TRAVERSAL = [
    "..",
    "/",
    "%2e%2e",
    "..%2f",
    "\x00",
    "~",
    "etc",
    "passwd",
    "ok.py",
    ".amphi",
    "\\",
    "outside.py",
    ".",
]

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)
paths = st.lists(st.sampled_from(TRAVERSAL), min_size=1, max_size=5).map("/".join)
mutated_jobs = st.builds(
    lambda field, value: {**VALID_JOB, field: value},
    st.sampled_from(SPEC_FIELDS),
    json_values | paths,
)
bodies = json_values | mutated_jobs | st.builds(lambda p: {**VALID_JOB, "pipeline_path": p}, paths)
ROUTES = [
    ("POST", "jobs"),
    ("POST", "schedule/preview"),
    ("PUT", "jobs/{job}"),
    ("POST", "run/{job}"),
    ("POST", "components-config"),
    ("POST", "components-file"),
    ("POST", "jobs/{job}/pause"),
]
QUERIES = [
    ("GET", "runs?{q}"),
    ("GET", "runs/{seg}"),
    ("GET", "runs/{seg}/log?{q}"),
    ("DELETE", "runs/{seg}"),
    ("GET", "jobs/{seg}"),
    ("DELETE", "components-file?filename={seg}"),
    ("POST", "runs/{seg}/cancel"),
]
segments = st.text(alphabet=string.ascii_letters + string.digits + "%._-~", min_size=1, max_size=20)
query_values = st.text(alphabet=string.ascii_letters + string.digits + "=&-_.%,", max_size=40)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Any:
    home = tmp_path_factory.mktemp("fuzz")
    root = home / "workspace"
    root.mkdir()
    (root / "ok.py").write_text("print('ok')\n")
    (home / "outside.py").write_text("open('PWNED', 'w').write('x')\n")
    server = JupyterServer(root, home)
    server.start()
    job = server.ok("POST", "jobs", VALID_JOB)
    server.job_id = job["id"]
    yield server
    server.kill()


def _send(
    server: JupyterServer, method: str, path: str, body: Any = None, raw: bytes | None = None
) -> tuple[int, Any]:
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    if method in ("POST", "PUT") and data is None:
        data = b""
    req = urllib.request.Request(
        f"http://127.0.0.1:{server.port}/pipeline-scheduler/{path}",
        data=data,
        method=method,
        headers={"Authorization": f"token {TOKEN}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(req, timeout=30) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


def _check(status: int, raw: bytes, what: str) -> None:
    assert status < 500, f"{what} -> {status}: {raw[:500]!r}"
    if status >= 400:
        body = json.loads(raw)
        assert isinstance(body.get("error"), str) and body["error"], (what, body)


FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@FUZZ
@given(route=st.sampled_from(ROUTES), body=bodies)
def test_bodies_never_break_the_server(server: JupyterServer, route: tuple[str, str], body: Any) -> None:
    method, path = route
    path = path.format(job=server.job_id)
    if path.startswith("run/"):
        if isinstance(body, dict):
            body = {**body, "wait": False}
    status, raw = _send(server, method, path, body)
    _check(status, raw, f"{method} {path} {body!r}")


@FUZZ
@given(route=st.sampled_from(QUERIES), seg=segments, q=query_values)
def test_paths_and_queries_never_break_the_server(
    server: JupyterServer, route: tuple[str, str], seg: str, q: str
) -> None:
    method, template = route
    path = template.format(seg=seg, q=q)
    status, raw = _send(server, method, path)
    _check(status, raw, f"{method} {path}")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(raw=st.binary(max_size=200))
def test_raw_bytes_bodies(server: JupyterServer, raw: bytes) -> None:
    status, answer = _send(server, "POST", "jobs", raw=raw)
    _check(status, answer, f"POST jobs {raw!r}")


def test_after_fuzzing_the_server_answers_and_nothing_escaped(server: JupyterServer) -> None:
    status, _ = server.request("GET", "api/status", prefix="")
    assert status == 200
    jobs = server.ok("GET", "jobs")["jobs"]
    for job in jobs:
        # Whatever was accepted names a file inside the workspace.
        resolved = (server.root / job["pipeline_path"]).resolve()
        assert server.root.resolve() in resolved.parents, job
    assert not (server.home / "PWNED").exists()
    assert not any(server.home.rglob("PWNED"))
    for p in server.home.iterdir():
        # Nothing was written beside the workspace but the server's own folders and files.
        assert p.name in {"workspace", "outside.py", "config", "data", "runtime"} or p.name.startswith(
            "server-"
        ), p
