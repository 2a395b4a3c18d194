"""Debian's Chromium as the browser tests and the UI benchmarks launch it (nothing downloads
a browser of its own): where it is, and the arguments that make it start quickly and
quietly in a container (no sandbox, no GPU, no background network or updates)."""

from __future__ import annotations

import os

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
