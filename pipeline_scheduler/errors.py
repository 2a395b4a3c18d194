"""Typed errors of the scheduler core.

Each error carries the HTTP status it maps to; the one place that turns them into
answers is ``handlers.SchedulerAPIHandler.write_error``. Messages are written for a
person: they say what was wrong and what to do instead.
"""

from __future__ import annotations


class SchedulerError(Exception):
    """Base of every error this package raises on purpose."""

    status_code = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


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
