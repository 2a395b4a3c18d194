"""Helpers of the execution-engine tests (tests/api/test_engine*.py): pipelines that leave
evidence behind (pids, start/end times), process checks that treat zombies as gone, a
tiny webhook receiver, and a real ``jupyter server`` subprocess that takes extra
PipelineSchedulerApp settings and can be stopped cleanly or killed with SIGKILL."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Awaitable, Callable
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
TOKEN = "engine-test-token"

# Pipelines of the engine tests. Each leaves files under marks/ named after its run id
# (AMPHI_SCHEDULER_RUN_ID), relative to the workspace (AMPHI_SCHEDULER_WORKSPACE).
ENGINE_PIPELINES: dict[str, str] = {
    "pid_sleep.py": """
        import os, time
        from pathlib import Path
        marks = Path(os.environ["AMPHI_SCHEDULER_WORKSPACE"]) / "marks"
        marks.mkdir(exist_ok=True)
        run = os.environ["AMPHI_SCHEDULER_RUN_ID"]
        (marks / f"{run}.pid").write_text(str(os.getpid()))
        print("started", flush=True)
        time.sleep(120)
        print("never printed")
    """,
    "ignore_term.py": """
        import os, signal, time
        from pathlib import Path
        marks = Path(os.environ["AMPHI_SCHEDULER_WORKSPACE"]) / "marks"
        marks.mkdir(exist_ok=True)
        run = os.environ["AMPHI_SCHEDULER_RUN_ID"]

        def ignore(signum, frame):
            (marks / f"{run}.term").write_text("SIGTERM received and ignored")
            print("ignoring SIGTERM", flush=True)

        signal.signal(signal.SIGTERM, ignore)
        (marks / f"{run}.pid").write_text(str(os.getpid()))
        print("stubborn pipeline started", flush=True)
        deadline = time.time() + 120
        while time.time() < deadline:
            time.sleep(0.05)
    """,
    "spawn_child.py": """
        import os, subprocess, time
        from pathlib import Path
        marks = Path(os.environ["AMPHI_SCHEDULER_WORKSPACE"]) / "marks"
        marks.mkdir(exist_ok=True)
        run = os.environ["AMPHI_SCHEDULER_RUN_ID"]
        child = subprocess.Popen(["sleep", "60"])
        (marks / f"{run}.pid").write_text(str(os.getpid()))
        (marks / f"{run}.child").write_text(str(child.pid))
        print(f"child {child.pid} started", flush=True)
        time.sleep(120)
    """,
    "one_second.py": """
        import os, time
        from pathlib import Path
        marks = Path(os.environ["AMPHI_SCHEDULER_WORKSPACE"]) / "marks"
        marks.mkdir(exist_ok=True)
        run = os.environ["AMPHI_SCHEDULER_RUN_ID"]
        start = time.time()
        time.sleep(1)
        (marks / f"{run}.span").write_text(f"{start} {time.time()}")
        print("done", flush=True)
    """,
    "slow_span.py": """
        import os, time
        from pathlib import Path
        marks = Path(os.environ["AMPHI_SCHEDULER_WORKSPACE"]) / "marks"
        marks.mkdir(exist_ok=True)
        run = os.environ["AMPHI_SCHEDULER_RUN_ID"]
        start = time.time()
        time.sleep(1.5)
        (marks / f"{run}.span").write_text(f"{start} {time.time()}")
    """,
    "always_fail.py": """
        import sys
        print("attempting", flush=True)
        print("always fails", file=sys.stderr)
        sys.exit(1)
    """,
    "fail_once.py": """
        import os, sys
        from pathlib import Path
        counter = Path(os.environ["AMPHI_SCHEDULER_WORKSPACE"]) / "marks" / "fail_once.count"
        counter.parent.mkdir(exist_ok=True)
        calls = int(counter.read_text()) + 1 if counter.exists() else 1
        counter.write_text(str(calls))
        print(f"call {calls}", flush=True)
        sys.exit(2 if calls == 1 else 0)
    """,
    "env_print.py": """
        import hashlib, os, sys
        print("GREETING=" + os.environ.get("GREETING", "<unset>"))
        print("BATCH_SIZE=" + os.environ.get("BATCH_SIZE", "<unset>"))
        print("DRY_RUN=" + os.environ.get("DRY_RUN", "<unset>"))
        print("REGION=" + os.environ.get("REGION", "<unset>"))
        print("AMPHI_PARAMETERS=" + os.environ.get("AMPHI_PARAMETERS", "<unset>"))
        secret = os.environ.get("API_TOKEN", "")
        print("token sha256=" + hashlib.sha256(secret.encode()).hexdigest())
        print("using token " + secret)
        print("stderr token " + secret, file=sys.stderr)
        print("executable=" + sys.executable)
        print("prefix=" + sys.prefix)
        print("cwd=" + os.getcwd())
    """,
    "secret_flood.py": """
        import os, sys
        secret = os.environ["API_TOKEN"]
        line = ("token " + secret + " ").encode()
        for i in range(40000):
            sys.stdout.buffer.write(line + str(i).encode() + b"\\n")
        sys.stdout.flush()
    """,
    "sub/inner.py": """
        print("inner pipeline")
    """,
    "sub/workdir/.keep": "",
    "whoami.py": """
        import os
        print(f"ppid={os.getppid()}")
    """,
}


def write_files(root: Path, files: dict[str, str]) -> None:
    import textwrap

    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")


# -- processes ----------------------------------------------------------------------------
def _stat_fields(pid: int) -> list[str] | None:
    """Fields of /proc/<pid>/stat after the command name (state first), or None."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text[text.rfind(")") + 2 :].split()


