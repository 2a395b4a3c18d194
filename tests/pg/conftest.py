"""Fixtures of the PostgreSQL tests: one throw-away PostgreSQL server per session
(``pg_server.py``), a fresh database per test, and a ``settings`` fixture parametrized
over SQLite and PostgreSQL, so the store and service tests run against both.

The tests of this folder carry the ``postgres`` marker. When PostgreSQL is not installed
(``make test`` installs Debian's ``postgresql`` package first) their PostgreSQL cases are
skipped with the reason, unless ``AMPHI_REQUIRE_POSTGRES=1`` (CI sets it through
``make test``) turns that into a failure.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

HERE = Path(__file__).absolute().parent
for folder in (HERE, HERE.parent / "unit", HERE.parent / "api"):
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))

import importlib.util  # noqa: E402

from pg_server import PostgresServer, postgres_bin  # noqa: E402

from pipeline_scheduler.settings import SchedulerSettings  # noqa: E402

# The unit tests' workspace (a real folder of tiny pipelines), loaded from their conftest.
_spec = importlib.util.spec_from_file_location("unit_conftest", HERE.parent / "unit" / "conftest.py")
assert _spec is not None and _spec.loader is not None
_unit_conftest = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_unit_conftest)
workspace = _unit_conftest.workspace


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if str(item.path).startswith(str(HERE)):
            item.add_marker(pytest.mark.postgres)


@pytest.fixture(scope="session")
def pg() -> Iterator[PostgresServer]:
    bin_dir = postgres_bin()
    if bin_dir is None:
        message = "PostgreSQL is not installed (apt-get install postgresql; make test does it)"
        if os.environ.get("AMPHI_REQUIRE_POSTGRES") == "1":
            pytest.fail(message)
        pytest.skip(message)
    server = PostgresServer(bin_dir).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/db.sqlite"
    server: PostgresServer = request.getfixturevalue("pg")
    return server.create_database()


@pytest.fixture
def pg_url(pg: PostgresServer) -> str:
    """A fresh PostgreSQL database (the tests that only make sense there)."""
    return pg.create_database()


@pytest.fixture
def settings(tmp_path: Path, workspace: Path, db_url: str) -> SchedulerSettings:
    return SchedulerSettings(
        workspace_dir=str(workspace),
        db_url=db_url,
        timezone="UTC",
        log_dir=str(tmp_path / "logs"),
        kill_grace_seconds=1.0,
    )
