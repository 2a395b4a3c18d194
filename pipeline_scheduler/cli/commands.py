"""The subcommands that read and change jobs and runs, each a function of
``(args, client, out) -> exit code`` working through the REST API only."""

from __future__ import annotations

import argparse
import re
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .client import CLIError, SchedulerClient
from .output import Output, duration, when

# Exit codes of `run --follow` and `runs logs --follow`, after the run's outcome.
EXIT_TIMEOUT = 124  # as GNU timeout(1)
EXIT_CANCELLED = 130  # as a command stopped by Ctrl-C
EXIT_NOT_RUN = 75  # interrupted (the server died while it ran) or skipped: try again
EXIT_FOLLOW_STOPPED = 130  # Ctrl-C while following: the run itself goes on

FINAL_STATUSES = {"success", "failure", "cancelled", "timeout", "interrupted", "skipped"}


def run_exit_code(run: dict[str, Any]) -> int:
    status = run.get("status")
    code = run.get("exit_code")
    if status == "success":
        return 0
    if status == "timeout":
        return EXIT_TIMEOUT
    if status == "cancelled":
        return EXIT_CANCELLED
    if status in ("interrupted", "skipped"):
        return EXIT_NOT_RUN
    if isinstance(code, int) and 0 < code < 256:
        return code  # the script's own code
    if isinstance(code, int) and code < 0:
        return 128 + min(-code, 127)  # killed by signal -code, as a shell reports it
    return 1


# -- job references -----------------------------------------------------------------------
def list_jobs(client: SchedulerClient) -> list[dict[str, Any]]:
    return list(client.get("jobs")["jobs"])


def find_job(jobs: list[dict[str, Any]], ref: str) -> dict[str, Any]:
    """A job by id, else by its exact name, else by its name ignoring case."""
    for job in jobs:
        if job.get("id") == ref:
            return job
    for same in (
        lambda j: j.get("name") == ref,
        lambda j: str(j.get("name", "")).casefold() == ref.casefold(),
    ):
        matches = [j for j in jobs if same(j)]
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            listing = "\n".join(
                f"  {j['id']}  {j.get('name')!r}  {j.get('pipeline_path', '')}  "
                f"{j.get('schedule_description', '')}"
                for j in matches
            )
            raise CLIError(f"{len(matches)} jobs are named {ref!r}; give one of their ids:\n{listing}")
    raise CLIError(f"No job has the id or name {ref!r} (amphi-scheduler jobs list shows them).")


def resolve_job(client: SchedulerClient, ref: str) -> dict[str, Any]:
    return find_job(list_jobs(client), ref)


def _job_path(job_id: str) -> str:
    return quote(job_id, safe="")


# -- schedule options ---------------------------------------------------------------------
_DURATION = re.compile(r"^\s*(\d+)\s*([smhd]?)\s*$")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_every(text: str) -> int:
    match = _DURATION.match(text)
    if not match:
        raise CLIError(f"--every: {text!r} is not a number of seconds (or 90s, 15m, 2h, 1d).")
    return int(match.group(1)) * _UNITS[match.group(2)]


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise CLIError(f"--timezone: {name!r} is not an IANA time zone such as Europe/Paris.") from None


def _utc_iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def _server_zone(client: SchedulerClient, given: str | None) -> str:
    return given or str(client.get("config").get("timezone") or "UTC")


