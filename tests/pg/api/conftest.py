"""The REST API tests' fixtures (tests/api/conftest.py: a real in-process Jupyter server
with the extension, through ``jp_fetch``), with the scheduler's database parametrized over
SQLite and PostgreSQL (a fresh database of this session's throw-away server)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).absolute().parent
_spec = importlib.util.spec_from_file_location("api_conftest", HERE.parents[1] / "api" / "conftest.py")
assert _spec is not None and _spec.loader is not None
_api_conftest = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_api_conftest)

workspace = _api_conftest.workspace
api = _api_conftest.api
scheduler_app = _api_conftest.scheduler_app
jp_server_config = _api_conftest.jp_server_config
figure = _api_conftest.figure


@pytest.fixture
def extension_config(db_url: str) -> dict[str, Any]:
    return {"timezone": "UTC", "db_url": db_url}
