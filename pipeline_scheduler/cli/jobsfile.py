"""Jobs as code: ``export`` writes every job definition as YAML a person can review;
``import`` makes the server's jobs match such a file.

The file holds definitions only: no history, no derived fields (next_run_time, last_run,
created_at...), and secrets by name (``secret_env_keys``). Import checks the whole file
first (local checks of every field, each schedule through ``POST schedule/preview``, each
pipeline file through the Jupyter contents API) and changes nothing when any job has a
problem. Jobs are matched by ``id``, or by ``name`` for a job written without one; a job
whose definition equals the server's is left alone (so importing twice changes nothing,
not even ``updated_at``). A field the file leaves out keeps the server's value (a new job
gets the server's default); ``field: null`` clears it.
"""

from __future__ import annotations

import functools
import json
import re
import sys
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import quote

import yaml

from .. import domain
from .client import ApiError, CLIError, SchedulerClient
from .output import Output

FORMAT_VERSION = 1
# Definition fields, in the order a file lists them. Everything else a Job answer holds is
# derived (or history) and stays out of the file.
_LEADING_FIELDS = ("id", "name", "description", "pipeline_path", "paused")
SPEC_FIELDS = (
    *_LEADING_FIELDS,
    *(f for f in domain.SPEC_FIELDS if f not in _LEADING_FIELDS),
    "secret_env_keys",  # names only: a file never holds a secret's value
    "python_code",
)
DERIVED_FIELDS = {
    "next_run_time",
    "trigger",
    "schedule_description",
    "last_run",
    "created_at",
    "updated_at",
    "code_hash",
    "pipeline_changed",
    "active_run",
    "webhook_enabled",  # a webhook is enabled through the API, its token shown once
}
# The schedule fields, and the two that every schedule has.
ALL_SCHEDULE_FIELDS = set(domain.ALL_SCHEDULE_FIELDS) | {"schedule_type", "timezone"}
SCHEDULE_FIELDS = domain.SCHEDULE_FIELDS


@dataclass(frozen=True)
class _FieldRules:
    """Types, ranges, choices and patterns of the JobSpec fields."""

    integers: dict[str, tuple[int, int]]
    texts: frozenset[str]
    booleans: frozenset[str]
    choices: dict[str, tuple[str, ...]]
    job_id: re.Pattern[str]
    env_name: re.Pattern[str]


@functools.cache
def _field_rules() -> _FieldRules:
    """The rules of the request model the server validates with (its JSON schema), so a
    file is checked against the same ranges and choices. Imported on first use: pydantic
    would add a quarter of a second to every other command."""
    from ..models import JobSpecInput

    rules: dict[str, dict[str, Any]] = {}
    for name, prop in JobSpecInput.model_json_schema()["properties"].items():
        variants = [v for v in prop.get("anyOf", [prop]) if v.get("type") != "null"]
        if variants:
            rules[name] = variants[0]
    return _FieldRules(
        integers={n: (r["minimum"], r["maximum"]) for n, r in rules.items() if r.get("type") == "integer"},
        # (the id has its own check, with its own message)
        texts=frozenset(n for n, r in rules.items() if r.get("type") == "string" and "enum" not in r)
        - {"id"},
        booleans=frozenset(n for n, r in rules.items() if r.get("type") == "boolean"),
        choices={n: tuple(r["enum"]) for n, r in rules.items() if "enum" in r},
        job_id=re.compile(rules["id"]["pattern"]),
        env_name=re.compile(rules["env"]["propertyNames"]["pattern"]),
    )


# -- export -------------------------------------------------------------------------------
def definition(job: dict[str, Any]) -> dict[str, Any]:
    """The reviewable definition of a Job answer: spec fields with a value, in order."""
    found: dict[str, Any] = {}
    for name in SPEC_FIELDS:
        value = job.get(name)
        if name == "paused":
            found[name] = bool(value)
        elif value is None or value == "" or value == {} or value == []:
            continue
        elif name == "trigger_conditions":
            found[name] = [{"job_id": c.get("job_id"), "on": c.get("on")} for c in value]
        else:
            found[name] = value
    applies = SCHEDULE_FIELDS.get(str(job.get("schedule_type")), ())
    for name in ALL_SCHEDULE_FIELDS - {"schedule_type", "timezone"} - set(applies):
        found.pop(name, None)
    return found