def schedule_from_args(args: argparse.Namespace, client: SchedulerClient) -> dict[str, Any]:
    """JobSpec schedule fields for whichever of --cron/--every/--daily/--once/--after was
    given (an empty dict when none was)."""
    tz_name: str | None = args.timezone
    if args.cron is not None:
        return {"schedule_type": "cron", "cron_expression": args.cron}
    if args.every is not None:
        return {"schedule_type": "interval", "interval_seconds": parse_every(args.every)}
    if args.daily is not None:
        match = re.fullmatch(r"(\d{1,2}):(\d{2})", args.daily.strip())
        if not match or int(match.group(1)) > 23 or int(match.group(2)) > 59:
            raise CLIError(f"--daily: {args.daily!r} is not a time of day HH:MM such as 07:30.")
        # The server reads the time of day of run_date in the job's zone: name the zone
        # explicitly so the job keeps meaning the same wall-clock time.
        tz_name = _server_zone(client, tz_name)
        local = datetime.now(_zone(tz_name)).replace(
            hour=int(match.group(1)), minute=int(match.group(2)), second=0, microsecond=0
        )
        return {
            "schedule_type": "date",
            "date_type": "daily",
            "run_date": _utc_iso(local),
            "timezone": tz_name,
        }
    if args.once is not None:
        try:
            moment = datetime.fromisoformat(args.once.strip().replace("Z", "+00:00"))
        except ValueError:
            raise CLIError(
                f"--once: {args.once!r} is not an ISO 8601 date-time such as 2030-01-15T08:30."
            ) from None
        if moment.tzinfo is None:
            tz_name = _server_zone(client, tz_name)
            moment = moment.replace(tzinfo=_zone(tz_name))
        spec = {"schedule_type": "date", "date_type": "once", "run_date": _utc_iso(moment)}
        return {**spec, "timezone": tz_name} if tz_name else spec
    if args.after:
        jobs = list_jobs(client)
        conditions = []
        for item in args.after:
            ref, on = item, "success"
            head, _, tail = item.rpartition(":")
            if head and tail in ("success", "failure"):
                ref, on = head, tail
            conditions.append({"job_id": find_job(jobs, ref)["id"], "on": on})
        return {
            "schedule_type": "trigger",
            "logical_operator": "AND" if args.all else "OR",
            "trigger_conditions": conditions,
        }
    return {}


def _key_values(items: list[str] | None, option: str) -> dict[str, str]:
    found: dict[str, str] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise CLIError(f"{option}: {item!r} is not NAME=VALUE.")
        found[key] = value
    return found


def job_body(
    args: argparse.Namespace, client: SchedulerClient, current: dict[str, Any] | None
) -> dict[str, Any]:
    """The JobSpec fields given on the command line (for an edit: only those)."""
    body: dict[str, Any] = {}
    if args.name is not None:
        body["name"] = args.name
    if args.path is not None:
        body["pipeline_path"] = args.path
    body.update(schedule_from_args(args, client))
    if args.timezone is not None:
        body["timezone"] = args.timezone
    if args.timeout is not None:
        body["timeout_seconds"] = args.timeout or None
    if args.retries is not None:
        body["max_retries"] = args.retries
    if args.description is not None:
        body["description"] = args.description
    if args.code_file is not None:
        body["python_code"] = Path(args.code_file).read_text(encoding="utf-8")
    if args.env or getattr(args, "unset_env", None):
        env = dict((current or {}).get("env") or {})
        env.update(_key_values(args.env, "--env"))
        for key in getattr(args, "unset_env", None) or []:
            env.pop(key, None)
        body["env"] = env
    if args.secret:
        body["secret_env"] = _key_values(args.secret, "--secret")
    if getattr(args, "paused", False):
        body["paused"] = True
    return body


# -- jobs ---------------------------------------------------------------------------------
def _job_state(job: dict[str, Any]) -> str:
    if job.get("active_run"):
        return "running"
    return "paused" if job.get("paused") else "active"


def print_jobs(out: Output, jobs: list[dict[str, Any]]) -> None:
    out.table(
        ["ID", "NAME", "PIPELINE", "SCHEDULE", "NEXT RUN", "LAST RUN", "STATE"],
        (
            [
                j.get("id"),
                j.get("name"),
                j.get("pipeline_path"),
                j.get("schedule_description"),
                when(j.get("next_run_time")),
                (j.get("last_run") or {}).get("status", ""),
                _job_state(j),
            ]
            for j in jobs
        ),
    )


