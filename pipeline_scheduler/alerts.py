"""Alert channels: a JSON webhook, a Slack-compatible incoming webhook, e-mail over SMTP.

An ``Alert`` (a final failure or timeout, the first success after one, a missed
deadline, a run longer than its job's ``max_duration_minutes``) goes to every channel the
job (or, for what the job leaves unset, the server's settings) names that wants its kind:
the job's ``alert_on``, else the server's ``alert_on`` setting; when neither is set, the
JSON webhook gets failures only (what the original amphi-scheduler's webhook got) and
Slack and e-mail get every kind (``AlertChannels.wanted``):

- ``webhook_url`` / ``alert_webhook_url``: the JSON document of the original failure
  webhook (``event``, ``job``, ``run``, ``error_tail``) plus ``message`` and ``link``;
- ``slack_webhook_url`` / ``alert_slack_webhook_url``: ``{"text": ...}``, a message for a
  person (job, status, duration, the last log lines, a link to the run in JupyterLab);
- ``alert_emails`` / ``alert_email_to`` over ``smtp_host``: the same text as a plain
  e-mail.

The link is ``{public_url}lab?pipeline-scheduler-run={id}``: JupyterLab opens there and the
frontend opens that run's log (its router handles the query). Without ``public_url``
(the server cannot know the address people reach it by) messages carry no link.

Every delivery runs in a network thread (``workers.network``) with a bounded timeout;
a channel that fails is logged and never holds up or breaks a run or the event loop.
Webhook URLs (a Slack one is a credential) are logged as ``scheme://host`` only, and the
SMTP password never. The log tails are the run's recorded ones, in which secret values are
already redacted.
"""

from __future__ import annotations

import json
import logging
import smtplib
import ssl
import urllib.request
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any
from urllib.parse import urlparse

from .domain import JobDefinition
from .errors import InvalidRequestError
from .settings import SchedulerSettings

WEBHOOK_TIMEOUT_SECONDS = 10.0
SMTP_TIMEOUT_SECONDS = 20.0
LOG_LINES = 8  # the last lines of a run's output (or error) in a message
ALERT_KINDS = ("failure", "recovery", "deadline")
# What the JSON webhook gets when neither the job nor the server sets alert_on.
WEBHOOK_DEFAULT_KINDS = ("failure",)

# What ``event`` the webhook document carries for each alert.
EVENTS = {
    "run_failed": "failure",
    "run_timed_out": "failure",
    "run_recovered": "recovery",
    "deadline_missed": "deadline",
    "run_too_long": "deadline",
}


def check_webhook_url(url: object, field: str = "webhook_url") -> str:
    if not isinstance(url, str) or len(url) > 2000:
        raise InvalidRequestError(f"{field}: give an http(s) URL.")
    try:
        parsed = urlparse(url)
    except ValueError:  # e.g. an unbalanced '[' or ']' in the host
        raise InvalidRequestError(f"{field}: {url!r} is not an http(s) URL.") from None
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise InvalidRequestError(f"{field}: {url!r} is not an http(s) URL.")
    return url


def url_for_log(url: str) -> str:
    """``scheme://host[:port]`` of a URL: what a log may show of a webhook URL (its path,
    query and user info can be the credential, as in a Slack incoming webhook)."""
    try:
        parsed = urlparse(url)
        host = parsed.hostname or ""
        port = f":{parsed.port}" if parsed.port else ""
    except ValueError:
        return "(a URL that cannot be read)"
    host = f"[{host}]" if ":" in host else host
    return f"{parsed.scheme}://{host}{port}"


def _scrubbed(text: str, url: str) -> str:
    """``text`` (an error message) without the parts of ``url`` a log must not show."""
    try:
        parsed = urlparse(url)
        parts = [url, parsed.netloc, parsed.path, parsed.query, parsed.username, parsed.password]
    except ValueError:
        parts = [url]
    for part in sorted((p for p in parts if p and len(p) > 1), key=len, reverse=True):
        text = text.replace(part, "…")
    return text


