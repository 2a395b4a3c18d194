"""``amphi-scheduler``: the headless service (``serve``) and a command line for people
and scripts that works against a running server through its REST API only.

Exit codes (also in docs/cli.md):
  0   success
  1   the server refused the request, or the input is invalid (the message says why)
  2   command-line usage error
  3   ``serve`` could not start (bad root, port in use, the scheduler failed to load)
  4   no server could be reached
  ``run --follow`` / ``runs logs --follow``: the run's outcome: 0 success; the script's own
  exit code when it exited non-zero (128+N when killed by signal N, 1 when unknown);
  124 timeout; 130 cancelled (and when Ctrl-C stops following); 75 interrupted or skipped.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from typing import Any

from .client import CLIError, SchedulerClient, connect
from .output import Output, error

EXIT_USAGE = 2

Command = Callable[[argparse.Namespace, SchedulerClient, Output], int]


def _common() -> argparse.ArgumentParser:
    """Options every subcommand takes, before or after its name."""
    common = argparse.ArgumentParser(add_help=False)
    group = common.add_argument_group("server and output")
    group.add_argument("--url", default=argparse.SUPPRESS, help="server URL (env AMPHI_SCHEDULER_URL)")
    group.add_argument("--token", default=argparse.SUPPRESS, help="server token (env AMPHI_SCHEDULER_TOKEN)")
    group.add_argument(
        "--json", action="store_true", default=argparse.SUPPRESS, help="print the API's JSON objects"
    )
    return common


def _job_options(parser: argparse.ArgumentParser, adding: bool) -> None:
    if adding:
        parser.add_argument("--name", required=True, help="the job's name")
        parser.add_argument("--path", required=True, help="pipeline file, relative to the workspace")
    else:
        parser.add_argument("--name", help="rename the job")
        parser.add_argument("--path", help="another pipeline file")
    when = parser.add_argument_group("schedule (one of)")
    exclusive = when.add_mutually_exclusive_group(required=adding)
    exclusive.add_argument("--cron", metavar="EXPR", help="cron expression, 5 fields (6 with seconds first)")
    exclusive.add_argument("--every", metavar="SECONDS", help="interval: seconds, or 90s, 15m, 2h, 1d")
    exclusive.add_argument("--daily", metavar="HH:MM", help="every day at this wall-clock time")
    exclusive.add_argument("--once", metavar="ISO", help="once at this date-time (no offset: in --timezone)")
    exclusive.add_argument(
        "--after",
        metavar="JOB[:success|failure]",
        nargs="+",
        action="extend",
        help="run after these jobs succeed (or fail); repeatable",
    )
    when.add_argument(
        "--all", action="store_true", help="with --after: only once every condition is met (AND)"
    )
    when.add_argument(
        "--timezone", metavar="ZONE", help="IANA zone such as Europe/Paris (default: the server's)"
    )
    parser.add_argument("--timeout", type=int, metavar="S", help="stop a run after S seconds (0: no limit)")
    parser.add_argument("--retries", type=int, metavar="N", help="retry a failed run up to N times")
    parser.add_argument("--description", help="free text shown with the job")
    parser.add_argument("--env", action="append", metavar="K=V", help="environment variable; repeatable")
    parser.add_argument(
        "--secret", action="append", metavar="K=V", help="secret variable (write-only); repeatable"
    )
    parser.add_argument("--code-file", metavar="FILE", help="generated Python code of an .ampln pipeline")
    if adding:
        parser.add_argument("--paused", action="store_true", help="create the job paused")
    else:
        parser.add_argument("--unset-env", action="append", metavar="K", help="remove a variable; repeatable")


def build_parser() -> argparse.ArgumentParser:
    from . import commands, jobsfile

    common = _common()
    parser = argparse.ArgumentParser(
        prog="amphi-scheduler",
        description="Run the pipeline scheduler headless, and manage its jobs and runs from a terminal "
        "or a script. The server is the one whose root folder holds the current folder (as "
        "`jupyter server list` shows them), or --url/--token.",
        epilog="Exit codes: 0 ok, 1 refused or invalid, 2 usage, 3 serve could not start, 4 no server "
        "reachable; run --follow exits with the run's outcome (see docs/cli.md).",
        parents=[common],
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def leaf(group: Any, name: str, handler: Command | None, help: str, **kw: Any) -> argparse.ArgumentParser:
        p: argparse.ArgumentParser = group.add_parser(
            name, help=help, description=help, parents=[common], **kw
        )
        p.set_defaults(handler=handler)
        return p

    serve = sub.add_parser(
        "serve",
        help="start a headless Jupyter server with the scheduler (for systemd or a container)",
        description="Start a Jupyter server running only the scheduler extension on --root, no browser "
        "UI. Other Jupyter options pass through (--IdentityProvider.token=..., "
        "--PipelineSchedulerApp.timezone=Europe/Paris). Stops cleanly on SIGTERM or Ctrl-C (exit 0); "
        "exit 3 when it cannot start.",
        allow_abbrev=False,
    )
    serve.add_argument("--root", required=True, help="the workspace folder (it holds .amphi/)")
    serve.add_argument(
        "--port", type=int, default=8888, help="port to listen on (default 8888; 0: any free port)"
    )
    serve.add_argument("--ip", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    serve.add_argument(
        "--allow-root", action="store_true", help="run as root (added automatically for uid 0)"
    )
    serve.add_argument(
        "--with-extensions", action="store_true", help="also load the other enabled server extensions"
    )
    serve.set_defaults(handler=None)

    jobs = sub.add_parser("jobs", help="list, show, add, edit, pause, resume, delete jobs", parents=[common])
    jobs_sub = jobs.add_subparsers(dest="jobs_command", metavar="ACTION", required=True)
    leaf(jobs_sub, "list", commands.jobs_list, "list the jobs")
    leaf(jobs_sub, "show", commands.jobs_show, "one job, every field").add_argument(
        "job", help="job id or name"
    )
    _job_options(leaf(jobs_sub, "add", commands.jobs_add, "create a job"), adding=True)
    edit = leaf(jobs_sub, "edit", commands.jobs_edit, "change a job: only the options given")
    edit.add_argument("job", help="job id or name")
    _job_options(edit, adding=False)
    for action in ("pause", "resume"):
        p = leaf(jobs_sub, action, commands.jobs_pause_resume, f"{action} a job")
        p.add_argument("job", help="job id or name")
        p.set_defaults(action=action)
    leaf(jobs_sub, "delete", commands.jobs_delete, "delete a job and its history").add_argument(
        "job", help="job id or name"
    )
    leaf(jobs_sub, "history", commands.jobs_history, "a job's versions: who changed what, when").add_argument(
        "job", help="job id or name"
    )
    restore = leaf(
        jobs_sub, "restore", commands.jobs_restore, "make a job's definition an older version's again"
    )
    restore.add_argument("job", help="job id or name")
    restore.add_argument("version", type=int, help="the version to restore (see jobs history)")

    run = leaf(
        sub, "run", commands.run_job, "run a job now (with --param, --env, --timeout for that run only)"
    )
    run.add_argument("job", help="job id or name")
    run.add_argument("--follow", "-f", action="store_true", help="stream its log; exit with its outcome")
    run.add_argument(
        "--param",
        action="append",
        metavar="K=V",
        help="a parameter for this run only, over the job's (numbers and true/false as such); repeatable",
    )
    run.add_argument(
        "--env", action="append", metavar="K=V", help="an environment variable for this run only"
    )
    run.add_argument("--timeout", type=int, metavar="S", help="stop this run after S seconds")

    rerun = leaf(sub, "rerun", commands.rerun, "run a past run again: its logical time and overrides")
    rerun.add_argument("run", help="the run id")
    rerun.add_argument("--follow", "-f", action="store_true", help="stream its log; exit with its outcome")

    backfill = leaf(
        sub, "backfill", commands.backfill, "run a job for every fire time of its schedule in a past range"
    )
    backfill.add_argument("job", help="job id or name")
    backfill.add_argument(
        "--start", required=True, metavar="ISO", help="first fire time it may run (no offset: the job's zone)"
    )
    backfill.add_argument(
        "--end", required=True, metavar="ISO", help="last fire time it may run, at most now (included)"
    )
    backfill.add_argument("--max-active", type=int, metavar="N", help="runs active at once (default 1)")
    backfill.add_argument(
        "--follow",
        "-f",
        action="store_true",
        help="show its progress until it ends; exit 0 if every run succeeded",
    )

    runs = sub.add_parser("runs", help="run history, logs, cancel", parents=[common])
    runs_sub = runs.add_subparsers(dest="runs_command", metavar="ACTION", required=True)
    listing = leaf(runs_sub, "list", commands.runs_list, "runs, newest first")
    listing.add_argument("--job", help="only this job's runs (id or name)")
    listing.add_argument("--status", help="only runs with this status (several: a,b)")
    listing.add_argument("--limit", type=int, default=50, help="how many (default 50, at most 1000)")
    leaf(runs_sub, "show", commands.runs_show, "one run with the end of its output").add_argument("run")
    logs = leaf(runs_sub, "logs", commands.runs_logs, "a run's log")
    logs.add_argument("run")
    logs.add_argument("--follow", "-f", action="store_true", help="until the run ends; exit with its outcome")
    leaf(runs_sub, "cancel", commands.runs_cancel, "stop a queued or running run").add_argument("run")

    preview = leaf(sub, "preview", commands.preview, "describe a cron expression and its next fire times")
    preview.add_argument("expression", help='e.g. "*/15 8-18 * * 1-5"')
    preview.add_argument("--timezone", metavar="ZONE", help="IANA zone (default: the server's)")

    status = leaf(sub, "status", commands.status, "active or standby, queue, running runs, next fires")
    status.add_argument("--next", type=int, default=5, metavar="N", help="how many next fires (default 5)")

    export = leaf(sub, "export", jobsfile.export_command, "write every job definition as YAML")
    export.add_argument("--output", "-o", metavar="FILE", help="file to write (default: stdout)")
    export.add_argument("--no-ids", action="store_true", help="leave ids out: jobs are matched by name")
    imp = leaf(sub, "import", jobsfile.import_command, "create and update jobs to match a YAML file")
    imp.add_argument("file", help="the YAML file (- for stdin)")
    imp.add_argument("--dry-run", action="store_true", help="print the plan, change nothing")
    imp.add_argument("--prune", action="store_true", help="delete the jobs the file does not hold")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args, extra = parser.parse_known_args(arguments)
    if args.command == "serve":
        from .serve import serve

        return serve(args.root, args.port, args.ip, args.allow_root, args.with_extensions, extra)
    if extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    out = Output(json_mode=bool(getattr(args, "json", False)))
    handler: Command = args.handler
    try:
        client = connect(getattr(args, "url", None), getattr(args, "token", None))
        return handler(args, client, out)
    except CLIError as err:
        error(err.message, err.fields)
        return err.exit_code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
