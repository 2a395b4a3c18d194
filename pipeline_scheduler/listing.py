"""The job list (``GET jobs``) kept in memory between calls."""

from __future__ import annotations

import asyncio
import bisect
from dataclasses import dataclass
from typing import Any

from .store import JobHead, JobListingChanges


@dataclass
class _Listed:
    """One job in the in-memory job list (see ``JobListing``)."""

    head: JobHead
    static: dict[str, Any] | None = None  # the part of its answer that only an edit changes
    static_at: float | None = None  # head.updated_at when ``static`` was read
    tz: Any = None
    trigger: bool = False  # its description names other jobs
    ampln: bool = False  # its answer says whether the pipeline file changed
    prefix: str | None = None  # JSON of ``static`` without its closing brace
    fragment: str | None = None  # JSON of its whole answer, rendered with:
    next_run: float | None = None
    names_version: int = -1


def _order_key(head: JobHead) -> tuple[float, str]:
    return (-head.created_at, head.id)  # newest first


class JobListing:
    """The job list, kept in memory and refreshed from the database by what changed (the
    jobs' ``seq`` change counter), so that ``GET jobs`` with 10,000 jobs reads and renders
    only the jobs written since the last call."""

    def __init__(self) -> None:
        self.seq: int | None = None  # None: read every job next time
        self.order: list[tuple[float, str]] = []
        self.jobs: dict[str, _Listed] = {}
        self.lock = asyncio.Lock()
        # Bumped when a job's name changes or a job goes: trigger jobs' descriptions name others.
        self.names_version = 0
        # The last answer, and the next fire times and .ampln flag it was rendered with:
        # reused as is while nothing changed.
        self.answer: str | None = None
        self.next_runs: dict[str, float | None] = {}
        self.has_ampln = False

    def apply(self, changes: JobListingChanges) -> bool:
        """Take in changes; answer False when jobs were deleted since the last read (fewer
        jobs than known): the caller then reads the whole list."""
        if changes.full:
            old, self.jobs = self.jobs, {}
            for head in changes.heads:
                self.jobs[head.id] = self._updated(old.get(head.id), head)
            self.order = [_order_key(h) for h in changes.heads]
            self.names_version += 1
            self.answer = None
        else:
            for head in changes.heads:
                entry = self.jobs.get(head.id)
                if entry is None:
                    bisect.insort(self.order, _order_key(head))
                self.jobs[head.id] = self._updated(entry, head)
            if len(self.jobs) != changes.count:
                self.seq = None
                return False
        self.seq = changes.seq
        return True

    def _updated(self, entry: _Listed | None, head: JobHead) -> _Listed:
        if entry is None:
            self.answer = None
            return _Listed(head)
        if entry.head != head:
            if entry.head.name != head.name:
                self.names_version += 1
            entry.head, entry.fragment, self.answer = head, None, None
        return entry

    def stale(self) -> list[str]:
        """Jobs whose definition changed since it was read (or that were never read)."""
        return [e.head.id for e in self.jobs.values() if e.static_at != e.head.updated_at]

    def reusable(self, next_runs: dict[str, float | None]) -> str | None:
        """The last answer, when nothing it shows can have changed."""
        if self.answer is not None and not self.has_ampln and next_runs == self.next_runs:
            return self.answer
        return None