def print_job(out: Output, job: dict[str, Any]) -> None:
    skip = {"python_code"}
    pairs = [(k, when(v) if k.endswith(("_time", "_at")) else v) for k, v in job.items() if k not in skip]
    if job.get("python_code"):
        pairs.append(("python_code", f"{len(job['python_code'].splitlines())} lines (--json shows it)"))
    out.fields(pairs, title=f"job {job.get('name')!r}")


def jobs_list(args: argparse.Namespace, client: SchedulerClient, out: Output) -> int:
    jobs = list_jobs(client)
    if out.json_mode:
        out.json(jobs)
    elif not jobs:
        out.line("No jobs yet. Add one with: amphi-scheduler jobs add --name N --path P --cron '0 6 * * *'")
    else:
        print_jobs(out, jobs)
    return 0


def jobs_show(args: argparse.Namespace, client: SchedulerClient, out: Output) -> int:
    job = client.get(f"jobs/{_job_path(resolve_job(client, args.job)['id'])}")
    out.json(job) if out.json_mode else print_job(out, job)
    return 0


def jobs_add(args: argparse.Namespace, client: SchedulerClient, out: Output) -> int:
    job = client.post("jobs", job_body(args, client, None))
    if out.json_mode:
        out.json(job)
    else:
        out.line(f"Created job {job['id']} {job['name']!r}: {job.get('schedule_description', '')}")
        if job.get("next_run_time"):
            out.line(f"Next run: {when(job['next_run_time'])}")
    return 0


def jobs_edit(args: argparse.Namespace, client: SchedulerClient, out: Output) -> int:
    current = resolve_job(client, args.job)
    body = job_body(args, client, current)
    if not body:
        raise CLIError("Nothing to change: give at least one option (see amphi-scheduler jobs edit --help).")
    job = client.put(f"jobs/{_job_path(current['id'])}", body)
    if out.json_mode:
        out.json(job)
    else:
        out.line(f"Updated job {job['id']} {job['name']!r}: {', '.join(sorted(body))}")
    return 0


def jobs_pause_resume(args: argparse.Namespace, client: SchedulerClient, out: Output) -> int:
    current = resolve_job(client, args.job)
    job = client.post(f"jobs/{_job_path(current['id'])}/{args.action}")
    if out.json_mode:
        out.json(job)
    else:
        out.line(f"{'Paused' if args.action == 'pause' else 'Resumed'} job {job['id']} {job['name']!r}")
    return 0


def jobs_delete(args: argparse.Namespace, client: SchedulerClient, out: Output) -> int:
    current = resolve_job(client, args.job)
    answer = client.delete(f"jobs/{_job_path(current['id'])}")
    if out.json_mode:
        out.json({**(answer or {}), "id": current["id"]})
    else:
        out.line(f"Deleted job {current['id']} {current['name']!r} and its run history")
    return 0


def jobs_history(args: argparse.Namespace, client: SchedulerClient, out: Output) -> int:
    current = resolve_job(client, args.job)
    versions = client.get(f"jobs/{_job_path(current['id'])}/versions")["versions"]
    if out.json_mode:
        out.json(versions)
        return 0
    rows = []
    for v in versions:
        changed = ", ".join(v["changes"]) if v["changes"] else ("created" if v["version"] == 1 else "-")
        if v.get("restored_from"):
            changed = f"restored from {v['restored_from']}: {changed}"
        marker = " (current)" if v["version"] == current.get("version") else ""
        rows.append((f"{v['version']}{marker}", when(v["created_at"]), v.get("author") or "-", changed))
    out.table(("version", "when", "who", "what changed"), rows, title=f"{current['name']} ({current['id']})")
    return 0


