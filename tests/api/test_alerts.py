"""Alert channels and deadlines through a real ``jupyter server``: a Slack-compatible
receiver (a local HTTP server) and a local SMTP server (aiosmtpd) started by the test get a
missed deadline (also one that passed while no server ran, and never twice across a
restart), a failure and the recovery after it, a run longer than its max_duration_minutes
while it still runs; a paused job has no deadline alert; the JSON webhook of a job without
alert_on gets failures only, as the original amphi-scheduler's; a delivery that fails is
logged without the webhook URL's path or the SMTP password; bad deadline and alert fields
answer 400 at the field and create nothing."""

from __future__ import annotations

import email
import email.policy
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from api_support import write_pipelines
from engine_support import ENGINE_PIPELINES, EngineServer, WebhookSink, free_port, sync_poll, write_files

aiosmtpd_controller = pytest.importorskip("aiosmtpd.controller", reason="needs aiosmtpd (the test extra)")

PUBLIC_URL = "http://lab.example.org/user/ada/"
ZONE = "America/New_York"
PIPELINES = {
    "boom_once.py": """
        import os, sys
        from pathlib import Path
        workspace = Path(os.environ["AMPHI_SCHEDULER_WORKSPACE"])
        counter = workspace / f"boom_once.{os.environ['AMPHI_SCHEDULER_JOB_ID']}.count"
        calls = int(counter.read_text()) + 1 if counter.exists() else 1
        counter.write_text(str(calls))
        print(f"call {calls}", flush=True)
        if calls == 1:
            print("loading table sales", file=sys.stderr)
            print("boom: the disk is full", file=sys.stderr)
            sys.exit(1)
    """,
}


class SmtpSink:
    """An SMTP server on 127.0.0.1 (aiosmtpd, in its own thread) that keeps each message."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.recipients: list[list[str]] = []
        sink = self

        class Handler:
            async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
                sink.recipients.append(list(envelope.rcpt_tos))
                parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
                sink.messages.append(parsed)  # type: ignore[arg-type]
                return "250 OK"

        self.port = free_port()
        self._controller = aiosmtpd_controller.Controller(Handler(), hostname="127.0.0.1", port=self.port)

    def __enter__(self) -> SmtpSink:
        self._controller.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._controller.stop()


@pytest.fixture
def root(tmp_path: Path) -> Path:
    workspace = tmp_path / "workspace"
    write_pipelines(workspace)
    write_files(workspace, {**ENGINE_PIPELINES, **PIPELINES})
    return workspace


@pytest.fixture
def smtp() -> Iterator[SmtpSink]:
    with SmtpSink() as sink:
        yield sink


@pytest.fixture
def slack() -> Iterator[WebhookSink]:
    with WebhookSink() as sink:
        yield sink


@pytest.fixture
def server(root: Path, tmp_path: Path, smtp: SmtpSink) -> Iterator[Callable[..., EngineServer]]:
    """make(**settings) -> a ready server whose alerts e-mail through the test's SMTP server."""
    made: list[EngineServer] = []

    def make(**extra: Any) -> EngineServer:
        settings = {
            "smtp_host": "127.0.0.1",
            "smtp_port": smtp.port,
            "smtp_security": "none",
            "alert_email_from": "scheduler@example.org",
            "public_url": PUBLIC_URL,
            "lock_poll_seconds": 0.5,
            **extra,
        }
        s = EngineServer(root, tmp_path / "home", settings)
        made.append(s)
        return s.start()

    yield make
    for s in made:
        s.cleanup()


def cron_job(name: str, **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "pipeline_path": "ok.py",
        "schedule_type": "cron",
        "cron_expression": "0 4 * * *",
        "timezone": ZONE,
        **extra,
    }


def wall_time_in(seconds: float) -> tuple[str, float]:
    """HH:MM:SS in the jobs' zone ``seconds`` from now, and that instant."""
    at = datetime.now(ZoneInfo(ZONE)).replace(microsecond=0) + timedelta(seconds=seconds)
    return at.strftime("%H:%M:%S"), at.timestamp()


def texts_about(sink: WebhookSink, name: str) -> list[str]:
    return [str(p.get("text", "")) for p in sink.posts if f"*{name}*" in str(p.get("text", ""))]