def fetch_definitions(client: SchedulerClient, out: Output) -> list[dict[str, Any]]:
    jobs = list(client.get("jobs")["jobs"])
    jobs.reverse()  # oldest first: the order they were made, upstream jobs usually first
    result = []
    for job in _progress(out, jobs, "reading jobs"):
        if str(job.get("pipeline_path", "")).lower().endswith(".ampln") and "python_code" not in job:
            job = client.get(f"jobs/{quote(str(job['id']), safe='')}")  # the list omits the code
        result.append(definition(job))
    return result


class _Dumper(yaml.SafeDumper):
    pass


def _text(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _text)


def export_text(definitions: list[dict[str, Any]], source: str, with_ids: bool) -> str:
    if not with_ids:
        names = {d["id"]: d["name"] for d in definitions}
        counts: dict[str, int] = {}
        for d in definitions:
            counts[d["name"]] = counts.get(d["name"], 0) + 1
        duplicated = sorted(n for n, c in counts.items() if c > 1)
        if duplicated:
            raise CLIError(
                f"--no-ids: job names must be unique to be the key; repeated: {', '.join(duplicated)}"
            )
        stripped = []
        for d in definitions:
            d = {k: v for k, v in d.items() if k != "id"}
            if "trigger_conditions" in d:
                d["trigger_conditions"] = [
                    {"job_id": names.get(c["job_id"], c["job_id"]), "on": c["on"]}
                    for c in d["trigger_conditions"]
                ]
            stripped.append(d)
        definitions = stripped
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    header = (
        f"# amphi-scheduler jobs, exported from {source} on {stamp}.\n"
        "# Definitions only (no history); secrets by name only (secret_env_keys).\n"
        "# Apply with: amphi-scheduler import <this file> [--dry-run] [--prune]\n"
    )
    body = yaml.dump(
        {"version": FORMAT_VERSION, "jobs": definitions},
        Dumper=_Dumper,
        sort_keys=False,
        allow_unicode=True,
        width=100,
    )
    return header + body


def export_command(args: Any, client: SchedulerClient, out: Output) -> int:
    definitions = fetch_definitions(client, out)
    if out.json_mode:
        document: Any = {"version": FORMAT_VERSION, "jobs": definitions}
        text = json.dumps(document, indent=2, ensure_ascii=False) + "\n"
    else:
        text = export_text(definitions, client.address.url, with_ids=not args.no_ids)
    if args.output and args.output != "-":
        Path(args.output).write_text(text, encoding="utf-8")
        out.note(f"Wrote {len(definitions)} jobs to {args.output}")
    else:
        sys.stdout.write(text)
    return 0


# -- import: reading and checking ---------------------------------------------------------
@dataclass
class Problem:
    job: str
    field: str
    message: str


@dataclass
class Entry:
    index: int
    spec: dict[str, Any]
    label: str
    target_id: str = ""  # the server id this entry is (or will be) stored under
    current: dict[str, Any] | None = None  # the server's definition, when the job exists
    action: str = ""
    changed: list[str] = field(default_factory=list)


def load_file(path: str) -> list[Any]:
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
    except OSError as err:
        raise CLIError(f"{path}: {err.strerror or err}") from None
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise CLIError(f"{path}: not valid YAML: {err}") from None
    if isinstance(document, dict):
        version = document.get("version", FORMAT_VERSION)
        if version != FORMAT_VERSION:
            raise CLIError(f"{path}: version {version!r} is not supported (this CLI reads {FORMAT_VERSION}).")
        jobs = document.get("jobs")
        if jobs is None:
            jobs = []
    else:
        jobs = document
    if not isinstance(jobs, list):
        raise CLIError(f"{path}: expected a list of jobs under 'jobs:'.")
    return jobs


def _label(raw: Any, index: int) -> str:
    if isinstance(raw, dict):
        for key in ("name", "id"):
            if isinstance(raw.get(key), str) and raw[key]:
                return f"#{index + 1} {raw[key]!r}"
    return f"#{index + 1}"


