"""Failure alerts: a JSON POST to a webhook when a run fails or times out.

Sent from a worker thread with a bounded timeout; a failing webhook is logged and never
blocks or breaks the scheduler.
"""

from __future__ import annotations

import json
import logging
import urllib.request
from typing import Any
from urllib.parse import urlparse

from .errors import InvalidRequestError

WEBHOOK_TIMEOUT_SECONDS = 10.0


def check_webhook_url(url: object, field: str = "webhook_url") -> str:
    if not isinstance(url, str) or len(url) > 2000:
        raise InvalidRequestError(f"{field}: give an http(s) URL.")
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise InvalidRequestError(f"{field}: {url!r} is not an http(s) URL.")
    return url


def post_json(url: str, payload: dict[str, Any], log: logging.Logger) -> bool:
    """POST ``payload``; True on a 2xx answer. Blocking: run it in a thread."""
    request = urllib.request.Request(
        url,
        data=json.dumps(payload).encode(),
        headers={"Content-Type": "application/json", "User-Agent": "amphi-scheduler"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=WEBHOOK_TIMEOUT_SECONDS) as answer:  # noqa: S310
            ok = 200 <= answer.status < 300
            if not ok:
                log.warning("Failure webhook %s answered %s", url, answer.status)
            return ok
    except Exception as err:
        log.warning("Failure webhook %s could not be reached: %s", url, err)
        return False
