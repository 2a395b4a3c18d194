"""The job list (``GET jobs``) kept in memory between calls, rendered as JSON text.

Each call reads only the jobs written since the previous one (every write to a job row
takes the next value of a change counter, ``seq``), plus every next fire time and active
run; each job's answer is kept as JSON text and rebuilt only when something it shows
changed; when nothing changed, the whole answer is reused.
"""

from __future__ import annotations

import asyncio
import bisect
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .answers import JobAnswers
from .domain import JobDefinition
from .store import ActiveRunHead, JobHead, JobListingChanges


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
    active: ActiveRunHead | None = None
    names_version: int = -1


def _order_key(head: JobHead) -> tuple[float, str]:
    return (-head.created_at, head.id)  # newest first


class JobListing:
    """The job list, kept in memory and refreshed from the database by what changed (the
    jobs' ``seq`` change counter), so that ``GET jobs`` with 10,000 jobs reads and renders
    only the jobs written since the last call."""

    def __init__(self, answers: JobAnswers) -> None:
        self.answers = answers
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
        self.active_runs: dict[str, ActiveRunHead] = {}
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

    def reusable(self, changes: JobListingChanges) -> str | None:
        """The last answer, when nothing it shows can have changed."""
        if (
            self.answer is not None
            and not self.has_ampln
            and changes.next_runs == self.next_runs
            and changes.active_runs == self.active_runs
        ):
            return self.answer
        return None

    def take_definitions(self, jobs: list[JobDefinition]) -> None:
        """Read again the static part of jobs edited since (blocking work: a file thread)."""
        for job in jobs:
            entry = self.jobs.get(job.id)
            if entry is None:
                continue
            entry.static, entry.tz = self.answers.static(job)
            entry.static_at, entry.prefix, entry.fragment = job.updated_at, None, None
            entry.trigger = entry.static.get("schedule_type") == "trigger"
            entry.ampln = job.is_ampln

    def render(self, next_runs: Mapping[str, float | None], active_runs: Mapping[str, ActiveRunHead]) -> str:
        """``{"jobs": [...]}`` newest first, re-rendering only the jobs whose answer changed
        (blocking work: a file thread; .ampln answers read the pipeline's hash)."""
        names: dict[str, str] | None = None
        parts = []
        has_ampln = False
        for _, job_id in self.order:
            e = self.jobs[job_id]
            if e.static is None:  # deleted before its definition was read
                continue
            has_ampln = has_ampln or e.ampln
            nxt, act = next_runs.get(job_id), active_runs.get(job_id)
            if (
                e.fragment is None
                or e.next_run != nxt
                or e.active != act
                or e.ampln
                or (e.trigger and e.names_version != self.names_version)
            ):
                if e.trigger:  # its description names other jobs
                    if names is None:
                        names = {k: v.head.name for k, v in self.jobs.items()}
                    e.fragment = json.dumps(self.answers.live(e.static, e.tz, e.head, nxt, act, names))
                else:
                    if e.prefix is None:
                        e.prefix = json.dumps(e.static)[:-1]
                    moving = json.dumps(self.answers.moving(e.static, e.tz, e.head, nxt, act))
                    e.fragment = f"{e.prefix}, {moving[1:]}"
                e.next_run, e.active, e.names_version = nxt, act, self.names_version
            parts.append(e.fragment)
        self.answer = '{"jobs": [' + ", ".join(parts) + "]}"
        self.next_runs = dict(next_runs)
        self.active_runs = dict(active_runs)
        self.has_ampln = has_ampln
        return self.answer