def run_to_end(s: EngineServer, job_id: str) -> dict[str, Any]:
    run = s.ok("POST", f"run/{job_id}", {"wait": False})
    final = {"success", "failure", "timeout", "cancelled", "interrupted"}
    return sync_poll(lambda: (r := s.ok("GET", f"runs/{run['id']}"))["status"] in final and r, 30, 0.1)  # type: ignore[no-any-return]


def mails_about(smtp: SmtpSink, name: str) -> list[EmailMessage]:
    return [m for m in smtp.messages if f"'{name}'" in str(m["Subject"])]


def test_a_missed_deadline_reaches_slack_and_email_once_across_a_restart(
    server: Callable[..., EngineServer], slack: WebhookSink, smtp: SmtpSink
) -> None:
    s = server()
    channels = {"slack_webhook_url": slack.url, "alert_emails": ["ops@example.org"]}
    soon, soon_at = wall_time_in(6)
    while_down, while_down_at = wall_time_in(30)
    live = s.ok("POST", "jobs", cron_job("nightly load", deadline_time=soon, **channels))
    down = s.ok("POST", "jobs", cron_job("late report", deadline_time=while_down, **channels))
    paused = s.ok("POST", "jobs", cron_job("paused load", deadline_time=soon, paused=True, **channels))
    assert (live["deadline_time"], live["alert_emails"]) == (soon, ["ops@example.org"])
    assert paused["paused"] is True
    assert s.ok("GET", f"jobs/{live['id']}")["deadline_time"] == soon

    sync_poll(lambda: texts_about(slack, "nightly load"), 30, 0.1, "the deadline message")
    assert time.time() >= soon_at - 0.01, "not before the deadline"
    [text] = texts_about(slack, "nightly load")
    assert "missed its deadline" in text and f"{soon} {ZONE}" in text, text
    assert "No run succeeded" in text, text
    assert f"<{PUBLIC_URL}lab|Open the run in JupyterLab>" in text, text
    sync_poll(lambda: mails_about(smtp, "nightly load"), 20, 0.1, "the deadline e-mail")
    [mail] = mails_about(smtp, "nightly load")
    assert mail["From"] == "scheduler@example.org" and mail["To"] == "ops@example.org"
    assert "missed its deadline" in str(mail["Subject"])
    body = mail.get_body(("plain",))
    assert body is not None and f"Open the run in JupyterLab: {PUBLIC_URL}lab" in body.get_content()

    s.stop()
    assert time.time() < while_down_at, "the second deadline passes while no server runs"
    sync_poll(lambda: time.time() > while_down_at + 0.5, 40, 0.1, "the second deadline passed")
    s = server()
    # The deadline that passed while no server ran is checked at the start...
    sync_poll(lambda: texts_about(slack, "late report"), 30, 0.1, "the catch-up deadline message")
    sync_poll(lambda: mails_about(smtp, "late report"), 20, 0.1, "the catch-up deadline e-mail")
    # A deadline a moment from now: the monitor checks it after the start's check of those
    # that passed, so once its alert is in, a wrong second one would be in too.
    marker_time, _ = wall_time_in(2)
    s.ok("POST", "jobs", cron_job("marker", deadline_time=marker_time, **channels))
    sync_poll(lambda: texts_about(slack, "marker"), 30, 0.1, "the marker's deadline message")
    sync_poll(lambda: mails_about(smtp, "marker"), 20, 0.1, "the marker's deadline e-mail")
    # ... and the one already sent is not sent again; the paused job never alerted.
    assert len(texts_about(slack, "nightly load")) == 1, slack.posts
    assert len(mails_about(smtp, "nightly load")) == 1
    assert len(texts_about(slack, "late report")) == 1
    assert texts_about(slack, "paused load") == [] and mails_about(smtp, "paused load") == []
    assert all(r == ["ops@example.org"] for r in smtp.recipients)
    assert down["id"]


