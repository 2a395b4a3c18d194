"""The Jupyter Server extension: configuration and wiring.

Every setting is a trait of ``settings.SchedulerSettings``, defined there once; the
extension app inherits them, so they are read from ``jupyter_server_config.py``
(``c.PipelineSchedulerApp.timezone = "Europe/Paris"``) and from the command line
(``--PipelineSchedulerApp.max_concurrent_runs=4``), and hands the core a copy.
"""

from __future__ import annotations

from typing import Any

from jupyter_server.extension.application import ExtensionApp

from . import schedules
from .app import SchedulerService
from .handlers import route_table
from .settings import SchedulerSettings


class PipelineSchedulerApp(ExtensionApp, SchedulerSettings):
    """Schedules pipelines (.py, .ipynb, Amphi .ampln) and runs them as subprocesses."""

    name = "pipeline_scheduler"
    load_other_extensions = True

    def scheduler_settings(self) -> SchedulerSettings:
        """The core's settings: this app's traits, with the workspace defaulting to the
        server's root_dir."""
        assert self.serverapp is not None
        return SchedulerSettings.of(self, workspace_dir=self.workspace_dir or str(self.serverapp.root_dir))

    def initialize_settings(self) -> None:
        settings = self.scheduler_settings()
        schedules.zone(settings.zone_name)  # fail at start-up on a bad zone
        self.service = SchedulerService(settings, log=self.log)
        self.settings["pipeline_scheduler_service"] = self.service

    def initialize_handlers(self) -> None:
        self.handlers.extend(route_table())

    async def _start_jupyter_server_extension(self, serverapp: Any) -> None:
        await self.service.ensure_started()
        self.log.info(
            "amphi-scheduler: workspace %s, database %s, scheduler %s",
            self.service.settings.root_dir,
            self.service.settings.database_url,
            "active" if self.service.is_active else "standby",
        )

    async def stop_extension(self) -> None:
        await self.service.stop()