def check_fields(raw: Any, index: int, allowed_extensions: list[str]) -> tuple[dict[str, Any], list[Problem]]:
    """Local checks of one job's fields: required ones, types, ranges, names."""
    label = _label(raw, index)
    problems: list[Problem] = []

    def bad(name: str, message: str) -> None:
        problems.append(Problem(label, name, message))

    if not isinstance(raw, dict):
        bad("(job)", "each job must be a mapping of field: value")
        return {}, problems
    spec: dict[str, Any] = {}
    for name, value in raw.items():
        if name in DERIVED_FIELDS:
            continue  # derived: a file made from API answers may carry them; ignored
        if name not in SPEC_FIELDS:
            bad(str(name), "unknown field")
            continue
        spec[name] = value
    rules = _field_rules()
    for name, value in spec.items():
        if value is None:
            continue
        if name in rules.texts and not isinstance(value, str):
            bad(name, f"must be text, not {value!r}")
        elif name in rules.booleans and not isinstance(value, bool):
            bad(name, f"must be true or false, not {value!r}")
        elif name in rules.integers:
            low, high = rules.integers[name]
            if isinstance(value, bool) or not isinstance(value, int):
                bad(name, f"must be a whole number, not {value!r}")
            elif not low <= value <= high:
                bad(name, f"must be from {low} to {high}, not {value}")
        elif name in rules.choices and value not in rules.choices[name]:
            bad(name, f"must be one of {', '.join(rules.choices[name])}, not {value!r}")
        elif name in ("env", "parameters"):
            if not isinstance(value, dict):
                bad(name, "must be a mapping NAME: value")
                continue
            for key, item in value.items():
                if not isinstance(key, str) or not rules.env_name.fullmatch(key):
                    bad(name, f"{key!r} is not a variable name (letters, digits, '_')")
                elif name == "env" and not isinstance(item, str):
                    bad(name, f"the value of {key} must be text (quote it), not {item!r}")
                elif name == "parameters" and not isinstance(item, str | int | float | bool):
                    bad(name, f"the value of {key} must be text, a number or true/false")
        elif name == "secret_env_keys":
            if not isinstance(value, list) or not all(isinstance(k, str) for k in value):
                bad(name, "must be a list of variable names")
        elif name == "id" and not (isinstance(value, str) and rules.job_id.fullmatch(value)):
            bad(name, "use 1-100 letters, digits, '_', '-' or '.', starting with a letter or digit")
    for name in ("name", "pipeline_path", "schedule_type"):
        if not spec.get(name):
            bad(name, "required")
    path = spec.get("pipeline_path")
    if isinstance(path, str) and path:
        pure = PurePosixPath(path)
        if pure.is_absolute() or ".." in pure.parts or "\\" in path or path.startswith("~"):
            bad("pipeline_path", "must be a path inside the workspace, relative to it")
        elif allowed_extensions and pure.suffix.lower() not in allowed_extensions:
            bad("pipeline_path", f"the server runs only {', '.join(allowed_extensions)} files")
        if path.lower().endswith(".ampln") and not spec.get("python_code"):
            bad("python_code", "required for an .ampln pipeline (its generated code)")
    kind = spec.get("schedule_type")
    if kind == "date":
        date_type = spec.get("date_type")
        if not date_type:
            bad("date_type", "required with schedule_type date")
        elif date_type != "every_x_days" and not spec.get("run_date"):
            bad("run_date", f"required with date_type {date_type}")
        elif date_type == "every_x_days" and not spec.get("interval_days"):
            bad("interval_days", "required with date_type every_x_days")
    elif kind in ("interval", "cron"):
        needed = SCHEDULE_FIELDS[kind][0]
        if spec.get(needed) in (None, ""):
            bad(needed, f"required with schedule_type {kind}")
    elif kind == "file":
        if not spec.get("watch_path"):
            bad("watch_path", "required with schedule_type file: a glob such as data/incoming/*.csv")
    elif kind == "trigger":
        conditions = spec.get("trigger_conditions")
        if not isinstance(conditions, list) or not conditions:
            bad("trigger_conditions", "required with schedule_type trigger: a list of {job_id, on}")
        else:
            for number, condition in enumerate(conditions, 1):
                if (
                    not isinstance(condition, dict)
                    or not isinstance(condition.get("job_id"), str)
                    or condition.get("on", "success") not in ("success", "failure")
                ):
                    bad(
                        "trigger_conditions",
                        f"condition {number} must be {{job_id: <id or name>, on: success|failure}}",
                    )
    return spec, problems


