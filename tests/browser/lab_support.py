"""The browser tests' JupyterLab: a test workspace, a `jupyter lab` on it, a page on it.

Shared by conftest.py's fixtures and by test modules that start a JupyterLab of their own
(test_amphi_ui.py, with Amphi ETL's editor). A module of its own name: ``from conftest
import ...`` would find whichever conftest.py was imported last."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ui_helpers import SCREENSHOTS

from scripts.chromium import CHROMIUM, CHROMIUM_ARGS

__all__ = [
    "CHROMIUM",
    "CHROMIUM_ARGS",
    "EXAMPLES",
    "PANEL",
    "REPO",
    "SCREENSHOTS",  # defined once in ui_helpers (build/screenshots/, untracked)
    "LabServer",
    "open_lab_page",
    "running_lab",
]

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"
PANEL = "#pipeline-scheduler-panel"

HELLO_PY = """\
import time

for i in range(1, 6):
    print(f"hello line {i}", flush=True)
    time.sleep(0.7)
print("all done", flush=True)
"""

FAIL_PY = """\
import sys

print("about to fail", flush=True)
print("something went wrong", file=sys.stderr, flush=True)
sys.exit(3)
"""

QUICK_PY = """\
print("quick run", flush=True)
"""

# Prints what the job's advanced options give it, then sleeps past any short timeout.
SLEEPY_PY = """\
import os
import time

print("greeting:", os.environ.get("GREETING"), flush=True)
print("secret:", os.environ.get("API_KEY"), flush=True)
print("LIMIT=" + os.environ.get("LIMIT", "?"), flush=True)
print("parameters:", os.environ.get("AMPHI_PARAMETERS"), flush=True)
print("cwd:", os.path.basename(os.getcwd()), flush=True)
time.sleep(60)
"""

# Starts a child process of its own (both must be gone after a cancel).
FAMILY_PY = """\
import os
import pathlib
import subprocess
import sys
import time

child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
pathlib.Path(os.environ["PIDS_FILE"]).write_text(f"{os.getpid()} {child.pid}")
print("started child", child.pid, flush=True)
time.sleep(120)
"""

SLEEP_PY = """\
import time