def test_failure_then_recovery_reach_both_channels(
    server: Callable[..., EngineServer], slack: WebhookSink, smtp: SmtpSink, root: Path
) -> None:
    s = server()
    job = s.ok(
        "POST",
        "jobs",
        cron_job(
            "sales import",
            pipeline_path="boom_once.py",
            slack_webhook_url=slack.url,
            alert_emails=["data@example.org", "oncall@example.org"],
            alert_on=["failure", "recovery"],
        ),
    )
    assert job["alert_on"] == ["failure", "recovery"]
    failed = run_to_end(s, job["id"])
    assert failed["status"] == "failure", failed
    failed_id = failed["id"]

    sync_poll(lambda: texts_about(slack, "sales import"), 20, 0.1, "the failure message")
    [text] = texts_about(slack, "sales import")
    assert "failed" in text and "status: *failure*" in text and "exit code 1" in text, text
    assert "duration:" in text, text
    assert "boom: the disk is full" in text and "loading table sales" in text, "the last log lines"
    assert f"<{PUBLIC_URL}lab?pipeline-scheduler-run={failed_id}|Open the run in JupyterLab>" in text
    sync_poll(lambda: mails_about(smtp, "sales import"), 20, 0.1, "the failure e-mail")
    [mail] = mails_about(smtp, "sales import")
    assert "failed" in str(mail["Subject"])
    assert smtp.recipients[-1] == ["data@example.org", "oncall@example.org"]
    body = mail.get_body(("plain",))
    assert body is not None
    content = body.get_content()
    assert "boom: the disk is full" in content and f"pipeline-scheduler-run={failed_id}" in content

    recovered = run_to_end(s, job["id"])
    assert recovered["status"] == "success", recovered
    sync_poll(lambda: len(texts_about(slack, "sales import")) >= 2, 20, 0.1, "the recovery message")
    sync_poll(lambda: len(mails_about(smtp, "sales import")) >= 2, 20, 0.1, "the recovery e-mail")
    assert "recovered" in texts_about(slack, "sales import")[1]
    assert "recovered" in str(mails_about(smtp, "sales import")[1]["Subject"])

    again = run_to_end(s, job["id"])
    assert again["status"] == "success"
    # The next run fails again (its counter starts over): that failure's alert comes after
    # any the second success could have raised, and none did.
    (root / f"boom_once.{job['id']}.count").unlink()
    assert run_to_end(s, job["id"])["status"] == "failure"
    sync_poll(lambda: len(texts_about(slack, "sales import")) >= 3, 20, 0.1, "the second failure message")
    sync_poll(lambda: len(mails_about(smtp, "sales import")) >= 3, 20, 0.1, "the second failure e-mail")
    texts = texts_about(slack, "sales import")
    assert [("failed" in t, "recovered" in t) for t in texts] == [(True, False), (False, True), (True, False)]
    subjects = [str(m["Subject"]) for m in mails_about(smtp, "sales import")]
    assert ["recovered" in x for x in subjects] == [False, True, False], subjects


def test_the_json_webhook_gets_failures_only_unless_alert_on_is_set(
    server: Callable[..., EngineServer], smtp: SmtpSink
) -> None:
    """The original amphi-scheduler's webhook got failures and timeouts only; a job that
    sets no alert_on (on a server that sets none) keeps that, while its Slack channel gets
    the recovery too. Deliveries that fail are logged without the secret parts."""
    s = server(smtp_username="scheduler", smtp_password="smtp-pa55-w0rd")
    secret_path = "/services/T0001/B0002/slack-s3cret-token"
    slack_url = f"http://127.0.0.1:{free_port()}{secret_path}?sig=query-s3cret"  # refuses connections
    with WebhookSink() as hook:
        legacy = s.ok(
            "POST",
            "jobs",
            cron_job(
                "legacy hook",
                pipeline_path="boom_once.py",
                webhook_url=hook.url,
                slack_webhook_url=slack_url,
                alert_emails=["ops@example.org"],
            ),
        )
        opted = s.ok(
            "POST",
            "jobs",
            cron_job(
                "opted in",
                pipeline_path="boom_once.py",
                webhook_url=hook.url,
                alert_on=["failure", "recovery"],
            ),
        )
        assert "alert_on" not in legacy or legacy["alert_on"] is None, legacy
        for job in (legacy, opted):
            assert run_to_end(s, job["id"])["status"] == "failure"
            assert run_to_end(s, job["id"])["status"] == "success"

        def events(job: dict[str, Any]) -> list[str]:
            return [str(p["event"]) for p in hook.posts if p["job"]["id"] == job["id"]]

        # The opted-in job's recovery is the last alert raised: once it is in, the legacy
        # job's would be in too.
        sync_poll(lambda: events(opted) == ["run_failed", "run_recovered"], 20, 0.1, "the opted-in POSTs")
        assert events(legacy) == ["run_failed"], hook.posts

    # The legacy job's Slack channel got (tried) both: two logged failures to deliver, which
    # name the host and the job, not the URL's path or query.
    host = slack_url.split("/services")[0]
    slack_line = f"Slack webhook of job {legacy['id']} at {host} could not be reached"

    def logged(line: str) -> int:
        return s.log_path.read_text().count(line)

    sync_poll(lambda: logged(slack_line) == 2, 20, 0.1, "two Slack delivery failures logged")
    # The SMTP server takes no login: each e-mail fails, logged without the password.
    sync_poll(lambda: logged("Alert e-mail to ['ops@example.org']") == 2, 20, 0.1, "two e-mail failures")
    log = s.log_path.read_text()
    for secret in ("T0001", "slack-s3cret-token", "query-s3cret", "smtp-pa55-w0rd"):
        assert secret not in log, (secret, log[-3000:])