def jobs_restore(args: argparse.Namespace, client: SchedulerClient, out: Output) -> int:
    current = resolve_job(client, args.job)
    job = client.post(f"jobs/{_job_path(current['id'])}/versions/{args.version}/restore")
    if out.json_mode:
        out.json(job)
    elif job.get("version") == current.get("version"):
        out.line(
            f"Job {job['id']} {job['name']!r} already is what version {args.version} was; nothing changed"
        )
    else:
        out.line(
            f"Restored version {args.version} of job {job['id']} {job['name']!r} "
            f"as version {job['version']}: {job.get('schedule_description', '')}"
        )
    return 0


# -- runs ---------------------------------------------------------------------------------
def _run_id(text: str) -> int:
    if not text.isdigit():
        raise CLIError(f"{text!r} is not a run id (a whole number; amphi-scheduler runs list shows them).")
    return int(text)


def follow_log(client: SchedulerClient, run_id: int, out: Output, *, follow: bool) -> dict[str, Any]:
    """Copy the run's log to stdout (stderr with --json) as it grows; answer the Run once
    it has finished (or at once when not following)."""
    stream = sys.stderr if out.json_mode else sys.stdout
    offset = 0
    pause = 0.1
    while True:
        chunk = client.get(f"runs/{run_id}/log?offset={offset}&max_bytes=262144")
        data = chunk.get("data") or ""
        if data:
            stream.write(data)
            stream.flush()
        caught_up = chunk.get("next_offset", offset) >= chunk.get("size", 0)
        moved = chunk.get("next_offset", offset) != offset
        offset = chunk.get("next_offset", offset)
        if caught_up and (chunk.get("finished") or not follow):
            break
        if not moved:
            time.sleep(pause)
            pause = min(pause * 1.5, 0.5)
        else:
            pause = 0.1
    return dict(client.get(f"runs/{run_id}"))


def finish_follow(client: SchedulerClient, run_id: int, out: Output) -> int:
    try:
        run = follow_log(client, run_id, out, follow=True)
    except KeyboardInterrupt:
        out.note(
            f"\nStopped following; run {run_id} goes on (amphi-scheduler runs cancel {run_id} stops it)."
        )
        return EXIT_FOLLOW_STOPPED
    code = run_exit_code(run)
    if out.json_mode:
        out.json(run)
    else:
        message = run.get("message") or ""
        out.note(f"run {run_id}: {run.get('status')}{' - ' + message if message else ''} (exit {code})")
    return code


def _parameter_value(text: str) -> Any:
    """A --param value: a number or true/false as such, anything else as text."""
    if text in ("true", "false"):
        return text == "true"
    if re.fullmatch(r"-?\d+", text):
        return int(text)
    if re.fullmatch(r"-?\d+\.\d+", text):
        return float(text)
    return text


def run_body(args: argparse.Namespace) -> dict[str, Any]:
    """The body of POST run/{id}: what this run is given over its job's values."""
    body: dict[str, Any] = {"wait": False}
    params = _key_values(getattr(args, "param", None), "--param")
    if params:
        body["parameters"] = {k: _parameter_value(v) for k, v in params.items()}
    env = _key_values(getattr(args, "env", None), "--env")
    if env:
        body["env"] = env
    if getattr(args, "timeout", None) is not None:
        body["timeout_seconds"] = args.timeout
    return body


def run_job(args: argparse.Namespace, client: SchedulerClient, out: Output) -> int:
    job = resolve_job(client, args.job)
    status, run = client.request_status("POST", f"run/{_job_path(job['id'])}", run_body(args))
    if not isinstance(run, dict) or "id" not in run:
        raise CLIError(f"The server answered run/{job['id']} with {status} but no run: {run!r}")
    return started_run(args, client, out, run, job["name"])


def started_run(
    args: argparse.Namespace, client: SchedulerClient, out: Output, run: dict[str, Any], name: str
) -> int:
    job = {"name": name}
    if args.follow:
        if not out.json_mode:
            out.note(
                f"run {run['id']} of {job['name']!r} started; following its log (Ctrl-C stops following)"
            )
        return finish_follow(client, int(run["id"]), out)
    if out.json_mode:
        out.json(run)
    else:
        out.line(
            f"Started run {run['id']} of {job['name']!r} (amphi-scheduler runs logs {run['id']} --follow)"
        )
    return 0