print("sleeping", flush=True)
time.sleep(120)
"""

REPORT_IPYNB = {
    "cells": [
        {
            "cell_type": "code",
            "execution_count": None,
            "metadata": {},
            "outputs": [],
            "source": ["print('notebook says hello')"],
        },
        {"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [], "source": ["6 * 7"]},
    ],
    "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"}},
    "nbformat": 4,
    "nbformat_minor": 4,
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _make_workspace(root: Path) -> None:
    (root / "etl").mkdir(parents=True)
    (root / "hello.py").write_text(HELLO_PY)
    (root / "fail.py").write_text(FAIL_PY)
    (root / "etl" / "quick.py").write_text(QUICK_PY)
    (root / "etl" / "nightly_load.py").write_text(QUICK_PY)
    (root / "notes.txt").write_text("not a pipeline\n")
    (root / "sleepy.py").write_text(SLEEPY_PY)
    (root / "family.py").write_text(FAMILY_PY)
    (root / "sleep.py").write_text(SLEEP_PY)
    (root / "report.ipynb").write_text(json.dumps(REPORT_IPYNB, indent=1))
    shutil.copy(EXAMPLES / "customers_fr.ampln", root / "customers_fr.ampln")
    shutil.copytree(EXAMPLES / "data", root / "data")


def _write_settings(settings_dir: Path) -> None:
    """User settings for the test lab: the Scheduler does not open itself (the palette
    test opens it), and JupyterLab does not ask about news or updates."""
    plugin = settings_dir / "@amphi" / "pipeline-scheduler"
    plugin.mkdir(parents=True)
    (plugin / "plugin.jupyterlab-settings").write_text(
        json.dumps({"openOnStartup": False, "pollIntervalSeconds": 3})
    )
    notes = settings_dir / "@jupyterlab" / "apputils-extension"
    notes.mkdir(parents=True)
    (notes / "notification.jupyterlab-settings").write_text(
        json.dumps({"fetchNews": "false", "checkForUpdates": False})
    )


class LabServer:
    def __init__(self, url: str, token: str, root: Path, log: Path) -> None:
        self.url = url
        self.token = token
        self.root = root
        self.log = log

    def api(self, method: str, route: str, body: Any = None) -> Any:
        """Call the scheduler's REST API (test set-up and checks only)."""
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            f"{self.url}pipeline-scheduler/{route}",
            data=data,
            method=method,
            headers={"Authorization": f"token {self.token}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            text = response.read().decode()
        return json.loads(text) if text else None

    def reset(self) -> None:
        for job in self.api("GET", "jobs")["jobs"]:
            self.api("DELETE", f"jobs/{job['id']}")
        deadline = time.time() + 20
        while True:
            try:
                self.api("DELETE", "runs")
                break
            except urllib.error.HTTPError as err:  # a run still going: wait for it
                if err.code != 409 or time.time() > deadline:
                    raise
                time.sleep(0.5)


@contextlib.contextmanager
def running_lab(base: Path, extra_env: dict[str, str] | None = None) -> Iterator[LabServer]:
    """A `jupyter lab` on a fresh test workspace under `base`, stopped on exit."""
    root = base / "workspace"
    root.mkdir()
    _make_workspace(root)
    settings = base / "settings"
    _write_settings(settings)
    port = _free_port()
    token = uuid.uuid4().hex
    log = base / "jupyter-lab.log"
    env = dict(os.environ)
    env["JUPYTER_RUNTIME_DIR"] = str(base / "runtime")
    env["JUPYTER_CONFIG_DIR"] = str(base / "config")  # no personal config leaks in
    env.update(extra_env or {})
    cmd = [
        sys.executable,
        "-m",
        "jupyter",
        "lab",
        "--no-browser",
        "--allow-root",
        f"--port={port}",
        "--ServerApp.ip=127.0.0.1",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={root}",
        "--LabApp.expose_app_in_browser=True",
        f"--LabApp.user_settings_dir={settings}",
        f"--LabApp.workspaces_dir={base / 'workspaces'}",
    ]
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=root)
    url = f"http://127.0.0.1:{port}/"
    server = LabServer(url, token, root, log)
    try:
        deadline = time.time() + 90
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"jupyter lab exited early:\n{log.read_text()[-4000:]}")
            try:
                request = urllib.request.Request(
                    f"{url}api/status", headers={"Authorization": f"token {token}"}
                )
                with urllib.request.urlopen(request, timeout=2):
                    break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                if time.time() > deadline:
                    raise RuntimeError(f"jupyter lab did not answer:\n{log.read_text()[-4000:]}") from None
                time.sleep(0.3)
        # The scheduler extension must be loaded: without it every test would fail late.
        config = server.api("GET", "config")
        assert "amphi_dir" in config, config
        yield server
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if os.environ.get("SCHEDULER_TEST_VERBOSE"):
            sys.stderr.write(log.read_text()[-20000:])


def open_lab_page(lab: LabServer, browser: Any) -> tuple[Any, Any, list[str]]:
    """A fresh JupyterLab page (light theme, Paris time) on its own lab workspace, once the
    scheduler's plugin is up. Answers (context, page, page errors)."""
    context = browser.new_context(
        viewport={"width": 1400, "height": 900},
        timezone_id="Europe/Paris",
        locale="en-GB",
    )
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    # A workspace of its own, so no layout is restored from an earlier test.
    page.goto(f"{lab.url}lab/workspaces/t{uuid.uuid4().hex[:12]}?token={lab.token}")
    page.wait_for_selector("#jp-main-dock-panel", timeout=60000)
    page.wait_for_function(
        "() => window.jupyterapp && window.jupyterapp.commands.hasCommand('pipeline-scheduler:open')",
        timeout=60000,
    )
    page.wait_for_selector('.jp-SideBar [data-id="pipeline-scheduler-panel"]', timeout=30000)
    page.evaluate("() => window.jupyterapp.restored")
    return context, page, errors
