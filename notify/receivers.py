"""Sending one message to one receiver over HTTP, and what the answer means for a retry.

2xx: delivered. 429 (with its Retry-After, in seconds or as an HTTP date; Telegram also puts it in
the body), 408, 5xx, a timeout or a connection error: worth retrying. Any other answer (400, 401,
403, 404, ...) will not change on retry: failed at once. Error texts never contain the receiver's
URL or token (a Slack URL and a Telegram token are credentials)."""

from __future__ import annotations

import email.utils
import json
import time
from dataclasses import dataclass
from typing import Any

import aiohttp

from config.notify_routes import NotifyReceiver
from notify.messages import Notification, slack_body, telegram_body, webhook_body

RETRYABLE_CODES = frozenset({408, 429})
ERROR_TEXT_CHARS = 300


@dataclass(frozen=True)
class Outcome:
    delivered: bool
    retryable: bool
    http_code: int | None = None
    error: str | None = None
    retry_after_s: float | None = None  # what the receiver asked for (429)


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Retry-After as seconds: a number of seconds, or an HTTP date (RFC 9110); None if absent or
    unreadable."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def backoff_s(attempt: int, initial_s: float, max_s: float, retry_after_s: float | None) -> float:
    """The wait after failed attempt `attempt` (1-based): the receiver's Retry-After when it gave
    one, else initial * 2^(attempt-1); never more than max_s."""
    wait = retry_after_s if retry_after_s is not None else initial_s * 2 ** (attempt - 1)
    return min(max_s, wait)


class ReceiverClient:
    def __init__(self, receiver: NotifyReceiver, session: aiohttp.ClientSession, timeout_s: float) -> None:
        self.receiver = receiver
        self.session = session
        self.timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._secrets = [s.get_secret_value() for s in (receiver.url, receiver.token) if s is not None]

    @property
    def name(self) -> str:
        return self.receiver.name

    def request(self, n: Notification) -> tuple[str, dict[str, Any], dict[str, str]]:
        """(url, JSON body, headers) of the message."""
        r = self.receiver
        url = r.url.get_secret_value()
        if r.kind == "telegram":
            assert r.token is not None and r.chat_id is not None  # NotifyReceiver checks it
            return (
                f"{url.rstrip('/')}/bot{r.token.get_secret_value()}/sendMessage",
                telegram_body(n, r.chat_id),
                {},
            )
        if r.kind == "slack":
            return url, slack_body(n), {}
        return url, webhook_body(n), {"Idempotency-Key": n.id}

    async def send(self, n: Notification) -> Outcome:
        url, body, headers = self.request(n)
        try:
            async with self.session.post(url, json=body, headers=headers, timeout=self.timeout) as resp:
                text = await resp.text(errors="replace")
                if 200 <= resp.status < 300:
                    return Outcome(True, False, resp.status)
                retry_after = parse_retry_after(resp.headers.get("Retry-After"))
                if retry_after is None and resp.status == 429:
                    retry_after = _telegram_retry_after(text)
                retryable = resp.status in RETRYABLE_CODES or resp.status >= 500
                error = f"HTTP {resp.status}: {text[:ERROR_TEXT_CHARS]}"
                return Outcome(False, retryable, resp.status, self._clean(error), retry_after)
        except TimeoutError:
            return Outcome(False, True, None, f"timeout after {self.timeout.total} s")
        except aiohttp.ClientError as exc:
            return Outcome(False, True, None, self._clean(f"{type(exc).__name__}: {exc}"))

    def _clean(self, text: str) -> str:
        for secret in self._secrets:
            if secret:
                text = text.replace(secret, "***")
        return text


def _telegram_retry_after(text: str) -> float | None:
    """Telegram's 429 body: {"ok": false, "parameters": {"retry_after": 5}, ...}."""
    try:
        params = json.loads(text).get("parameters") or {}
        return float(params["retry_after"])
    except (ValueError, KeyError, TypeError, AttributeError):
        return None
