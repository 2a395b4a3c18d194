"""Amphi ETL's components panel files: ``.amphi/config.toml`` and ``.amphi/components/``.

The original system serves these for Amphi ETL's components panel; only plain file names
inside the workspace's data folder are accepted.
"""

from __future__ import annotations

from . import workspace
from .settings import SchedulerSettings
from .workers import Workers

COMPONENT_LIMIT = 1024 * 1024


class ComponentFiles:
    def __init__(self, settings: SchedulerSettings, workers: Workers) -> None:
        self.settings = settings
        self.workers = workers

    async def read_config(self) -> str:
        return await self.workers.fs(workspace.read_text, self.settings.amphi_dir / "config.toml")

    async def write_config(self, content: object) -> None:
        text = workspace.check_text(content, "content", COMPONENT_LIMIT)
        await self.workers.fs(workspace.write_text_atomic, self.settings.amphi_dir / "config.toml", text)

    async def save(self, filename: object, content: object) -> str:
        path = workspace.component_path(self.settings.root_dir, filename)
        text = workspace.check_text(content, "content", COMPONENT_LIMIT)
        await self.workers.fs(workspace.write_text_atomic, path, text)
        return path.name

    async def delete(self, filename: object) -> str:
        path = workspace.component_path(self.settings.root_dir, filename)
        await self.workers.fs(workspace.delete_file, path)
        return path.name
