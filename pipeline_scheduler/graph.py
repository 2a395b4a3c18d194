"""The trigger dependency graph: which jobs wait for which.

An edge ``upstream -> dependent`` exists when the dependent is a trigger job with a
condition on the upstream job. Kept in memory, rebuilt from the job definitions at
start-up and after changes made through another server, updated on each change here.
Pure code: no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from .domain import JobDefinition


def _upstream_ids(spec: Mapping[str, Any] | None) -> set[str]:
    if not spec or spec.get("schedule_type") != "trigger":
        return set()
    return {str(c["job_id"]) for c in spec.get("trigger_conditions") or []}


class DependencyGraph:
    def __init__(self) -> None:
        self._dependents: dict[str, set[str]] = {}  # upstream -> dependents
        self._upstream: dict[str, set[str]] = {}  # dependent -> upstream

    def rebuild(self, jobs: Iterable[JobDefinition]) -> None:
        self._dependents, self._upstream = {}, {}
        for job in jobs:
            self.set_job(job.id, job.spec)

    def set_job(self, job_id: str, spec: Mapping[str, Any] | None) -> None:
        """Record a job's own conditions (``spec`` None: the job was deleted)."""
        for upstream in self._upstream.pop(job_id, set()):
            deps = self._dependents.get(upstream)
            if deps is not None:
                deps.discard(job_id)
                if not deps:
                    del self._dependents[upstream]
        upstream_ids = _upstream_ids(spec)
        if upstream_ids:
            self._upstream[job_id] = upstream_ids
            for upstream in upstream_ids:
                self._dependents.setdefault(upstream, set()).add(job_id)
        # The edges to a deleted job's dependents stay: their definitions still name it.

    def dependents_of(self, job_id: str) -> set[str]:
        """The jobs with a condition on ``job_id``."""
        return set(self._dependents.get(job_id, ()))

    def upstream_of(self, job_id: str) -> set[str]:
        """The jobs ``job_id`` has conditions on."""
        return set(self._upstream.get(job_id, ()))

    def would_cycle(self, job_id: str, upstream_ids: Iterable[str]) -> bool:
        """Whether giving ``job_id`` conditions on ``upstream_ids`` closes a cycle: ``job_id``
        would then be upstream of itself."""
        stack = list(upstream_ids)
        seen: set[str] = set()
        while stack:
            current = stack.pop()
            if current == job_id:
                return True
            if current in seen:
                continue
            seen.add(current)
            stack.extend(self._upstream.get(current, ()))
        return False
