"""Shared test set-up. pytest-jupyter's fixtures (jp_fetch, jp_serverapp, ...) come from
the plugin below; API tests configure the extension through ``jp_server_config``."""

from __future__ import annotations

pytest_plugins = ("pytest_jupyter.jupyter_server",)