def _field_of(message: str, fallback: str) -> str:
    head = message.split(":", 1)[0].strip()
    return head if re.fullmatch(r"[a-z_]+(\.[a-z0-9_]+)*", head) else fallback


def server_problems(client: SchedulerClient, entry: Entry) -> list[Problem]:
    """The server's own checks that change nothing: the schedule (preview) and the file."""
    problems: list[Problem] = []
    spec = entry.spec
    kind = spec.get("schedule_type")
    if kind in ("date", "interval", "cron"):
        body = {k: v for k, v in spec.items() if k in ALL_SCHEDULE_FIELDS and v is not None}
        try:
            client.post("schedule/preview", body)
        except ApiError as err:
            if err.fields:
                problems += [Problem(entry.label, str(k), str(v)) for k, v in err.fields.items()]
            else:
                problems.append(Problem(entry.label, _field_of(err.message, "schedule"), err.message))
    path = spec.get("pipeline_path")
    if isinstance(path, str) and path:
        try:
            client.request("GET", f"api/contents/{quote(path)}?content=0", prefix="")
        except ApiError as err:
            if err.status == 404:
                problems.append(Problem(entry.label, "pipeline_path", f"no file {path!r} in the workspace"))
    return problems


# -- import: planning ---------------------------------------------------------------------
def _instant(value: Any) -> Any:
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
            return moment.timestamp() if moment.tzinfo else moment.isoformat()
        except ValueError:
            return value.strip()
    return value


def _comparable(name: str, value: Any) -> Any:
    if value in (None, "", {}, []):
        return None
    if name == "run_date":
        return _instant(value)
    if name == "trigger_conditions":
        return sorted((c["job_id"], c.get("on", "success")) for c in value)
    if name == "logical_operator" and isinstance(value, str):
        return value.upper()
    if isinstance(value, str) and name != "python_code":
        return value.strip()
    return value


def differences(desired: dict[str, Any], current: dict[str, Any]) -> list[str]:
    changed = []
    for name, value in desired.items():
        if name in ("id", "secret_env_keys"):
            continue
        if _comparable(name, value) != _comparable(name, current.get(name)):
            changed.append(name)
    if (
        "schedule_type" in desired
        and desired.get("schedule_type") == "trigger"
        and "logical_operator" not in desired
    ):
        if current.get("logical_operator", "OR") != "OR":
            changed.append("logical_operator")
    return changed


def _order(entries: list[Entry], by_ref: dict[str, Entry]) -> list[Entry]:
    """Upstream jobs first (a trigger names jobs that must already exist)."""
    ordered: list[Entry] = []
    state: dict[int, int] = {}

    def visit(entry: Entry) -> None:
        if state.get(entry.index) == 2:
            return
        state[entry.index] = 1
        for condition in entry.spec.get("trigger_conditions") or []:
            upstream = by_ref.get(condition["job_id"])
            if upstream is not None and state.get(upstream.index) != 1:
                visit(upstream)
        state[entry.index] = 2
        ordered.append(entry)

    for entry in entries:
        visit(entry)
    return ordered


def _cycle_problems(entries: list[Entry], by_ref: dict[str, Entry]) -> list[Problem]:
    problems = []
    for entry in entries:
        seen: set[int] = set()
        stack = [entry]
        while stack:
            current = stack.pop()
            for condition in current.spec.get("trigger_conditions") or []:
                upstream = by_ref.get(condition["job_id"])
                if upstream is None:
                    continue
                if upstream.index == entry.index:
                    problems.append(Problem(entry.label, "trigger_conditions", "the triggers form a cycle"))
                    stack = []
                    break
                if upstream.index not in seen:
                    seen.add(upstream.index)
                    stack.append(upstream)
    return problems


