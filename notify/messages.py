"""What a receiver is sent: one message per group of alerts, in the receiver's format. Pure
functions of the group (tests compare them with what the loopback receivers got).

- webhook: the whole notification as JSON (every alert record as its topic's schema defines it);
- slack: `{"text", "blocks"}` of an incoming webhook (mrkdwn, `&<>` escaped);
- telegram: the body of Bot API `sendMessage` (`chat_id`, `text`, `parse_mode` HTML, escaped).

The notification id is derived from the receiver and the alert ids, so the same group sent again
after a restart carries the same id (webhooks get it as the Idempotency-Key header too)."""

from __future__ import annotations

import hashlib
import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

SEVERITY_ORDER = {"low": 0, "medium": 1, "high": 2}
# Alerts listed in one chat message; the rest are counted (the webhook carries them all).
LISTED_ALERTS = 10
TELEGRAM_MAX_CHARS = 4096


@dataclass(frozen=True)
class Notification:
    id: str
    receiver: str
    group_key: str
    alerts: Sequence[Mapping[str, Any]]
    repeat: bool  # the group had a message before: its condition goes on

    @property
    def severity(self) -> str:
        return max((a["severity"] for a in self.alerts), key=SEVERITY_ORDER.__getitem__)

    @property
    def alert_ids(self) -> list[str]:
        return [a["alert_id"] for a in self.alerts]


def notification_id(receiver: str, alert_ids: Sequence[str]) -> str:
    digest = hashlib.sha256("\n".join([receiver, *sorted(alert_ids)]).encode()).hexdigest()
    return f"n-{digest[:20]}"


def make_notification(receiver: str, group_key: str, alerts: Sequence[Mapping[str, Any]],
                      repeat: bool) -> Notification:  # fmt: skip
    return Notification(notification_id(receiver, [a["alert_id"] for a in alerts]), receiver,
                        group_key, alerts, repeat)  # fmt: skip


def _subject(alerts: Sequence[Mapping[str, Any]]) -> str:
    """`imbalance_extreme on binance:ETHUSDT`, or what the alerts share when they differ."""
    types = sorted({a["alert_type"] for a in alerts})
    keys = sorted({f"{a['exchange']}:{a['symbol']}" for a in alerts})
    what = types[0] if len(types) == 1 else f"{len(types)} alert types"
    where = keys[0] if len(keys) == 1 else f"{len(keys)} symbols"
    return f"{what} on {where}"


def summary(n: Notification) -> str:
    head = f"[{n.severity.upper()}] {_subject(n.alerts)}"
    if len(n.alerts) == 1 and not n.repeat:
        return f"{head}: {n.alerts[0]['message']}"
    state = "still firing" if n.repeat else "burst"
    return f"{head}: {len(n.alerts)} alerts ({state})"


def _lines(n: Notification) -> tuple[list[str], int]:
    shown = n.alerts[:LISTED_ALERTS]
    return [f"{a['severity']}: {a['message']}" for a in shown], len(n.alerts) - len(shown)


def webhook_body(n: Notification) -> dict[str, Any]:
    return {
        "notification_id": n.id,
        "receiver": n.receiver,
        "group_key": n.group_key,
        "severity": n.severity,
        "repeat": n.repeat,
        "count": len(n.alerts),
        "summary": summary(n),
        "alerts": [dict(a) for a in n.alerts],
    }


def _mrkdwn(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_body(n: Notification) -> dict[str, Any]:
    lines, more = _lines(n)
    listing = "\n".join(f"• {_mrkdwn(line)}" for line in lines) + (f"\n… and {more} more" if more else "")
    return {
        "text": _mrkdwn(summary(n)),  # the notification's text: mrkdwn too
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": f"*{_mrkdwn(summary(n))}*"}},
            {"type": "section", "text": {"type": "mrkdwn", "text": listing}},
            {"type": "context", "elements": [{"type": "mrkdwn", "text": f"order book monitor · {n.id}"}]},
        ],
    }


def telegram_body(n: Notification, chat_id: str) -> dict[str, Any]:
    lines, more = _lines(n)
    text = "\n".join(
        [f"<b>{html.escape(summary(n))}</b>", *(html.escape(line) for line in lines)]
        + ([f"… and {more} more"] if more else [])
    )
    if len(text) > TELEGRAM_MAX_CHARS:  # only the bold headline is markup: cut plain lines
        text = f"<b>{html.escape(summary(n))}</b>\n" + html.escape(
            "\n".join(lines)[: TELEGRAM_MAX_CHARS - 400]
        ) + "\n…"  # fmt: skip
    return {"chat_id": chat_id, "text": text, "parse_mode": "HTML"}