def test_a_run_longer_than_max_duration_alerts_while_it_goes_on(
    server: Callable[..., EngineServer], slack: WebhookSink, smtp: SmtpSink
) -> None:
    """The smallest max_duration_minutes is 1: this test waits a minute for its alert, through
    the real server and channels (tests/unit/test_deadlines.py drives the timing with the
    monitor's own clock)."""
    s = server()
    job = s.ok(
        "POST",
        "jobs",
        cron_job(
            "long export",
            pipeline_path="pid_sleep.py",
            max_duration_minutes=1,
            slack_webhook_url=slack.url,
            alert_emails=["ops@example.org"],
        ),
    )
    run = s.ok("POST", f"run/{job['id']}", {"wait": False})
    asked = time.time()
    sync_poll(lambda: texts_about(slack, "long export"), 90, 0.2, "the max-duration message")
    assert time.time() - asked >= 59, "not before the minute"
    [text] = texts_about(slack, "long export")
    assert f"run {run['id']} is still running after 1 min" in text, text
    assert "status: *running*" in text and f"pipeline-scheduler-run={run['id']}" in text, text
    assert s.ok("GET", f"runs/{run['id']}")["status"] == "running", "the alert does not stop the run"
    sync_poll(lambda: mails_about(smtp, "long export"), 20, 0.1, "the max-duration e-mail")
    s.ok("POST", f"runs/{run['id']}/cancel")


BAD_FIELDS = [
    ("deadline_time", "7:00", "HH:MM"),
    ("deadline_time", "24:00", "HH:MM"),
    ("deadline_time", "07:60", "HH:MM"),
    ("deadline_time", 700, "string"),
    ("max_duration_minutes", 0, "from 1 to 10080"),
    ("max_duration_minutes", 10081, "from 1 to 10080"),
    ("max_duration_minutes", 1.5, "whole number"),
    ("slack_webhook_url", "ftp://hooks.example.org/x", "http(s) URL"),
    ("slack_webhook_url", "https://hooks]example/x", "http(s) URL"),
    ("webhook_url", "https://[hooks.example/x", "http(s) URL"),
    ("alert_emails", ["not an address"], "e-mail address"),
    ("alert_emails", "ops@example.org", "list"),
    ("alert_on", ["sometimes"], "'failure', 'recovery' or 'deadline'"),
]


def test_bad_deadline_and_alert_fields_answer_400_at_the_field(server: Callable[..., EngineServer]) -> None:
    s = server()
    for field, value, says in BAD_FIELDS:
        status, answer = s.request("POST", "jobs", cron_job("bad", **{field: value}))
        assert status == 400, (field, value, answer)
        fields = answer.get("fields") or {}
        key = next((k for k in fields if k.split(".")[0] == field), None)
        assert key is not None, (field, value, answer)
        assert says.lower() in fields[key].lower(), (field, value, answer)
    job = s.ok("POST", "jobs", cron_job("good"))
    status, answer = s.request("PUT", f"jobs/{job['id']}", {"deadline_time": "25:00"})
    assert status == 400 and "deadline_time" in (answer.get("fields") or {}), answer
    assert [j["id"] for j in s.ok("GET", "jobs")["jobs"]] == [job["id"]], "nothing else was created"
    assert "deadline_time" not in s.ok("GET", f"jobs/{job['id']}"), "nor changed"