@dataclass
class Plan:
    entries: list[Entry]
    deletions: list[dict[str, Any]]
    warnings: list[str]

    def summary(self) -> dict[str, Any]:
        def brief(e: Entry) -> dict[str, Any]:
            item = {"id": e.target_id, "name": e.spec.get("name")}
            return {**item, "fields": e.changed} if e.action == "update" else item

        return {
            "create": [brief(e) for e in self.entries if e.action == "create"],
            "update": [brief(e) for e in self.entries if e.action == "update"],
            "delete": [{"id": j["id"], "name": j.get("name")} for j in self.deletions],
            "unchanged": [brief(e) for e in self.entries if e.action == "unchanged"],
            "warnings": self.warnings,
        }


def make_plan(client: SchedulerClient, raw_jobs: list[Any], prune: bool, out: Output) -> Plan:
    config = client.get("config")
    allowed = [str(e).lower() for e in config.get("allowed_extensions") or []]
    problems: list[Problem] = []
    entries: list[Entry] = []
    for index, raw in enumerate(raw_jobs):
        spec, found = check_fields(raw, index, allowed)
        problems += found
        entries.append(Entry(index, spec, _label(raw, index)))

    server_jobs = list(client.get("jobs")["jobs"])
    by_id = {j["id"]: j for j in server_jobs}
    # Match each entry with a server job: by id, else by name.
    claimed: set[str] = set()
    for entry in entries:
        job_id, name = entry.spec.get("id"), entry.spec.get("name")
        if isinstance(job_id, str) and job_id:
            entry.target_id = job_id
            if job_id in by_id:
                entry.current = by_id[job_id]
        elif isinstance(name, str) and name:
            same = [j for j in server_jobs if j.get("name") == name]
            if len(same) > 1:
                problems.append(
                    Problem(
                        entry.label, "name", f"{len(same)} server jobs have this name; give the job its id"
                    )
                )
            elif same:
                entry.current, entry.target_id = same[0], same[0]["id"]
            else:
                entry.target_id = f"job_{uuid.uuid4().hex[:16]}"
        if entry.target_id in claimed:
            problems.append(
                Problem(entry.label, "id", f"another job of the file is also {entry.target_id!r}")
            )
        claimed.add(entry.target_id)

    # References of triggers: a job of the file (by id or name) or one on the server.
    by_ref: dict[str, Entry] = {}
    for entry in entries:
        for key in (entry.spec.get("id"), entry.spec.get("name")):
            if isinstance(key, str) and key:
                by_ref.setdefault(key, entry)
    server_by_name: dict[str, list[str]] = {}
    for job in server_jobs:
        server_by_name.setdefault(str(job.get("name")), []).append(job["id"])
    for entry in entries:
        conditions = entry.spec.get("trigger_conditions")
        if entry.spec.get("schedule_type") != "trigger" or not isinstance(conditions, list):
            continue
        resolved = []
        for condition in conditions:
            if not isinstance(condition, dict) or not isinstance(condition.get("job_id"), str):
                break
            ref = condition["job_id"]
            upstream = by_ref.get(ref)
            if upstream is not None:
                target = upstream.target_id
            elif ref in by_id:
                target = ref
            elif len(server_by_name.get(ref, [])) == 1:
                target = server_by_name[ref][0]
            else:
                problems.append(
                    Problem(entry.label, "trigger_conditions", f"no job {ref!r} in the file or on the server")
                )
                continue
            if prune and upstream is None and target not in claimed:
                problems.append(
                    Problem(
                        entry.label,
                        "trigger_conditions",
                        f"{ref!r} is not in the file, so --prune deletes it",
                    )
                )
            resolved.append({"job_id": target, "on": condition.get("on", "success")})
        else:
            entry.spec["trigger_conditions"] = resolved
    problems += _cycle_problems(entries, by_ref)

    for entry in _progress(out, entries, "checking jobs"):
        if not any(p.job == entry.label for p in problems):
            problems += server_problems(client, entry)
    if problems:
        raise ImportProblemsError(problems)

    warnings: list[str] = []
    for entry in entries:
        if entry.current is None:
            entry.action = "create"
        else:
            if str(entry.current.get("pipeline_path", "")).lower().endswith(".ampln"):
                entry.current = client.get(f"jobs/{quote(entry.target_id, safe='')}")
            assert entry.current is not None
            entry.changed = differences(entry.spec, definition(entry.current))
            entry.action = "update" if entry.changed else "unchanged"
        wanted = set(entry.spec.get("secret_env_keys") or [])
        have = set((entry.current or {}).get("secret_env_keys") or [])
        if wanted - have:
            warnings.append(
                f"{entry.label}: set its secrets {', '.join(sorted(wanted - have))} with "
                f"amphi-scheduler jobs edit {entry.target_id} --secret NAME=VALUE"
            )
    deletions = [j for j in server_jobs if j["id"] not in claimed] if prune else []
    return Plan(_order(entries, by_ref), deletions, warnings)


