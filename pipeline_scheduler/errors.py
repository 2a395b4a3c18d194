"""Typed errors of the scheduler core.

Each error carries the HTTP status it maps to; the one place that turns them into
answers is ``handlers.SchedulerAPIHandler.write_error``. Messages are written for a
person: they say what was wrong and what to do instead.
"""

from __future__ import annotations

import re

# "interval_seconds: must be from 1 to ...": a message that starts with a field name.
_FIELD_PREFIX = re.compile(r"([a-z_][a-z0-9_]*(?:\.[A-Za-z0-9_]+)*): (.+)", re.DOTALL)
# Parts are joined by '; ' before the next field's name, so a '; ' inside one message
# ("minute 61 is out of range; use 0-59.") stays part of it.
_NEXT_FIELD = re.compile(r"; (?=[a-z_][a-z0-9_]*(?:\.[A-Za-z0-9_]+)*: )")


def fields_of(message: str) -> dict[str, str]:
    """The per-field messages of a message made of ``field: text`` parts joined by '; '."""
    fields: dict[str, str] = {}
    for part in _NEXT_FIELD.split(message):
        m = _FIELD_PREFIX.fullmatch(part.strip())
        if not m:
            continue
        # "trigger_conditions.0.on: ..." belongs at the trigger_conditions field.
        name, _, inner = m.group(1).partition(".")
        text = m.group(2)
        if inner:
            index, _, rest = inner.partition(".")
            where = f"item {int(index) + 1}" if index.isdigit() else index
            text = f"{where}{' ' + rest if rest else ''}: {text}"
        fields.setdefault(name, text)
    return fields


class SchedulerError(Exception):
    """Base of every error this package raises on purpose.

    ``fields`` maps request fields to what is wrong with each, so a client places the
    message at the field without parsing text. When not given, it is read from the
    message's ``field: text`` parts (every message about a field starts that way)."""

    status_code = 400

    def __init__(self, message: str, fields: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.fields = fields if fields is not None else fields_of(message)


class InvalidRequestError(SchedulerError, ValueError):
    """The request body or query is malformed or a field is out of range."""


class InvalidScheduleError(InvalidRequestError):
    """The schedule fields do not describe a schedule that can fire."""


class PathNotAllowedError(InvalidRequestError):
    """A file name points outside the workspace, is missing or has a refused extension."""


class JobNotFoundError(SchedulerError, LookupError):
    status_code = 404


class RunNotFoundError(SchedulerError, LookupError):
    status_code = 404


class FileNotFoundInWorkspaceError(SchedulerError, LookupError):
    status_code = 404


class ConflictError(SchedulerError):
    """The request is valid but the current state does not allow it."""

    status_code = 409


class PayloadTooLargeError(SchedulerError):
    status_code = 413


class StoreUnavailableError(SchedulerError):
    """The database cannot be used right now (locked by another process, disk error)."""

    status_code = 503


class TooManyRequestsError(SchedulerError):
    """Called more often than allowed (a job's inbound webhook): 429 with Retry-After."""

    status_code = 429

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class WebhookNotFoundError(SchedulerError, LookupError):
    """A webhook call with an unknown job, a wrong token or a disabled hook: one answer for
    all three, so that a caller learns nothing about which it was."""

    status_code = 404
