"""amphi-scheduler: a pipeline scheduler inside JupyterLab (Jupyter Server extension)."""

from __future__ import annotations

from typing import Any

try:
    from ._version import __version__
except ImportError:  # running from a source tree that was never built
    __version__ = "0.0.0"


def _jupyter_labextension_paths() -> list[dict[str, str]]:
    return [{"src": "labextension", "dest": "@amphi/pipeline-scheduler"}]


def _jupyter_server_extension_points() -> list[dict[str, Any]]:
    from .extension import PipelineSchedulerApp

    return [{"module": "pipeline_scheduler", "app": PipelineSchedulerApp}]
