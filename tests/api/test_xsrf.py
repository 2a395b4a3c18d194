"""Cross-site request forgery, against a real ``jupyter server``: a browser that is logged
in (a valid session cookie) still cannot be made to change anything through another site.

- A write (POST, PUT, DELETE) that carries only the session cookie, as a form or script
  on another site would send it, is refused with 403 unless it also carries the XSRF
  token, in the ``X-XSRFToken`` header, matching the ``_xsrf`` cookie.
- A request from another origin is refused even with both (jupyter_server's origin check).
- The same cookie and a matching token pass (so the refusals are the XSRF checks, not a
  broken login).

Each refusal is checked to change nothing.
"""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import pytest
from api_support import interval_job, write_pipelines
from engine_support import TOKEN, EngineServer
from test_auth import ROUTES

WRITES = [r for r in ROUTES if r[0] != "GET" and r[1] != "no-such-route"]
WRITE_IDS = [f"{m} {p}" for m, p, _, _ in WRITES]
XSRF = "0123abcd"  # any token works, as long as cookie and header match (Tornado's check)


class Browser:
    """Requests as a browser sends them: the session cookie, no Authorization header."""

    def __init__(self, server: EngineServer) -> None:
        self.server = server
        status, headers = self.call("GET", f"/api/status?token={TOKEN}")[:2]
        assert status == 200
        cookies = [v.split(";", 1)[0] for k, v in headers if k.lower() == "set-cookie"]
        session = [c for c in cookies if c.startswith("username-")]
        assert session, f"no session cookie in {headers}"
        self.session = session[0]

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, list[tuple[str, str]], Any]:
        conn = http.client.HTTPConnection("127.0.0.1", self.server.port, timeout=30)
        data = json.dumps(body).encode() if body is not None else None
        conn.request(method, path, body=data, headers={"Content-Type": "application/json", **(headers or {})})
        answer = conn.getresponse()
        raw = answer.read()
        conn.close()
        try:
            parsed = json.loads(raw) if raw else None
        except ValueError:
            parsed = raw.decode(errors="replace")
        return answer.status, answer.getheaders(), parsed

    def api(
        self,
        method: str,
        path: str,
        body: Any = None,
        query: dict[str, str] | None = None,
        *,
        xsrf: str | None = None,
        cookie_xsrf: str | None = None,
        origin: str | None = None,
    ) -> tuple[int, Any]:
        cookie = self.session + (f"; _xsrf={cookie_xsrf}" if cookie_xsrf else "")
        headers = {"Cookie": cookie}
        if xsrf is not None:
            headers["X-XSRFToken"] = xsrf
        if origin is not None:
            headers["Origin"] = origin
        url = f"/pipeline-scheduler/{path}" + (f"?{urlencode(query)}" if query else "")
        status, _, parsed = self.call(method, url, body, headers)
        return status, parsed


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EngineServer]:
    base = tmp_path_factory.mktemp("xsrf")
    root = base / "workspace"
    write_pipelines(root)
    srv = EngineServer(root, base / "home").start()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def browser(server: EngineServer) -> Browser:
    return Browser(server)


@pytest.fixture(scope="module")
def seeded(server: EngineServer) -> tuple[dict[str, Any], int]:
    """A job, a finished run and a components file, made with the token."""
    job = server.ok("POST", "jobs", interval_job("owner's job"))
    run_id = server.ok("POST", f"run/{job['id']}", {"wait": True})["run_id"]
    server.ok("POST", "components-file", {"filename": "keep.json", "content": "{}"})
    return job, run_id


def state(server: EngineServer) -> Any:
    components = server.root / ".amphi" / "components"
    return (
        server.ok("GET", "jobs"),
        server.ok("GET", "runs?limit=1000"),
        sorted(p.name for p in components.iterdir()),
        (server.root / ".amphi" / "config.toml").exists(),
    )


def test_the_session_cookie_alone_can_read(browser: Browser, seeded: tuple[dict[str, Any], int]) -> None:
    """Reading needs no XSRF token (a same-origin page reads with its cookie)."""
    status, body = browser.api("GET", "jobs")
    assert status == 200, body
    assert seeded[0]["id"] in {j["id"] for j in body["jobs"]}


@pytest.mark.parametrize(
    "case",
    ["no-token", "token-in-header-only", "token-in-cookie-only", "mismatched-token"],
)
@pytest.mark.parametrize(("method", "path", "body", "query"), WRITES, ids=WRITE_IDS)
def test_write_with_session_cookie_but_no_matching_xsrf_is_refused(
    server: EngineServer,
    browser: Browser,
    seeded: tuple[dict[str, Any], int],
    method: str,
    path: str,
    body: Any,
    query: dict[str, str] | None,
    case: str,
) -> None:
    job, run_id = seeded
    before = state(server)
    tokens = {
        "no-token": {},
        "token-in-header-only": {"xsrf": XSRF},
        "token-in-cookie-only": {"cookie_xsrf": XSRF},
        "mismatched-token": {"xsrf": XSRF, "cookie_xsrf": "fedc9876"},
    }[case]
    status, answer = browser.api(method, path.format(job=job["id"], run=run_id), body, query, **tokens)
    assert status == 403, (status, answer)
    assert isinstance(answer, dict) and "xsrf" in answer.get("error", "").lower(), answer
    assert state(server) == before, "a refused request must change nothing"


def test_cross_origin_requests_are_refused_even_with_a_matching_token(
    server: EngineServer, browser: Browser, seeded: tuple[dict[str, Any], int]
) -> None:
    job = seeded[0]
    before = state(server)
    evil = "http://evil.example"
    for method, path, body in [
        ("GET", "jobs", None),
        ("POST", "jobs", interval_job("from another site")),
        ("POST", f"run/{job['id']}", {"wait": False}),
        ("DELETE", f"jobs/{job['id']}", None),
    ]:
        status, answer = browser.api(method, path, body, xsrf=XSRF, cookie_xsrf=XSRF, origin=evil)
        # jupyter_server answers a blocked cross-origin API request with 404 (revealing
        # nothing) and logs why.
        assert status == 404, (method, path, status, answer)
        assert isinstance(answer, dict) and answer.get("error"), answer
        assert "owner's job" not in json.dumps(answer), "another site must not read anything"
    assert "Blocking Cross Origin API request" in server.log_path.read_text()
    assert state(server) == before


def test_same_origin_write_with_matching_xsrf_passes(server: EngineServer, browser: Browser) -> None:
    """The control case: the very cookie that was refused above works with the token."""
    origin = f"http://127.0.0.1:{server.port}"
    status, job = browser.api(
        "POST", "jobs", interval_job("made by the logged-in page"), xsrf=XSRF, cookie_xsrf=XSRF, origin=origin
    )
    assert status == 201, job
    status, paused = browser.api("POST", f"jobs/{job['id']}/pause", xsrf=XSRF, cookie_xsrf=XSRF)
    assert status == 200 and paused["paused"] is True, paused
    status, _ = browser.api("DELETE", f"jobs/{job['id']}", xsrf=XSRF, cookie_xsrf=XSRF)
    assert status == 200
    assert job["id"] not in {j["id"] for j in server.ok("GET", "jobs")["jobs"]}
