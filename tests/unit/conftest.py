"""Fixtures of the unit tests: a real temporary workspace and a real SQLite file.
Coroutines are driven with ``asyncio.run`` (pytest-asyncio is deliberately not used)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline_scheduler.settings import SchedulerSettings

PIPELINES = {
    "ok.py": "print('hello from ok')\n",
    "fail.py": "import sys\nprint('about to fail')\nprint('boom', file=sys.stderr)\nsys.exit(3)\n",
    "slow.py": "import time\ntime.sleep(30)\n",
    "etl/load.py": (
        "import csv\n"
        "with open('data/customers.csv', newline='') as f:\n"
        "    rows = list(csv.DictReader(f))\n"
        "print(f'loaded {len(rows)} customers')\n"
    ),
    "etl/data/customers.csv": "id,name\n1,Ada\n2,Grace\n3,Linus\n",
    "flow.ampln": '{"doc": {"type": "pipeline"}, "pipelines": []}\n',
    "notes.sh": "echo hi\n",
}


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    for rel, text in PIPELINES.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


@pytest.fixture
def settings(tmp_path: Path, workspace: Path) -> SchedulerSettings:
    return SchedulerSettings(
        workspace_dir=str(workspace),
        db_url=f"sqlite:///{tmp_path}/db.sqlite",
        timezone="UTC",
        log_dir=str(tmp_path / "logs"),
        kill_grace_seconds=1.0,
    )
