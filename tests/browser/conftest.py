"""Browser tests: a real ``jupyter lab`` on a temporary workspace, driven by Debian's
Chromium through Python Playwright (no browser download).

One JupyterLab server runs for the session; each test gets a fresh page and an empty
scheduler (jobs and runs are deleted through the REST API before it starts).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from lab_support import (  # noqa: F401  (names other modules read from here)
    CHROMIUM,
    CHROMIUM_ARGS,
    EXAMPLES,
    PANEL,
    REPO,
    SCREENSHOTS,
    LabServer,
    open_lab_page,
    running_lab,
)


@pytest.fixture(autouse=True)
def jp_asyncio_loop() -> Iterator[None]:
    """Overrides pytest-jupyter's per-test event loop (autouse, from tests/conftest.py):
    Playwright's sync API runs its own loop here, and closing pytest-jupyter's one at
    teardown fails while Playwright's is running. These tests need no in-process server."""
    yield None


@pytest.fixture(autouse=True)
def jp_server_cleanup() -> Iterator[None]:
    """Overrides pytest-jupyter's in-process server clean-up: there is none here."""
    yield


@pytest.fixture(scope="session")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabServer]:
    with running_lab(tmp_path_factory.mktemp("lab")) as server:
        yield server


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Chromium for one test module. Not session-wide: while Playwright's sync API is
    active it keeps an asyncio loop running in this thread, which would break every
    later test that calls asyncio.run() (the unit and API tests)."""
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium not found at {CHROMIUM}: apt-get install -y chromium")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(lab: LabServer, browser: Any) -> Iterator[Any]:
    """A fresh JupyterLab page (light theme) with an empty scheduler."""
    lab.reset()
    context, page, errors = open_lab_page(lab, browser)
    yield page
    context.close()
    assert not [e for e in errors if "pipeline" in e.lower() or "scheduler" in e.lower()], errors
