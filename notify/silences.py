"""Silences: alerts that match a silence's patterns are not delivered until it ends. Stored in
PostgreSQL (alert_silences), set and removed with `obm alerts silence` (notify/silence_cli.py), and
applied by the dispatcher at the moment a group would go out, so a silence set while alerts wait in
their group window covers them too."""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from fnmatch import fnmatchcase
from typing import Any

import psycopg

from notify.routing import symbol_matches

COLUMNS = "id, symbols, alert_type, severity, starts_at, ends_at, created_by, comment, removed_at"


@dataclass(frozen=True)
class Silence:
    id: str
    symbols: str  # a routing.symbol_matches pattern
    alert_type: str
    severity: str
    starts_at: datetime
    ends_at: datetime
    created_by: str
    comment: str
    removed_at: datetime | None = None

    def active(self, now: datetime) -> bool:
        return self.removed_at is None and self.starts_at <= now < self.ends_at

    def matches(self, alert: Mapping[str, Any]) -> bool:
        return (
            symbol_matches(self.symbols, alert["exchange"], alert["symbol"])
            and fnmatchcase(alert["alert_type"], self.alert_type)
            and fnmatchcase(alert["severity"], self.severity)
        )


def silenced_by(silences: Sequence[Silence], alert: Mapping[str, Any], now: datetime) -> Silence | None:
    return next((s for s in silences if s.active(now) and s.matches(alert)), None)


def new_silence(symbols: str, alert_type: str, severity: str, starts_at: datetime, ends_at: datetime,
                created_by: str, comment: str = "") -> Silence:  # fmt: skip
    """A silence to add (`obm alerts silence`, the dashboard's alert feed). Refuses one that
    would mute everything, or ends before it starts, with the reason."""
    if symbols.strip() in ("", "*") and alert_type == "*" and severity == "*":
        raise ValueError("a silence of everything: name at least a symbol, a type or a severity")
    if ends_at <= starts_at:
        raise ValueError("a silence must end after it starts")
    return Silence(secrets.token_hex(4), symbols.strip() or "*", alert_type, severity, starts_at, ends_at,
                   created_by, comment)  # fmt: skip


def add(conn: psycopg.Connection[Any], silence: Silence) -> None:
    conn.execute(
        f"INSERT INTO alert_silences ({COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
        (silence.id, silence.symbols, silence.alert_type, silence.severity, silence.starts_at,
         silence.ends_at, silence.created_by, silence.comment, silence.removed_at),
    )  # fmt: skip


def listed(conn: psycopg.Connection[Any], now: datetime, *, include_ended: bool = False) -> list[Silence]:
    where = "" if include_ended else "WHERE removed_at IS NULL AND ends_at > %(now)s"
    rows = conn.execute(f"SELECT {COLUMNS} FROM alert_silences {where} ORDER BY starts_at", {"now": now})
    return [Silence(*row) for row in rows]


def remove(conn: psycopg.Connection[Any], silence_id: str, now: datetime) -> bool:
    """Ends a silence now (the row stays, with removed_at). False when no active one has that id."""
    cur = conn.execute(
        "UPDATE alert_silences SET removed_at = %s WHERE id = %s AND removed_at IS NULL", (now, silence_id)
    )
    return cur.rowcount == 1
