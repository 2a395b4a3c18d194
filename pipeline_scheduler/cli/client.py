"""A small REST client of the scheduler's HTTP API, and how the CLI finds a server.

The command line talks to a running server only through the same routes the JupyterLab
panel uses (``{base_url}pipeline-scheduler/...``), so it keeps working whatever the server
does inside. Standard library only (urllib): no web framework is imported here.
"""

from __future__ import annotations

import getpass
import json
import os
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

API_PREFIX = "pipeline-scheduler/"
URL_ENV = "AMPHI_SCHEDULER_URL"
TOKEN_ENV = "AMPHI_SCHEDULER_TOKEN"


# Who makes a change, for the job history (the server keeps a named Jupyter user's name).
AUTHOR_HEADER = "X-Pipeline-Scheduler-Author"


def author() -> str:
    """The OS user running the CLI, as job history records it: ``alice (cli)``."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no name for the uid (a container's)
        user = f"uid {os.getuid()}" if hasattr(os, "getuid") else "unknown"
    return f"{user} (cli)"


class CLIError(Exception):
    """An error the CLI reports as one message on stderr, with an exit code."""

    exit_code = 1

    def __init__(self, message: str, fields: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.fields = fields or {}


class ApiError(CLIError):
    """The server answered with an error (``{"error": "...", "fields": {...}}``)."""

    def __init__(self, status: int, message: str, fields: dict[str, Any] | None = None) -> None:
        super().__init__(message, fields)
        self.status = status


class ServerUnreachableError(CLIError):
    """No server answered (nothing found, connection refused, timeout)."""

    exit_code = 4


HOW_TO_POINT = (
    "Point the CLI at a server with --url URL --token TOKEN (or the environment variables "
    f"{URL_ENV} / {TOKEN_ENV}), run it from inside the workspace of a running JupyterLab, "
    "or start one with: amphi-scheduler serve --root DIR"
)


@dataclass(frozen=True)
class ServerAddress:
    url: str  # base URL of the Jupyter server, ending with "/"
    token: str
    root_dir: str | None = None

    @property
    def api_url(self) -> str:
        return self.url + API_PREFIX


def normalise_url(url: str) -> tuple[str, str | None]:
    """Base URL ending with '/' (a pasted '.../pipeline-scheduler/...' or '/lab' suffix is
    dropped) and the token of a pasted ``?token=`` URL, if any."""
    parts = urllib.parse.urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise CLIError(f"--url: {url!r} is not an http(s) URL such as http://127.0.0.1:8888/.")
    token = urllib.parse.parse_qs(parts.query).get("token", [None])[0]
    path = parts.path or "/"
    for marker in ("/pipeline-scheduler", "/lab", "/tree"):
        index = path.find(marker)
        if index >= 0:
            path = path[:index]
    if not path.endswith("/"):
        path += "/"
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, path, "", "")), token


def running_servers(runtime_dir: str | None = None) -> list[dict[str, Any]]:
    """The ``jpserver-*.json`` files of live Jupyter servers, as ``jupyter server list``
    reads them (jupyter_server's ``list_running_servers``; reimplemented here because
    importing jupyter_server.serverapp costs more than a second per command)."""
    from jupyter_core.paths import jupyter_runtime_dir

    folder = Path(runtime_dir or jupyter_runtime_dir())
    found = []
    for path in sorted(folder.glob("jpserver-*.json")):
        try:
            info = json.loads(path.read_text(encoding="utf-8"))
            pid = int(info["pid"])
            os.kill(pid, 0)
        except PermissionError:
            pass  # alive, owned by someone else
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if isinstance(info, dict) and info.get("url"):
            found.append(info)
    return found


def _contains(root: str, folder: Path) -> bool:
    try:
        folder.relative_to(Path(root).resolve())
        return True
    except (ValueError, OSError):
        return False


def discover(cwd: Path | None = None, runtime_dir: str | None = None) -> list[ServerAddress]:
    """Servers whose root_dir is the current folder or contains it, closest root first."""
    here = (cwd or Path.cwd()).resolve()
    matches = [
        info for info in running_servers(runtime_dir) if _contains(str(info.get("root_dir", "")), here)
    ]
    matches.sort(key=lambda info: -len(Path(str(info["root_dir"])).resolve().parts))
    addresses = []
    for info in matches:
        base, _ = normalise_url(str(info["url"]))
        addresses.append(ServerAddress(base, str(info.get("token") or ""), str(info["root_dir"])))
    return addresses


class SchedulerClient:
    """JSON over HTTP to ``{base_url}pipeline-scheduler/``, token authentication."""

    def __init__(self, address: ServerAddress, timeout: float = 30.0) -> None:
        self.address = address
        self.timeout = timeout

    def request(self, method: str, path: str, body: Any = None, *, prefix: str = API_PREFIX) -> Any:
        status, answer = self.request_status(method, path, body, prefix=prefix)
        return answer

    def request_status(
        self, method: str, path: str, body: Any = None, *, prefix: str = API_PREFIX
    ) -> tuple[int, Any]:
        data = json.dumps(body).encode() if body is not None else (b"" if method in ("POST", "PUT") else None)
        headers = {
            "Content-Type": "application/json",
            "Accept": "application/json",
            AUTHOR_HEADER: author(),
        }
        if self.address.token:
            headers["Authorization"] = f"token {self.address.token}"
        url = self.address.url + prefix + path
        req = urllib.request.Request(url, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as response:
                raw = response.read()
                return response.status, json.loads(raw) if raw else None
        except urllib.error.HTTPError as err:
            raise _api_error(err, self.address) from None
        except (urllib.error.URLError, ConnectionError, TimeoutError) as err:
            reason = getattr(err, "reason", err)
            raise ServerUnreachableError(
                f"Cannot reach the scheduler at {self.address.url} ({reason}).\n{HOW_TO_POINT}"
            ) from None

    def get(self, path: str) -> Any:
        return self.request("GET", path)

    def post(self, path: str, body: Any = None) -> Any:
        return self.request("POST", path, body)

    def put(self, path: str, body: Any) -> Any:
        return self.request("PUT", path, body)

    def delete(self, path: str) -> Any:
        return self.request("DELETE", path)


def _api_error(err: urllib.error.HTTPError, address: ServerAddress) -> CLIError:
    raw = b""
    try:
        raw = err.read()
    except OSError:
        pass
    message, fields = "", None
    try:
        answer = json.loads(raw)
        if isinstance(answer, dict):
            message = str(answer.get("error") or "")
            if isinstance(answer.get("fields"), dict):
                fields = answer["fields"]
    except ValueError:
        pass
    if err.code in (401, 403) and not message.strip():
        message = "the server refused the credentials"
    if err.code in (401, 403):
        message = f"{message} (HTTP {err.code}). Check the token: --token or {TOKEN_ENV}."
    elif err.code == 404 and not message:
        message = (
            f"{address.url} answered 404: no pipeline_scheduler extension there? "
            "Start one with: amphi-scheduler serve --root DIR"
        )
    return ApiError(err.code, message or f"HTTP {err.code} {err.reason}", fields)


def connect(url: str | None, token: str | None, cwd: Path | None = None) -> SchedulerClient:
    """The client for ``--url/--token``, the environment variables, or the server found
    for the current folder (the first found whose scheduler answers)."""
    url = url or os.environ.get(URL_ENV) or None
    token = token if token is not None else os.environ.get(TOKEN_ENV)
    if url:
        base, url_token = normalise_url(url)
        return SchedulerClient(ServerAddress(base, token if token is not None else (url_token or "")))
    candidates = discover(cwd)
    if not candidates:
        here = (cwd or Path.cwd()).resolve()
        raise ServerUnreachableError(
            f"No running Jupyter server has {here} in its root folder.\n{HOW_TO_POINT}"
        )
    last: CLIError | None = None
    for address in candidates:
        if token is not None:
            address = ServerAddress(address.url, token, address.root_dir)
        client = SchedulerClient(address, timeout=10)
        try:
            client.get("config")
            client.timeout = 30
            return client
        except CLIError as err:
            last = err
    assert last is not None
    if isinstance(last, ApiError) and last.status == 404:
        raise ServerUnreachableError(
            "Jupyter servers run for this folder, but none has the pipeline_scheduler "
            f"extension.\n{HOW_TO_POINT}"
        )
    raise last
