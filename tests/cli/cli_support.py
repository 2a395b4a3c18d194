"""Helpers of the CLI tests: the installed ``amphi-scheduler`` entry point run as a
subprocess against real servers started with ``amphi-scheduler serve`` (and, for the
hand-over tests, a plain ``jupyter server`` with the extension from tests/api).

Each test gets its own Jupyter runtime/config folders, so the CLI's server discovery sees
only the servers the test started."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

HERE = Path(__file__).absolute().parent
sys.path.insert(0, str(HERE.parent / "api"))

from engine_support import TOKEN, EngineServer, free_port, pid_gone, sync_poll  # noqa: E402

__all__ = ["CLI", "TOKEN", "EngineServer", "ServeProcess", "free_port", "pid_gone", "sync_poll"]

CLI = str(Path(sys.executable).with_name("amphi-scheduler"))

PIPELINES = {
    "ok.py": 'print("ok")\n',
    "exit3.py": 'import sys\nprint("about to fail", flush=True)\nsys.exit(3)\n',
    "sleep.py": 'import time\nprint("sleeping", flush=True)\ntime.sleep(60)\n',
    # Prints a line, then waits until the test creates release.txt beside it, then prints.
    "two_lines.py": textwrap.dedent(
        """
        import time
        from pathlib import Path
        print("first line", flush=True)
        deadline = time.time() + 60
        while not Path("release.txt").exists() and time.time() < deadline:
            time.sleep(0.05)
        print("second line", flush=True)
        """
    ).lstrip(),
    "etl/load.ampln": '{"doc_type": "Amphi Pipeline", "pipelines": []}\n',
    "etl/extract.py": 'print("extract")\n',
}


def write_workspace(root: Path) -> Path:
    for rel, text in PIPELINES.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


def jupyter_env(home: Path) -> dict[str, str]:
    """Environment with private Jupyter folders (runtime files: how the CLI finds servers)."""
    env = {k: v for k, v in os.environ.items() if k not in ("AMPHI_SCHEDULER_URL", "AMPHI_SCHEDULER_TOKEN")}
    env.update(
        {
            "JUPYTER_CONFIG_DIR": str(home / "config"),
            "JUPYTER_DATA_DIR": str(home / "data"),
            "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


class ServeProcess(EngineServer):
    """``amphi-scheduler serve`` as a subprocess; the request/wait/stop helpers are
    EngineServer's (tests/api/engine_support.py)."""

    def __init__(self, root: Path, home: Path, *extra: str, token: str | None = TOKEN) -> None:
        super().__init__(root, home)
        self.extra = list(extra)
        self.token = token
        self.out_path = home / f"serve-{self.port}.out"

    def launch(self) -> ServeProcess:
        argv = [CLI, "serve", "--root", str(self.root), "--port", str(self.port)]
        if self.token is not None:
            argv.append(f"--IdentityProvider.token={self.token}")
        argv += ["--PipelineSchedulerApp.timezone=UTC", *self.extra]
        self.home.mkdir(parents=True, exist_ok=True)
        with open(self.out_path, "wb") as out, open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(argv, env=jupyter_env(self.home), stdout=out, stderr=log)
        return self

    def start(self) -> ServeProcess:
        super().start()
        # Ready once the service has checked its own scheduler and said where it listens.
        sync_poll(lambda: "amphi-scheduler: serving" in self.stdout(), timeout=30, what=self.tail())
        return self

    def stdout(self) -> str:
        return self.out_path.read_text()

    def stop_code(self, timeout: float = 30) -> int:
        """SIGTERM; answers the exit code."""
        assert self.process is not None
        self.process.terminate()
        return self.process.wait(timeout=timeout)


class Workspace:
    """A workspace folder, its private Jupyter folders and a way to run the CLI in it."""

    def __init__(self, root: Path, home: Path) -> None:
        self.root, self.home = root, home
        self.servers: list[EngineServer] = []

    def serve(self, *extra: str, token: str | None = TOKEN) -> ServeProcess:
        server = ServeProcess(self.root, self.home, *extra, token=token)
        self.servers.append(server)
        return server

    def cli(self, *args: str, cwd: Path | None = None, timeout: float = 60, **env: str) -> Result:
        done = subprocess.run(
            [CLI, *args],
            cwd=cwd or self.root,
            env={**jupyter_env(self.home), **env},
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        return Result(done.returncode, done.stdout, done.stderr)

    def popen(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [CLI, *args],
            cwd=self.root,
            env=jupyter_env(self.home),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def json(self, *args: str) -> Any:
        import json

        result = self.cli(*args, "--json")
        assert result.code == 0, result
        return json.loads(result.out)

    def cleanup(self) -> None:
        for server in self.servers:
            server.cleanup()


class Result:
    def __init__(self, code: int, out: str, err: str) -> None:
        self.code, self.out, self.err = code, out, err

    def __repr__(self) -> str:
        return f"exit {self.code}\n--- stdout\n{self.out[-3000:]}\n--- stderr\n{self.err[-3000:]}"


def delete_all_jobs(server: EngineServer) -> None:
    for job in server.ok("GET", "jobs")["jobs"]:
        server.ok("DELETE", f"jobs/{job['id']}")
