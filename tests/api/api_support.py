"""Client and workspace helpers for the REST API tests (imported by the tests and
their conftest)."""

from __future__ import annotations

import asyncio
import json
import textwrap
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROUTE_PREFIX = "pipeline-scheduler"
FINAL_STATUSES = {"success", "failure", "cancelled", "timeout", "interrupted", "skipped"}

PIPELINES: dict[str, str] = {
    "ok.py": """
        import os
        print("hello from ok")
        print("cwd=" + os.getcwd())
    """,
    "fail.py": """
        import sys
        print("partial output")
        print("boom: something broke", file=sys.stderr)
        sys.exit(3)
    """,
    "sleep3.py": """
        import time
        print("sleeping", flush=True)
        time.sleep(3)
        print("woke up")
    """,
    "forever.py": """
        import time
        print("started", flush=True)
        time.sleep(120)
        print("never printed")
    """,
    "etl/read_local.py": """
        from pathlib import Path
        print("read:" + Path("input.txt").read_text().strip())
    """,
    "etl/input.txt": "local data file\n",
    "notes.sh": "echo not a pipeline\n",
}


@dataclass
class Reply:
    status: int
    body: Any
    elapsed: float

    def __repr__(self) -> str:  # shows up in assertion messages
        return f"Reply(status={self.status}, body={self.body!r:.600})"


class SchedulerClient:
    """JSON client for ``{base_url}pipeline-scheduler/...`` on the test server."""

    def __init__(self, fetch: Callable[..., Any]) -> None:
        self._fetch = fetch

    async def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        raw: str | bytes | None = None,
        params: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
        prefix: str = ROUTE_PREFIX,
        timeout: float = 60,
    ) -> Reply:
        kwargs: dict[str, Any] = {"method": method, "raise_error": False, "request_timeout": timeout}
        if raw is not None:
            kwargs["body"] = raw
        elif body is not None:
            kwargs["body"] = json.dumps(body)
        elif method in ("POST", "PUT", "PATCH"):
            kwargs["body"] = ""
        url = f"{prefix}/{path}" if prefix else path
        started = time.perf_counter()
        response = await self._fetch(url, params=params, headers=headers, **kwargs)
        elapsed = time.perf_counter() - started
        assert response.code != 599, f"{method} {url}: no HTTP answer ({response.error})"
        text = response.body.decode("utf-8") if response.body else ""
        try:
            parsed = json.loads(text) if text else None
        except ValueError:
            parsed = text
        return Reply(response.code, parsed, elapsed)

    async def get(self, path: str, **kw: Any) -> Reply:
        return await self.request("GET", path, **kw)

    async def post(self, path: str, body: Any = None, **kw: Any) -> Reply:
        return await self.request("POST", path, body, **kw)

    async def put(self, path: str, body: Any = None, **kw: Any) -> Reply:
        return await self.request("PUT", path, body, **kw)

    async def delete(self, path: str, **kw: Any) -> Reply:
        return await self.request("DELETE", path, **kw)

    # -- helpers that assert success ------------------------------------------------
    async def create_job(self, **spec: Any) -> dict[str, Any]:
        reply = await self.post("jobs", spec)
        assert reply.status == 201, reply
        return reply.body  # type: ignore[no-any-return]

    async def jobs(self) -> list[dict[str, Any]]:
        reply = await self.get("jobs")
        assert reply.status == 200, reply
        return reply.body["jobs"]  # type: ignore[no-any-return]

    async def runs(self, **params: str) -> list[dict[str, Any]]:
        reply = await self.get("runs", params=params or None)
        assert reply.status == 200, reply
        return reply.body["runs"]  # type: ignore[no-any-return]

    async def run_now(self, job_id: str, **body: Any) -> dict[str, Any]:
        reply = await self.post(f"run/{job_id}", body or None)
        assert reply.status == 200, reply
        return reply.body  # type: ignore[no-any-return]

    async def start_run(self, job_id: str) -> dict[str, Any]:
        reply = await self.post(f"run/{job_id}", {"wait": False})
        assert reply.status == 202, reply
        return reply.body  # type: ignore[no-any-return]

    async def wait_run(self, run_id: int, timeout: float = 30) -> dict[str, Any]:
        """Poll ``runs/{id}`` until the run reaches a final status."""
        deadline = time.monotonic() + timeout
        while True:
            reply = await self.get(f"runs/{run_id}")
            assert reply.status == 200, reply
            if reply.body["status"] in FINAL_STATUSES:
                return reply.body  # type: ignore[no-any-return]
            assert time.monotonic() < deadline, f"run {run_id} still {reply.body['status']}"
            await asyncio.sleep(0.05)


def write_pipelines(root: Path, files: dict[str, str] = PIPELINES) -> None:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")


def interval_job(
    name: str = "hourly", path: str = "ok.py", seconds: int = 3600, **extra: Any
) -> dict[str, Any]:
    return {
        "name": name,
        "pipeline_path": path,
        "schedule_type": "interval",
        "interval_seconds": seconds,
        **extra,
    }


async def scheduler_state(api: SchedulerClient, workspace: Path) -> Any:
    """Everything a request can change: jobs, runs, component files and the config file
    (compared before and after a request that must change nothing)."""
    components = workspace / ".amphi" / "components"
    return (
        await api.jobs(),
        await api.runs(),
        sorted(p.name for p in components.iterdir()) if components.exists() else [],
        (workspace / ".amphi" / "config.toml").exists(),
    )