def rerun(args: argparse.Namespace, client: SchedulerClient, out: Output) -> int:
    run = client.post(f"runs/{_run_id(args.run)}/rerun")
    return started_run(args, client, out, run, str(run.get("job_name") or run.get("job_id")))


# -- backfills ----------------------------------------------------------------------------
def _instant(text: str, zone: str, option: str) -> str:
    """ISO 8601 with its offset; a date-time without one is wall-clock time in ``zone``."""
    raw = text.strip()
    try:
        moment = datetime.fromisoformat(raw[:-1] + "+00:00" if raw.endswith(("Z", "z")) else raw)
    except ValueError:
        raise CLIError(f"{option}: {text!r} is not an ISO 8601 date-time such as 2026-01-15T08:30.") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=_zone(zone))
    return moment.isoformat()


def _backfill_progress(backfill: dict[str, Any]) -> str:
    counts = backfill.get("counts") or {}
    done = ", ".join(f"{n} {status}" for status, n in sorted(counts.items())) or "no runs yet"
    pending = backfill.get("pending") or 0
    return f"backfill {backfill['id']}: {backfill['status']}, {backfill['total']} fire time(s): {done}" + (
        f", {pending} to start" if pending else ""
    )


def backfill(args: argparse.Namespace, client: SchedulerClient, out: Output) -> int:
    job = resolve_job(client, args.job)
    zone = str(job.get("timezone") or _server_zone(client, None))
    body: dict[str, Any] = {
        "start": _instant(args.start, zone, "--start"),
        "end": _instant(args.end, zone, "--end"),
    }
    if args.max_active is not None:
        body["max_active"] = args.max_active
    made = client.post(f"jobs/{_job_path(job['id'])}/backfill", body)
    if not args.follow:
        if out.json_mode:
            out.json(made)
        else:
            out.line(
                f"Started backfill {made['id']} of {job['name']!r}: {made['total']} fire time(s) from "
                f"{made['start']} to {made['end']} (runs list --job {job['id']} shows its runs)"
            )
        return 0
    shown = ""
    current = made
    try:
        while True:
            line = _backfill_progress(current)
            if line != shown and not out.json_mode:
                out.note(line)
                shown = line
            if current["status"] in ("done", "cancelled"):
                break
            time.sleep(0.5)
            current = client.get(f"backfills/{current['id']}")
    except KeyboardInterrupt:
        out.note(
            f"\nStopped following; backfill {made['id']} goes on "
            f"(POST backfills/{made['id']}/cancel stops it)."
        )
        return EXIT_FOLLOW_STOPPED
    if out.json_mode:
        out.json(current)
    failed = {k: v for k, v in (current.get("counts") or {}).items() if k != "success"}
    return 0 if current["status"] == "done" and not failed else 1


def print_runs(out: Output, runs: list[dict[str, Any]]) -> None:
    out.table(
        ["ID", "JOB", "STATUS", "TRIGGERED BY", "STARTED", "DURATION", "EXIT"],
        (
            [
                r.get("id"),
                r.get("job_name") or r.get("job_id"),
                r.get("status"),
                r.get("triggered_by"),
                when(r.get("started_at") or r.get("created_at")),
                duration(r.get("duration_seconds")),
                r.get("exit_code"),
            ]
            for r in runs
        ),
    )


def runs_list(args: argparse.Namespace, client: SchedulerClient, out: Output) -> int:
    query: dict[str, Any] = {"limit": args.limit}
    if args.job:
        query["job_id"] = resolve_job(client, args.job)["id"]
    if args.status:
        query["status"] = args.status
    runs = client.get(f"runs?{urlencode(query)}")["runs"]
    if out.json_mode:
        out.json(runs)
    elif not runs:
        out.line("No runs.")
    else:
        print_runs(out, runs)
    return 0


