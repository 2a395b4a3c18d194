"""Fixtures for the REST API tests: a real Jupyter server (pytest-jupyter) with the
pipeline_scheduler extension, a real SQLite file, a workspace of tiny pipelines, and a
small JSON client around ``jp_fetch``.

Only the HTTP boundary is exercised here; nothing is faked.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from api_support import SchedulerClient, write_pipelines

# Figures measured by the fault and load tests, printed at the end of the session (so CI
# logs and `make soak` show them); never asserted as timings.
_FIGURES: list[tuple[str, str]] = []


@pytest.fixture(scope="session")
def figure() -> Callable[[str, str], None]:
    """``figure(name, value)`` records a measured figure for the session's summary."""

    def record(name: str, value: str) -> None:
        _FIGURES.append((name, value))

    return record


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if _FIGURES:
        terminalreporter.section("fault and load figures")
        for name, value in _FIGURES:
            terminalreporter.write_line(f"{name}: {value}")


@pytest.fixture
def db_file(tmp_path: Path) -> Path:
    """The scheduler's SQLite file, outside the workspace so a test can find it easily."""
    return tmp_path / "state" / "scheduler.sqlite"


@pytest.fixture
def extension_config(db_file: Path) -> dict[str, Any]:
    """PipelineSchedulerApp traitlets; tests override this fixture to change them."""
    return {"timezone": "UTC", "db_url": f"sqlite:///{db_file}"}


@pytest.fixture
def jp_server_config(extension_config: dict[str, Any]) -> dict[str, Any]:
    return {
        "ServerApp": {"jpserver_extensions": {"pipeline_scheduler": True}},
        "PipelineSchedulerApp": extension_config,
    }


@pytest.fixture
def workspace(jp_root_dir: Path) -> Path:
    """The server's root_dir, holding the tiny pipelines above."""
    write_pipelines(jp_root_dir)
    return jp_root_dir


@pytest.fixture
def api(jp_fetch: Callable[..., Any], workspace: Path) -> SchedulerClient:
    return SchedulerClient(jp_fetch)


@pytest.fixture
def scheduler_app(jp_serverapp: Any) -> Any:
    """The PipelineSchedulerApp instance the server loaded."""
    apps = jp_serverapp.extension_manager.extension_apps["pipeline_scheduler"]
    assert len(apps) == 1
    return next(iter(apps))
