"""The launch drain's floor: a Jupyter server extension that does the least any scheduler in
a Jupyter server does per run, and nothing else.

``POST amphi-bench-floor/run`` (authenticated, as the scheduler's routes are) starts
``python -u <script>`` the way the local runner does (the same flags, a run's environment,
its own session, stdin closed, stdout and stderr piped), at most ``os.cpu_count()`` at a
time, watches the exit with a pidfd on the event loop and drains the pipes. It records
nothing: no database, no log file, no policies. ``GET amphi-bench-floor/state`` answers how
many were started and finished, and when the last one finished.

``benchmarks.run`` loads it into the server it measures (``--only launch``), so the
scheduler's drain can be set against what the same server, machine and moment allow.
Never part of the package.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
import time
from typing import Any

from jupyter_server.base.handlers import APIHandler
from jupyter_server.utils import url_path_join
from tornado import web

ROUTE = "amphi-bench-floor"


class _Floor:
    def __init__(self) -> None:
        self.slots = asyncio.Semaphore(os.cpu_count() or 2)
        self.started = 0
        self.finished = 0
        self.failed = 0
        self.last_finished_at = 0.0
        self.tasks: set[asyncio.Task[None]] = set()

    def start(self, script: str) -> None:
        self.started += 1
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "AMPHI_SCHEDULER_RUN_ID": str(self.started)}
        task = asyncio.ensure_future(self._run([sys.executable, "-u", script], os.path.dirname(script), env))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _run(self, argv: list[str], cwd: str, env: dict[str, str]) -> None:
        async with self.slots:
            popen = subprocess.Popen(
                argv,
                cwd=cwd,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                bufsize=0,
                start_new_session=True,
            )
            loop = asyncio.get_running_loop()
            exited: asyncio.Future[None] = loop.create_future()
            pidfd = os.pidfd_open(popen.pid)

            def on_exit() -> None:
                loop.remove_reader(pidfd)
                os.close(pidfd)
                exited.set_result(None)

            loop.add_reader(pidfd, on_exit)
            await exited
            for stream in (popen.stdout, popen.stderr):
                assert stream is not None
                os.set_blocking(stream.fileno(), False)
                with contextlib.suppress(BlockingIOError):
                    while stream.read(65536):
                        pass
                stream.close()
            code = popen.wait()  # exited already: at once
        self.finished += 1
        self.failed += code != 0
        self.last_finished_at = time.time()


class RunHandler(APIHandler):
    @web.authenticated
    def post(self) -> None:
        script = json.loads(self.request.body or b"{}").get("script")
        if not isinstance(script, str) or not os.path.isfile(script):
            raise web.HTTPError(400, "script: an existing file")
        self.settings["amphi_bench_floor"].start(script)
        self.set_status(202)
        self.finish({"started": self.settings["amphi_bench_floor"].started})


class StateHandler(APIHandler):
    @web.authenticated
    def get(self) -> None:
        floor: _Floor = self.settings["amphi_bench_floor"]
        answer: dict[str, Any] = {
            "started": floor.started,
            "finished": floor.finished,
            "failed": floor.failed,
            "last_finished_at": floor.last_finished_at,
        }
        self.finish(answer)


def _jupyter_server_extension_points() -> list[dict[str, str]]:
    return [{"module": "benchmarks.launch_floor"}]


def _load_jupyter_server_extension(server_app: Any) -> None:
    web_app = server_app.web_app
    web_app.settings["amphi_bench_floor"] = _Floor()
    base = web_app.settings["base_url"]
    web_app.add_handlers(
        ".*$",
        [
            (url_path_join(base, ROUTE, "run"), RunHandler),
            (url_path_join(base, ROUTE, "state"), StateHandler),
        ],
    )