def runs_show(args: argparse.Namespace, client: SchedulerClient, out: Output) -> int:
    run = client.get(f"runs/{_run_id(args.run)}")
    if out.json_mode:
        out.json(run)
        return 0
    tails = {"output", "error"}
    out.fields(
        [(k, when(v) if k.endswith(("_at", "_for")) else v) for k, v in run.items() if k not in tails],
        title=f"run {run.get('id')}",
    )
    for name in ("output", "error"):
        if run.get(name):
            out.line(f"--- {name} (end) ---")
            out.line(str(run[name]).rstrip("\n"))
    return 0


def runs_logs(args: argparse.Namespace, client: SchedulerClient, out: Output) -> int:
    run_id = _run_id(args.run)
    if args.follow:
        return finish_follow(client, run_id, out)
    run = follow_log(client, run_id, out, follow=False)
    if out.json_mode:
        out.json(run)
    return 0


def runs_cancel(args: argparse.Namespace, client: SchedulerClient, out: Output) -> int:
    run = client.post(f"runs/{_run_id(args.run)}/cancel")
    if out.json_mode:
        out.json(run)
    else:
        out.line(f"Run {run.get('id')}: {run.get('status')}")
    return 0


# -- preview and status -------------------------------------------------------------------
def preview(args: argparse.Namespace, client: SchedulerClient, out: Output) -> int:
    body: dict[str, Any] = {"schedule_type": "cron", "cron_expression": args.expression}
    if args.timezone:
        body["timezone"] = args.timezone
    answer = client.post("schedule/preview", body)
    if out.json_mode:
        out.json(answer)
        return 0
    out.line(str(answer.get("description", "")))
    for moment in answer.get("next_run_times") or []:
        out.line(f"  {when(moment)}")
    return 0


def status(args: argparse.Namespace, client: SchedulerClient, out: Output) -> int:
    config = client.get("config")
    queued = client.get("runs?status=queued&limit=1000")["runs"]
    running = client.get("runs?status=running&limit=1000")["runs"]
    jobs = list_jobs(client)
    upcoming = sorted(
        (j for j in jobs if j.get("next_run_time")),
        key=lambda j: datetime.fromisoformat(str(j["next_run_time"]).replace("Z", "+00:00")),
    )[: args.next]
    if out.json_mode:
        out.json(
            {
                "url": client.address.url,
                "scheduler_state": config.get("scheduler_state"),
                "config": config,
                "jobs": len(jobs),
                "queued": queued,
                "running": running,
                "next_fires": [
                    {"job_id": j["id"], "name": j.get("name"), "next_run_time": j["next_run_time"]}
                    for j in upcoming
                ],
            }
        )
        return 0
    state = config.get("scheduler_state", "?")
    out.markup(
        f"[bold]{client.address.url}[/bold]  workspace {config.get('amphi_dir', '?')}  "
        f"scheduler [bold]{state}[/bold]"
        + ("  (another server on this workspace fires the jobs)" if state == "standby" else "")
    )
    out.line(f"{len(jobs)} jobs, {len(running)} running, {len(queued)} queued")
    if running:
        print_runs(out, running)
    if upcoming:
        now = datetime.now(timezone.utc)
        rows = []
        for j in upcoming:
            moment = datetime.fromisoformat(str(j["next_run_time"]).replace("Z", "+00:00"))
            rows.append([when(j["next_run_time"]), _in(moment - now), j.get("name"), j.get("id")])
        out.table(["NEXT FIRE", "IN", "JOB", "ID"], rows, title="next fires")
    return 0


def _in(delta: timedelta) -> str:
    seconds = max(0, int(delta.total_seconds()))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min"
    if seconds < 86400:
        return f"{seconds // 3600} h {seconds % 3600 // 60} min"
    return f"{seconds // 86400} d"