def pid_gone(pid: int) -> bool:
    """True when ``pid`` no longer runs; a zombie waiting for its reaper counts as gone
    (in a container, PID 1 may never reap re-parented orphans)."""
    fields = _stat_fields(pid)
    return fields is None or fields[0] in ("Z", "X")


def group_members(pgid: int) -> list[int]:
    """Live (non-zombie) processes of the process group ``pgid``."""
    members = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        fields = _stat_fields(int(entry))
        if fields and fields[0] not in ("Z", "X") and int(fields[2]) == pgid:
            members.append(int(entry))
    return members


def wait_pids_gone(pids: list[int], timeout: float = 10.0) -> list[int]:
    """Wait until every pid is gone; answer those still alive after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        alive = [p for p in pids if not pid_gone(p)]
        if not alive or time.monotonic() > deadline:
            return alive
        time.sleep(0.05)


def kill_quietly(pid: int) -> None:
    """Clean-up after a failed test so no stray pipeline outlives it (only a process that
    still looks like one of ours: a pipeline, its ``sleep`` child or a notebook kernel)."""
    if pid_gone(pid):
        return
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return
    if not any(mark in cmdline for mark in (b".py", b"sleep", b"ipykernel")):
        return
    try:
        os.kill(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def read_int(path: Path, timeout: float = 15.0) -> int:
    """Wait for a file holding a whole number (a pid written by a pipeline) and read it."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            text = path.read_text().strip()
            if text:
                return int(text)
        except (OSError, ValueError):
            pass
        assert time.monotonic() < deadline, f"{path} was never written"
        time.sleep(0.05)


async def async_wait_pids_gone(pids: list[int], timeout: float = 10.0) -> list[int]:
    """``wait_pids_gone`` for async tests (never blocks the server's event loop)."""
    deadline = time.monotonic() + timeout
    while True:
        alive = [p for p in pids if not pid_gone(p)]
        if not alive or time.monotonic() > deadline:
            return alive
        await asyncio.sleep(0.05)


async def async_read_int(path: Path, timeout: float = 15.0) -> int:
    deadline = time.monotonic() + timeout
    while True:
        try:
            text = path.read_text().strip()
            if text:
                return int(text)
        except (OSError, ValueError):
            pass
        assert time.monotonic() < deadline, f"{path} was never written"
        await asyncio.sleep(0.05)


