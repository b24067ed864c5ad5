"""The one client of the JobManager's REST API, the job states, and one-line causes of Flink errors.

Everything that talks to Flink over REST (the job lifecycle, `obm status`, the embedded cluster's
health check, the Compose rollout) goes through `FlinkRest`, so a failure reads the same
everywhere: the exception's message is one line naming the cause (Flink answers errors with whole
serialized Java throwables, ~30 KB for a failed savepoint), the full text is kept in `detail` for
the logs."""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from enum import StrEnum
from typing import Any

from config import FlinkSettings


class JobState(StrEnum):
    """Flink's job states (JobStatus)."""

    INITIALIZING = "INITIALIZING"
    CREATED = "CREATED"
    RUNNING = "RUNNING"
    FAILING = "FAILING"
    FAILED = "FAILED"
    CANCELLING = "CANCELLING"
    CANCELED = "CANCELED"
    FINISHED = "FINISHED"
    RESTARTING = "RESTARTING"
    SUSPENDED = "SUSPENDED"
    RECONCILING = "RECONCILING"


# A job in one of these states is the job of its name: it runs, or is about to run again. A job
# in a restart loop (RESTARTING, FAILING) still counts: submitting another beside it would double it.
ACTIVE_STATES = frozenset(
    {
        JobState.INITIALIZING,
        JobState.CREATED,
        JobState.RUNNING,
        JobState.FAILING,
        JobState.RESTARTING,
        JobState.RECONCILING,
    }
)
# States in which a job has failed or is failing: `obm status` names them with the last exception.
FAILING_STATES = frozenset({JobState.FAILING, JobState.FAILED, JobState.RESTARTING})

MAX_LINE_CHARS = 240


class JobLifecycleError(RuntimeError):
    """A REST call, a submission or a savepoint failed. `str()` is one line with the cause; the
    full text Flink gave (stack traces, client output) is in `detail`."""

    def __init__(self, summary: str, detail: str | None = None) -> None:
        super().__init__(summary)
        self.detail = detail if detail is not None else summary

    @property
    def savepoint_incompatible(self) -> bool:
        """The savepoint holds state of an operator the new program no longer has (the job's SQL
        changed between versions)."""
        return "Cannot map checkpoint/savepoint state" in self.detail


_CAUSE = re.compile(r"^\s*Caused by:\s*(.+)$", re.M)
_JAVA_CLASS = re.compile(r"\b(?:[a-z_][a-z0-9_]*\.)+([A-Z]\w*(?:Exception|Error|Throwable)\b)")
_WRAPPERS = (
    "CompletionException",
    "ExecutionException",
    "RestHandlerException",
    "ProgramInvocationException",
    "JobException: Recovery is suppressed",
)


def one_line_cause(text: str) -> str:
    """The most telling line of a Java stack trace or of Flink's error text, without packages.

    The first line names what failed; the innermost `Caused by:` usually says why. Both are kept
    when they differ, unless the first is a mere wrapper (CompletionException and the like)."""
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    if not lines:
        return "no detail"
    first = next((ln for ln in lines if not ln.startswith("at ")), lines[0])
    causes = _CAUSE.findall(text)
    line = first
    if causes:
        root = causes[-1].strip()
        line = root if any(w in first for w in _WRAPPERS) or root in first else f"{first} (caused by {root})"
    line = _JAVA_CLASS.sub(r"\1", line)
    return line if len(line) <= MAX_LINE_CHARS else line[: MAX_LINE_CHARS - 3] + "..."


def _error_text(body: bytes) -> str:
    """Flink answers errors as {"errors": ["message", "stack trace"...]}; anything else as is."""
    text = body.decode(errors="replace")
    try:
        errors = json.loads(text).get("errors")
    except (ValueError, AttributeError):
        return text
    return "\n".join(str(e) for e in errors) if errors else text


class FlinkRest:
    """JSON over HTTP to one JobManager. Connection failures raise OSError (URLError), as any
    socket does: callers that probe health treat them as "down"."""

    def __init__(self, jobmanager: str, timeout_s: float = 10.0) -> None:
        self.jobmanager = jobmanager
        self.timeout_s = timeout_s

    @classmethod
    def of(cls, flink: FlinkSettings, timeout_s: float = 10.0) -> FlinkRest:
        return cls(flink.jobmanager, timeout_s)

    def request(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        req = urllib.request.Request(
            f"http://{self.jobmanager}{path}",
            data=None if body is None else json.dumps(body).encode(),
            method=method,
            headers={"Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(req, timeout=self.timeout_s) as resp:
                return json.loads(resp.read() or b"{}")
        except urllib.error.HTTPError as exc:
            detail = _error_text(exc.read())
            raise JobLifecycleError(
                f"{method} {path}: HTTP {exc.code}: {one_line_cause(detail)}", detail
            ) from None

    def get(self, path: str) -> Any:
        return self.request("GET", path)

    def post(self, path: str, body: dict[str, Any]) -> Any:
        return self.request("POST", path, body)

    def patch(self, path: str) -> Any:
        return self.request("PATCH", path)

    def jobs_overview(self) -> list[dict[str, Any]]:
        jobs: list[dict[str, Any]] = self.get("/jobs/overview").get("jobs", [])
        return jobs
