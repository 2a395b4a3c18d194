"""Job history: what a version of a job's definition holds, what changed between two, and
the answers of ``GET jobs/{id}/versions``.

A version is written by the job service in the transaction that writes the job row:
version 1 with the job, the next one for every change of its definition (an edit, a
replace, a restore, a jobs file applied by the CLI). Pausing, run bookkeeping, a trigger
job's watermark and the refresh of an .ampln job's code when it is run now with newly
generated code are not changes of the definition (the refresh re-snapshots the same file
for that run); an edit that sends new code is one (``python_code`` in its changes).

A version holds what a restore needs, never a secret's value: the names of the secret
variables only (``secret_env_keys``). A restore keeps the job's current secret values, so
restoring never wipes them; a change of secret values is recorded as a change of
``secret_env``, without the values.

Jobs stored before job history have no version rows: their first change records the
definition they had as their current version (by nobody, at their last update), so a
restore can reach it; until then their history answers that definition alone.
"""

from __future__ import annotations

import json
import re
from typing import Any

from . import schedules
from .domain import SPEC_FIELDS, JobDefinition, iso

# Fields of a version's definition besides the spec's, in the order changes list them.
_CODE_FIELDS = ("python_code",)
SECRET_FIELD = "secret_env"
_MAX_AUTHOR = 200
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def definition_of(job: JobDefinition) -> dict[str, Any]:
    """The definition of a job as a version keeps it: name, file, the public spec fields
    (never the derived ``_`` ones), the names of its secrets, the code of an .ampln job."""
    definition: dict[str, Any] = {"name": job.name, "pipeline_path": job.pipeline_path}
    for key in SPEC_FIELDS:
        if key not in definition and job.spec.get(key) is not None:
            definition[key] = job.spec[key]
    definition["secret_env_keys"] = sorted(job.secret_env)
    if job.is_ampln:
        definition["python_code"] = job.python_code
        definition["code_hash"] = job.code_hash
    return definition


def _same(key: str, old: Any, new: Any, zone_name: str) -> bool:
    if old in (None, "", [], {}) and new in (None, "", [], {}):
        return True  # an empty description or env sent by a form is no field set
    if key == "run_date" and isinstance(old, str) and isinstance(new, str) and old != new:
        try:  # '...Z' and '...+00:00' name the same instant
            zone = schedules.zone(zone_name or "UTC")
            return bool(schedules.parse_run_date(old, zone) == schedules.parse_run_date(new, zone))
        except (ValueError, LookupError):
            return False
    return bool(old == new)


def changed_fields(before: JobDefinition, after: JobDefinition) -> list[str]:
    """The fields of the definition that differ, in the order answers list them
    (``secret_env`` when a secret variable was added, removed or given a new value)."""
    old, new = definition_of(before), definition_of(after)
    zone_name = str(new.get("timezone") or old.get("timezone") or "UTC")
    changes = [
        key for key in (*SPEC_FIELDS, *_CODE_FIELDS) if not _same(key, old.get(key), new.get(key), zone_name)
    ]
    if before.secret_env != after.secret_env:
        changes.append(SECRET_FIELD)
    return changes


def version_row(
    job: JobDefinition,
    *,
    created_at: float,
    author: str,
    changes: list[str],
    restored_from: int | None = None,
    backfill: bool = False,
) -> dict[str, Any]:
    """The row of ``job``'s current version (``job.version``) for the store."""
    row: dict[str, Any] = {
        "job_id": job.id,
        "version": job.version,
        "created_at": created_at,
        "author": clean_author(author),
        "definition": json.dumps(definition_of(job)),
        "changes": json.dumps(changes),
        "restored_from": restored_from,
    }
    if backfill:
        row["backfill"] = True
    return row


def current_row(job: JobDefinition) -> dict[str, Any]:
    """The version row of a job stored before job history: its definition as it is now,
    by nobody known, at its last update."""
    return version_row(job, created_at=job.updated_at, author="", changes=[], backfill=True)


def clean_author(author: str) -> str:
    """Who made a change, as one line of at most 200 characters."""
    return _CONTROL.sub(" ", author or "").strip()[:_MAX_AUTHOR]


def answer(row: dict[str, Any], *, with_code: bool) -> dict[str, Any]:
    """A version row as ``GET jobs/{id}/versions`` answers it (the list leaves an .ampln
    job's code out; the one version's answer has it)."""
    definition = json.loads(row["definition"])
    if not with_code:
        definition.pop("python_code", None)
    return {
        "version": row["version"],
        "created_at": iso(row["created_at"]),
        "author": row["author"] or None,
        "changes": json.loads(row["changes"]),
        "restored_from": row.get("restored_from"),
        "definition": definition,
    }


def restore_fields(row: dict[str, Any], current: JobDefinition) -> dict[str, Any]:
    """The JobSpec fields that make ``current`` what version ``row`` was: its definition,
    with the job's current secret values and paused state (neither is part of a version)."""
    fields = json.loads(row["definition"])
    fields.pop("secret_env_keys", None)
    fields.pop("code_hash", None)
    fields["paused"] = current.paused
    if current.secret_env:
        fields[SECRET_FIELD] = current.secret_env
    return fields


def restored_code_hash(row: dict[str, Any]) -> str | None:
    """The hash of the .ampln text the restored code was generated from (so the job says
    whether the pipeline changed since that code, not since the restore)."""
    value = json.loads(row["definition"]).get("code_hash")
    return value if isinstance(value, str) else None