class ImportProblemsError(CLIError):
    def __init__(self, problems: list[Problem]) -> None:
        lines = "\n".join(f"  {p.job}: {p.field}: {p.message}" for p in problems)
        super().__init__(f"the file has {len(problems)} problem(s); nothing was changed:\n{lines}")
        self.problems = problems


# -- import: applying ---------------------------------------------------------------------
def _update_body(entry: Entry) -> dict[str, Any]:
    body = {k: entry.spec.get(k) for k in entry.changed}
    if any(k in ALL_SCHEDULE_FIELDS for k in entry.changed):
        # A schedule is sent whole: the server drops the fields another type used.
        applies = (
            "schedule_type",
            "timezone",
            *SCHEDULE_FIELDS.get(str(entry.spec.get("schedule_type")), ()),
        )
        body.update({k: entry.spec[k] for k in applies if k in entry.spec})
    return body


def apply_plan(client: SchedulerClient, plan: Plan, out: Output) -> None:
    steps = [e for e in plan.entries if e.action in ("create", "update")]
    done: list[str] = []
    try:
        for entry in _progress(out, steps, "importing"):
            if entry.action == "create":
                body = {k: v for k, v in entry.spec.items() if k != "secret_env_keys"}
                body["id"] = entry.target_id
                client.post("jobs", body)
            else:
                client.put(f"jobs/{quote(entry.target_id, safe='')}", _update_body(entry))
            done.append(f"{entry.action} {entry.target_id}")
        for job in plan.deletions:
            client.delete(f"jobs/{quote(str(job['id']), safe='')}")
            done.append(f"delete {job['id']}")
    except ApiError as err:
        applied = f" Applied before it: {', '.join(done)}." if done else " Nothing was changed."
        raise CLIError(f"the server refused a step: {err.message}.{applied}", err.fields) from None


def import_command(args: Any, client: SchedulerClient, out: Output) -> int:
    raw_jobs = load_file(args.file)
    plan = make_plan(client, raw_jobs, args.prune, out)
    summary = plan.summary()
    if not args.dry_run:
        apply_plan(client, plan, out)
    if out.json_mode:
        out.json({"dry_run": bool(args.dry_run), **summary})
        return 0
    rows = []
    for action in ("create", "update", "delete", "unchanged"):
        for item in summary[action]:
            rows.append([action, item.get("name"), item.get("id"), ", ".join(item.get("fields", []))])
    if rows:
        out.table(["ACTION", "JOB", "ID", "FIELDS"], rows, title="plan (dry run)" if args.dry_run else None)
    counts = {a: len(summary[a]) for a in ("create", "update", "delete", "unchanged")}
    verb = "Would" if args.dry_run else "Done:"
    out.line(
        f"{verb} create {counts['create']}, update {counts['update']}, delete {counts['delete']}; "
        f"{counts['unchanged']} unchanged."
    )
    for warning in plan.warnings:
        out.note(f"warning: {warning}")
    return 0


def _progress(out: Output, items: list[Any], what: str) -> Any:
    """Items, with a progress bar on stderr when a person watches a long operation."""
    if out.json_mode or not sys.stderr.isatty() or len(items) < 20:
        return items
    from rich.progress import track

    return track(items, description=what, console=out.err, transient=True)