async def poll(
    probe: Callable[[], Awaitable[Any]], timeout: float = 15.0, interval: float = 0.05, what: str = ""
) -> Any:
    """Await ``probe()`` until it answers something truthy; fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = await probe()
        if value:
            return value
        assert time.monotonic() < deadline, f"not met within {timeout} s: {what} (last {value!r})"
        await asyncio.sleep(interval)


def sync_poll(probe: Callable[[], Any], timeout: float = 15.0, interval: float = 0.1, what: str = "") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        assert time.monotonic() < deadline, f"not met within {timeout} s: {what} (last {value!r})"
        time.sleep(interval)


def ts(iso: str | None) -> float:
    assert iso is not None
    return datetime.fromisoformat(iso).timestamp()


def spans(marks: Path, run_ids: list[int]) -> dict[int, tuple[float, float]]:
    """(start, end) seen by the pipelines themselves, per run id."""
    found = {}
    for run_id in run_ids:
        start, end = (marks / f"{run_id}.span").read_text().split()
        found[run_id] = (float(start), float(end))
    return found


def max_overlap(intervals: list[tuple[float, float]]) -> int:
    """Largest number of intervals open at one instant."""
    events = sorted(
        [(s, 1) for s, _ in intervals] + [(e, -1) for _, e in intervals], key=lambda x: (x[0], x[1])
    )
    best = current = 0
    for _, step in events:
        current += step
        best = max(best, current)
    return best


# -- webhook receiver ---------------------------------------------------------------------
class WebhookSink:
    """An HTTP server on 127.0.0.1 (in a thread) that records every JSON POST."""

    def __init__(self) -> None:
        self.posts: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                sink.headers.append(dict(self.headers))
                sink.posts.append(json.loads(raw))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/hook"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> WebhookSink:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._server.shutdown()
        self._server.server_close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def refusing_url() -> str:
    """An http URL on 127.0.0.1 where nothing listens (connections are refused)."""
    return f"http://127.0.0.1:{free_port()}/hook"


# -- a real jupyter server ----------------------------------------------------------------
class EngineServer:
    """``python -m jupyter_server`` on ``root`` with this extension only and extra settings."""

    def __init__(self, root: Path, home: Path, settings: dict[str, Any] | None = None) -> None:
        self.root, self.home = root, home
        self.settings = {"timezone": "UTC", **(settings or {})}
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = home / f"server-{self.port}.log"

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def start(self) -> EngineServer:
        self.launch()
        return self.wait_ready()

    def launch(self) -> EngineServer:
        config_dir = self.home / "config"
        config_dir.mkdir(parents=True, exist_ok=True)
        (config_dir / "jupyter_server_config.json").write_text(
            json.dumps(
                {
                    "ServerApp": {
                        "jpserver_extensions": {
                            "pipeline_scheduler": True,
                            "jupyterlab": False,
                            "jupyter_lsp": False,
                            "notebook_shim": False,
                            "jupyter_server_terminals": False,
                        }
                    }
                }
            )
        )
        env = {
            **os.environ,
            "JUPYTER_CONFIG_DIR": str(config_dir),
            "JUPYTER_DATA_DIR": str(self.home / "data"),
            "JUPYTER_RUNTIME_DIR": str(self.home / "runtime"),
            "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
        }
        argv = [
            sys.executable,
            "-m",
            "jupyter_server",
            "--no-browser",
            "--allow-root",
            f"--port={self.port}",
            "--port-retries=0",
            "--ip=127.0.0.1",
            f"--IdentityProvider.token={TOKEN}",
            f"--ServerApp.root_dir={self.root}",
        ] + [f"--PipelineSchedulerApp.{k}={v}" for k, v in self.settings.items()]
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT)
        return self

    def wait_ready(self) -> EngineServer:
        assert self.process is not None
        deadline = time.monotonic() + 60
        while True:
            assert self.process.poll() is None, f"server exited: {self.tail()}"
            try:
                if self.request("GET", "api/status", prefix="")[0] == 200:
                    return self
            except OSError:
                pass
            assert time.monotonic() < deadline, self.tail()
            time.sleep(0.05)

    def tail(self) -> str:
        try:
            return self.log_path.read_text()[-4000:]
        except OSError:
            return ""

    def stop(self) -> None:
        """SIGTERM: the server's own clean stop path."""
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        try:
            code = self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise AssertionError(f"server ignored SIGTERM: {self.tail()}") from None
        assert code == 0, f"server exited with {code}: {self.tail()}"

    def kill9(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def cleanup(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def request(
        self, method: str, path: str, body: Any = None, prefix: str = "pipeline-scheduler/"
    ) -> tuple[int, Any]:
        data = json.dumps(body).encode() if body is not None else (b"" if method == "POST" else None)
        req = urllib.request.Request(
            f"http://127.0.0.1:{self.port}/{prefix}{path}",
            data=data,
            method=method,
            headers={"Authorization": f"token {TOKEN}", "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(req, timeout=30) as response:
                return response.status, json.loads(response.read() or b"null")
        except urllib.error.HTTPError as err:
            return err.code, json.loads(err.read() or b"null")

    def ok(self, method: str, path: str, body: Any = None) -> Any:
        status, answer = self.request(method, path, body)
        assert 200 <= status < 300, (method, path, status, answer)
        return answer

    def runs(self, job_id: str | None = None) -> list[dict[str, Any]]:
        return self.ok("GET", f"runs?limit=1000{'&job_id=' + job_id if job_id else ''}")["runs"]  # type: ignore[no-any-return]

    def state(self) -> str:
        return self.ok("GET", "config")["scheduler_state"]  # type: ignore[no-any-return]
