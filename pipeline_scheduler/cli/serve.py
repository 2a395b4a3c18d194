"""``amphi-scheduler serve``: a headless Jupyter server running the scheduler extension.

It is jupyter_server's own ``ServerApp`` (so every Jupyter option works, its stop path runs
the extension's ``stop_extension`` and its runtime file lets the CLI find it) with three
changes for a service: only the pipeline_scheduler extension is loaded (unless
``--with-extensions``), SIGINT stops at once like SIGTERM (no interactive confirmation),
and once started it asks its own ``GET pipeline-scheduler/config`` so that a scheduler
that failed to load (a bad setting) ends the process instead of serving nothing.

Exit codes: 0 stopped by SIGTERM/SIGINT; 3 could not start; 1 failed after starting.
"""

from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

EXIT_STOPPED = 0
EXIT_FAILED = 1
EXIT_COULD_NOT_START = 3


def _say(text: str) -> None:
    print(f"amphi-scheduler: {text}", flush=True)


def _complain(text: str) -> None:
    print(f"amphi-scheduler serve: {text}", file=sys.stderr, flush=True)


def check_root(root: str) -> Path | str:
    """The workspace folder, or why it cannot be one."""
    path = Path(root).expanduser()
    if not path.exists():
        return f"--root {root}: no such folder."
    if not path.is_dir():
        return f"--root {root}: not a folder."
    amphi = path / ".amphi"
    target = amphi if amphi.exists() else path
    if not os.access(target, os.W_OK | os.X_OK):
        return f"--root {root}: {target} is not writable (the scheduler keeps .amphi/ there)."
    return path.resolve()


def build_app_class() -> Any:
    from jupyter_server.serverapp import ServerApp
    from tornado.httpclient import AsyncHTTPClient, HTTPClientError
    from traitlets import Bool

    class HeadlessServerApp(ServerApp):  # type: ignore[misc]
        """jupyter_server's ServerApp with the scheduler only, for systemd or a container."""

        name = "amphi-scheduler-serve"
        description = "A headless Jupyter server running the amphi-scheduler extension."
        scheduler_only = Bool(True, help="Load only the pipeline_scheduler server extension.").tag(
            config=True
        )
        exit_code = EXIT_STOPPED
        started = False

        def find_server_extensions(self) -> None:
            if self.scheduler_only:
                self.jpserver_extensions = {"pipeline_scheduler": True}
            else:
                super().find_server_extensions()
                self.jpserver_extensions = {**self.jpserver_extensions, "pipeline_scheduler": True}

        def init_signal(self) -> None:
            super().init_signal()
            # A service stops on SIGINT at once; ServerApp would ask "Shut down? (y/[n])".
            signal.signal(signal.SIGINT, self._signal_stop)

        async def _stop(self) -> None:
            # ServerApp._stop stops the loop only when every clean-up step succeeded; a
            # service must exit even when one fails (it is logged, and the code says so).
            try:
                await self._cleanup()
            except Exception:
                self.log.exception("amphi-scheduler: clean-up at stop failed")
                if self.exit_code == EXIT_STOPPED:
                    self.exit_code = EXIT_FAILED
            finally:
                self.io_loop.stop()

        async def _post_start(self) -> None:
            await super()._post_start()
            await self._check_scheduler()

        async def _check_scheduler(self) -> None:
            url = self.connection_url.rstrip("/") + "/pipeline-scheduler/config"
            token = self.identity_provider.token
            headers = {"Authorization": f"token {token}"} if token else {}
            try:
                response = await AsyncHTTPClient().fetch(url, headers=headers, request_timeout=60)
                state = json.loads(response.body).get("scheduler_state", "?")
            except HTTPClientError as err:
                if err.code in (401, 403):
                    state = "unknown (the self-check could not authenticate)"
                else:
                    self.log.critical(
                        "amphi-scheduler: the scheduler did not start (GET %s answered %s); "
                        "see the messages above.",
                        url,
                        err.code,
                    )
                    self.exit_code = EXIT_COULD_NOT_START
                    self.stop()
                    return
            except Exception as err:  # noqa: BLE001 - any failure to answer means not started
                self.log.critical("amphi-scheduler: the scheduler did not answer its self-check: %s", err)
                self.exit_code = EXIT_COULD_NOT_START
                self.stop()
                return
            self.started = True
            _say(f"serving {self.root_dir} at {self.connection_url} (scheduler {state})")
            if token and self.identity_provider.token_generated:
                _say(f"token: {token}")
            _say(
                f"CLI: AMPHI_SCHEDULER_URL={self.connection_url} "
                f"AMPHI_SCHEDULER_TOKEN={'<token>' if token else ''} amphi-scheduler status"
            )
            _say("stop with SIGTERM or Ctrl-C")

    return HeadlessServerApp


def serve(root: str, port: int, ip: str, allow_root: bool, with_extensions: bool, extra: list[str]) -> int:
    checked = check_root(root)
    if isinstance(checked, str):
        _complain(checked)
        return EXIT_COULD_NOT_START
    argv = [
        f"--ServerApp.root_dir={checked}",
        f"--ServerApp.port={port}",
        f"--ServerApp.ip={ip}",
        "--ServerApp.port_retries=0",
        "--ServerApp.open_browser=False",
    ]
    if with_extensions:
        argv.append("--HeadlessServerApp.scheduler_only=False")
    if allow_root or (hasattr(os, "geteuid") and os.geteuid() == 0):
        argv.append("--ServerApp.allow_root=True")
    argv += extra  # the caller's Jupyter options win: they come last
    app = build_app_class().instance()
    try:
        app.initialize(argv)
    except SystemExit as stop:
        code = stop.code if isinstance(stop.code, int) else (0 if stop.code is None else 1)
        if code:
            _complain("the Jupyter server could not start; see the messages above.")
        return EXIT_COULD_NOT_START if code else EXIT_STOPPED
    except Exception as err:  # noqa: BLE001 - a bad option or setting: report, do not trace
        _complain(f"the Jupyter server could not start: {err}")
        return EXIT_COULD_NOT_START
    try:
        app.start()
    except SystemExit as stop:
        if stop.code in (0, None):
            return int(app.exit_code)
        _complain("the Jupyter server stopped with an error; see the messages above.")
        return EXIT_FAILED if app.started else EXIT_COULD_NOT_START
    return int(app.exit_code)
