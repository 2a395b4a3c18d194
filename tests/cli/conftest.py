"""Fixtures of the CLI tests (helpers in cli_support.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from cli_support import Workspace, write_workspace


def _workspace(base: Path) -> Iterator[Workspace]:
    root = base / "workspace"
    root.mkdir(parents=True)
    write_workspace(root)
    space = Workspace(root, base / "home")
    try:
        yield space
    finally:
        space.cleanup()


@pytest.fixture
def workspace(tmp_path: Path) -> Iterator[Workspace]:
    """A fresh workspace; tests start the servers they need."""
    yield from _workspace(tmp_path)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workspace]:
    """A workspace with one ``amphi-scheduler serve`` running, shared by a module."""
    for space in _workspace(tmp_path_factory.mktemp("served")):
        space.serve().start()
        yield space