def post_json(url: str, payload: dict[str, Any], log: logging.Logger, what: str = "Alert webhook") -> bool:
    """POST ``payload``; True on a 2xx answer. A failure is logged as ``what`` and the URL's
    ``scheme://host`` (never its path or query). Blocking: run it in a thread."""
    request = urllib.request.Request(
        url,
        data=json.dumps(payload).encode(),
        headers={"Content-Type": "application/json", "User-Agent": "amphi-scheduler"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=WEBHOOK_TIMEOUT_SECONDS) as answer:  # noqa: S310
            ok = 200 <= answer.status < 300
            if not ok:
                log.warning("%s at %s answered %s", what, url_for_log(url), answer.status)
            return ok
    except Exception as err:
        reason = _scrubbed(f"{type(err).__name__}: {err}", url)
        log.warning("%s at %s could not be reached: %s", what, url_for_log(url), reason)
        return False


@dataclass
class Alert:
    """One alert about a job: ``event`` (a key of ``EVENTS``), a one-line ``title``, what
    happened in a few words (``detail``), and the run it is about, if any (a store row)."""

    event: str
    job: JobDefinition
    title: str
    detail: str = ""
    run: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def kind(self) -> str:
        return EVENTS[self.event]


def run_link(public_url: str, run_id: int | None) -> str | None:
    """Where a person opens the run in JupyterLab (None without ``public_url``)."""
    if not public_url:
        return None
    base = public_url if public_url.endswith("/") else public_url + "/"
    return f"{base}lab?pipeline-scheduler-run={run_id}" if run_id is not None else f"{base}lab"


def last_lines(text: str | None, count: int = LOG_LINES) -> str:
    lines = [line.rstrip() for line in (text or "").splitlines() if line.strip()]
    return "\n".join(line[:300] for line in lines[-count:])


def _duration(run: dict[str, Any]) -> str | None:
    started, finished = run.get("started_at"), run.get("finished_at")
    if not started:
        return None
    seconds = (finished or 0) - started if finished else None
    if seconds is None:
        return None
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(int(round(seconds)), 60)
    return f"{minutes} min {rest} s" if minutes < 60 else f"{minutes // 60} h {minutes % 60} min"


@dataclass
class Facts:
    """What a message for a person says about an alert, before it is written for a channel
    (``message_lines`` for e-mail, ``slack_payload`` for Slack)."""

    kind: str
    title: str
    job_name: str
    job_id: str
    pipeline_path: str
    detail: str
    link: str | None
    run_id: int | None = None
    status: str = ""
    more: list[str] = field(default_factory=list)  # duration, exit code, attempt
    run_message: str = ""
    tail: str = ""  # the last lines of the run's error output, else of its output


def facts_of(alert: Alert, link: str | None) -> Facts:
    job, run = alert.job, alert.run
    facts = Facts(alert.kind, alert.title, job.name, job.id, job.pipeline_path, alert.detail, link)
    if run is not None:
        facts.run_id, facts.status = run["id"], str(run["status"])
        if (duration := _duration(run)) is not None:
            facts.more.append(f"duration: {duration}")
        if run.get("exit_code") is not None:
            facts.more.append(f"exit code {run['exit_code']}")
        if (run.get("attempt") or 1) > 1:
            facts.more.append(f"attempt {run['attempt']}")
        facts.run_message = str(run.get("message") or "")
        facts.tail = last_lines(run.get("error_tail")) or last_lines(run.get("output_tail"))
    return facts


def message_lines(alert: Alert, link: str | None) -> list[str]:
    """The alert for a person, as plain lines (the e-mail body)."""
    f = facts_of(alert, link)
    lines = [f.title, f"Job: {f.job_name} ({f.job_id}), {f.pipeline_path}"]
    if f.detail:
        lines.append(f.detail)
    if f.run_id is not None:
        lines.append(", ".join([f"Run {f.run_id}", f"status: {f.status}", *f.more]))
    if f.run_message:
        lines.append(f.run_message)
    if f.tail:
        lines += ["Last log lines:", f.tail]
    if f.link:
        lines.append(f"Open the run in JupyterLab: {f.link}")
    return lines


def slack_payload(alert: Alert, link: str | None) -> dict[str, Any]:
    """A Slack-compatible incoming-webhook message: ``text`` (mrkdwn), readable as is."""
    f = facts_of(alert, link)
    icon = {"failure": ":x:", "recovery": ":white_check_mark:", "deadline": ":alarm_clock:"}[f.kind]
    lines = [f"{icon} *{_escape(f.title)}*", f"Job: *{_escape(f.job_name)}* (`{f.pipeline_path}`)"]
    if f.detail:
        lines.append(_escape(f.detail))
    if f.run_id is not None:
        lines.append(" · ".join([f"Run {f.run_id}", f"status: *{f.status}*", *f.more]))
    if f.run_message:
        lines.append(_escape(f.run_message))
    if f.tail:
        lines.append("```" + f.tail.replace("```", "'''") + "```")
    if f.link:
        lines.append(f"<{f.link}|Open the run in JupyterLab>")
    return {"text": "\n".join(lines)}


def _escape(text: str) -> str:
    """Slack's three control characters in message text."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def webhook_payload(alert: Alert, link: str | None, run_answer: dict[str, Any] | None) -> dict[str, Any]:
    job = alert.job
    payload: dict[str, Any] = {
        "event": alert.event,
        "job": {"id": job.id, "name": job.name, "pipeline_path": job.pipeline_path},
        "run": run_answer,
        "error_tail": ((alert.run or {}).get("error_tail") or "")[-2000:],
        "message": alert.title + (f" {alert.detail}" if alert.detail else ""),
        "link": link,
    }
    payload.update(alert.extra)
    return payload


def send_email(
    settings: SchedulerSettings, to: list[str], subject: str, body: str, log: logging.Logger
) -> bool:
    """Send a plain-text e-mail over ``smtp_host``. A failure is logged with the
    addresses, host and port (never the login's password). Blocking: run it in a thread."""
    s = settings
    message = EmailMessage()
    message["Subject"] = subject
    message["From"] = s.alert_email_from or f"amphi-scheduler@{s.smtp_host}"
    message["To"] = ", ".join(to)
    message.set_content(body)
    port = s.smtp_port or (465 if s.smtp_security == "ssl" else 587)
    try:
        smtp: smtplib.SMTP
        if s.smtp_security == "ssl":
            smtp = smtplib.SMTP_SSL(
                s.smtp_host, port, timeout=SMTP_TIMEOUT_SECONDS, context=ssl.create_default_context()
            )
        else:
            smtp = smtplib.SMTP(s.smtp_host, port, timeout=SMTP_TIMEOUT_SECONDS)
        with smtp:
            if s.smtp_security == "starttls":
                smtp.starttls(context=ssl.create_default_context())
            if s.smtp_username:
                smtp.login(s.smtp_username, s.smtp_password)
            smtp.send_message(message)
        return True
    except Exception as err:
        log.warning("Alert e-mail to %s through %s:%s could not be sent: %s", to, s.smtp_host, port, err)
        return False


class AlertChannels:
    """Sends an ``Alert`` to the channels of its job, each in the background from a network
    thread (``deliver`` answers at once)."""

    def __init__(
        self,
        settings: SchedulerSettings,
        network: Callable[..., Coroutine[Any, Any, Any]],
        spawn: Callable[[Coroutine[Any, Any, Any]], Any],
        log: logging.Logger,
        run_answer: Callable[[dict[str, Any]], dict[str, Any]],
    ) -> None:
        self.settings = settings
        self.network = network
        self.spawn = spawn
        self.log = log
        self.run_answer = run_answer

    def wanted(self, job: JobDefinition, kind: str, channel: str) -> bool:
        """Whether ``channel`` (``"webhook"``, ``"slack"`` or ``"email"``) gets the job's
        alerts of ``kind``: as the job's ``alert_on`` says, else the server's; when neither
        is set, the JSON webhook gets failures only and the other channels every kind."""
        chosen = job.spec.get("alert_on")
        if not isinstance(chosen, list):
            chosen = self.settings.alert_on
        if chosen is None:
            chosen = WEBHOOK_DEFAULT_KINDS if channel == "webhook" else ALERT_KINDS
        return kind in chosen

    def deliver(self, alert: Alert) -> int:
        """Send ``alert`` to the channels of its job that want its kind; answer how many."""
        job, s, kind = alert.job, self.settings, alert.kind
        link = run_link(s.public_url, alert.run["id"] if alert.run else None)
        sent = 0
        url = job.spec.get("webhook_url") or s.alert_webhook_url
        if url and self.wanted(job, kind, "webhook"):
            answer = self.run_answer(alert.run) if alert.run else None
            payload = webhook_payload(alert, link, answer)
            what = f"Alert webhook of job {job.id}"
            self.spawn(self.network(post_json, str(url), payload, self.log, what))
            sent += 1
        url = job.spec.get("slack_webhook_url") or s.alert_slack_webhook_url
        if url and self.wanted(job, kind, "slack"):
            what = f"Slack webhook of job {job.id}"
            self.spawn(self.network(post_json, str(url), slack_payload(alert, link), self.log, what))
            sent += 1
        to = list(job.spec.get("alert_emails") or s.alert_email_to)
        if to and self.wanted(job, kind, "email"):
            if not s.smtp_host:
                self.log.warning("Alert e-mail for job %s not sent: smtp_host is not set", job.id)
                return sent
            body = "\n".join(message_lines(alert, link)) + "\n"
            subject = f"[amphi-scheduler] {alert.title}"
            self.spawn(self.network(send_email, s, to, subject, body, self.log))
            sent += 1
        return sent
