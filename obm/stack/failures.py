"""Terminal errors in one line; the whole story in the state folder's log.

A failure of `obm up` or `obm down` can carry pages of text (a component's log tail, a Flink
client's output, a serialized Java throwable). The terminal gets one line with the cause and
where to read the rest; the full text and the Python traceback are appended to
`<state>/logs/obm.log`."""

from __future__ import annotations

import re
import time
import traceback
from pathlib import Path

from flink_jobs.flink_rest import JobLifecycleError, one_line_cause

MAX_CHARS = 300
# A log line that names an error: a Python exception line, a Java one, or a logged ERROR.
_ERROR_LINE = re.compile(r"(\w+(Error|Exception|Failed)\b|\bERROR\b|\bgaierror\b|Errno)")


def one_line(exc: BaseException) -> str:
    """What went wrong, on one line: the message's first line, plus the most telling line of any
    log tail or trace that follows it (the last one naming an error)."""
    if isinstance(exc, JobLifecycleError):
        return str(exc)
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    if not lines:
        return type(exc).__name__
    head = lines[0]
    telling = [ln for ln in lines[1:] if _ERROR_LINE.search(ln) and not ln.startswith(("at ", "File "))]
    line = f"{head} ({one_line_cause(telling[-1])})" if telling else head
    return line if len(line) <= MAX_CHARS else line[: MAX_CHARS - 3] + "..."


def log_file(state_dir: Path) -> Path:
    return state_dir / "logs" / "obm.log"


def record_failure(state_dir: Path, what: str, exc: BaseException) -> Path:
    """Append the full failure (message, Flink's detail, traceback) to the state folder's log."""
    path = log_file(state_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    detail = getattr(exc, "detail", None)
    with path.open("a") as log:
        log.write(f"--- {time.strftime('%Y-%m-%dT%H:%M:%S%z')} {what}\n")
        log.write("".join(traceback.format_exception(exc)))
        if detail and detail not in str(exc):
            log.write(f"detail:\n{detail}\n")
    return path
