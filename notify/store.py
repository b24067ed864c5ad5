"""The notifier's state in PostgreSQL (tables in init-db.sql): routed alerts waiting for their
group to go out, what became of each, every delivery attempt, and the silences.

Every operation is one transaction on one connection, serialized by a lock (the intake and the
deliveries share the store); a broken connection is reopened on the next operation, and the error
reaches the caller, which retries (intake) or leaves the alerts pending (dispatch)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

import psycopg
from psycopg.types.json import Jsonb

from config import PostgresSettings
from notify.silences import COLUMNS as SILENCE_COLUMNS
from notify.silences import Silence

T = TypeVar("T")
TRANSIENT = (psycopg.OperationalError, psycopg.InterfaceError)


@dataclass(frozen=True)
class Routed:
    """One (alert, receiver) the intake stores."""

    alert_id: str
    receiver: str
    group_key: str
    group_window_s: float
    repeat_interval_s: float
    alert: dict[str, Any]
    received_at: datetime


@dataclass(frozen=True)
class PendingGroup:
    receiver: str
    group_key: str
    first_at: datetime  # the earliest pending alert's intake time
    last_sent_at: datetime | None  # the group's last message, if any
    group_window_s: float
    repeat_interval_s: float
    count: int


@dataclass(frozen=True)
class PendingAlert:
    alert_id: str
    alert: dict[str, Any]
    received_at: datetime


@dataclass(frozen=True)
class Attempt:
    receiver: str
    alert_ids: Sequence[str]
    attempt: int
    notification_id: str
    status: str  # delivered | retrying | failed
    http_code: int | None
    error: str | None
    at: datetime


class Store:
    def __init__(self, pg: PostgresSettings) -> None:
        self.pg = pg
        self._conn: psycopg.AsyncConnection[Any] | None = None
        self._lock = asyncio.Lock()

    async def _run(self, op: Callable[[psycopg.AsyncConnection[Any]], Awaitable[T]]) -> T:
        async with self._lock:
            if self._conn is None or self._conn.closed:
                self._conn = await psycopg.AsyncConnection.connect(self.pg.conninfo(), connect_timeout=5)
            conn = self._conn
            try:
                async with conn.transaction():
                    return await op(conn)
            except TRANSIENT:
                await conn.close()
                self._conn = None
                raise

    async def ping(self) -> None:
        async def op(conn: psycopg.AsyncConnection[Any]) -> None:
            await conn.execute("SELECT 1")

        await self._run(op)

    async def close(self) -> None:
        async with self._lock:
            if self._conn is not None:
                await self._conn.close()
                self._conn = None

    # -- intake ---------------------------------------------------------------------------------
    async def add_routed(self, rows: Sequence[Routed]) -> int:
        """Stores the routed alerts; one already stored (read again after a restart) is left as
        it is. Returns how many were new."""

        async def op(conn: psycopg.AsyncConnection[Any]) -> int:
            new = 0
            async with conn.cursor() as cur:
                for r in rows:
                    await cur.execute(
                        "INSERT INTO alert_notifications (alert_id, receiver, group_key, group_window_s,"
                        " repeat_interval_s, alert, received_at) VALUES (%s, %s, %s, %s, %s, %s, %s)"
                        " ON CONFLICT (alert_id, receiver) DO NOTHING",
                        (r.alert_id, r.receiver, r.group_key, r.group_window_s, r.repeat_interval_s,
                         Jsonb(r.alert), r.received_at),
                    )  # fmt: skip
                    new += cur.rowcount
            return new

        return await self._run(op) if rows else 0

    # -- dispatch -------------------------------------------------------------------------------
    async def pending_groups(self, receivers: Sequence[str]) -> list[PendingGroup]:
        async def op(conn: psycopg.AsyncConnection[Any]) -> list[PendingGroup]:
            cur = await conn.execute(
                """
                SELECT p.receiver, p.group_key, min(p.received_at), (
                           SELECT max(s.decided_at) FROM alert_notifications s
                           WHERE s.receiver = p.receiver AND s.group_key = p.group_key
                             AND s.status = 'sent'),
                       max(p.group_window_s), max(p.repeat_interval_s), count(*)
                FROM alert_notifications p
                WHERE p.status = 'pending' AND p.receiver = ANY(%s)
                GROUP BY p.receiver, p.group_key
                """,
                (list(receivers),),
            )
            return [PendingGroup(*row) for row in await cur.fetchall()]

        return await self._run(op)

    async def pending_alerts(self, receiver: str, group_key: str) -> list[PendingAlert]:
        async def op(conn: psycopg.AsyncConnection[Any]) -> list[PendingAlert]:
            cur = await conn.execute(
                "SELECT alert_id, alert, received_at FROM alert_notifications"
                " WHERE receiver = %s AND group_key = %s AND status = 'pending'"
                " ORDER BY received_at, alert_id",
                (receiver, group_key),
            )
            return [PendingAlert(*row) for row in await cur.fetchall()]

        return await self._run(op)

    async def active_silences(self, now: datetime) -> list[Silence]:
        async def op(conn: psycopg.AsyncConnection[Any]) -> list[Silence]:
            cur = await conn.execute(
                f"SELECT {SILENCE_COLUMNS} FROM alert_silences"
                " WHERE removed_at IS NULL AND starts_at <= %s AND ends_at > %s",
                (now, now),
            )
            return [Silence(*row) for row in await cur.fetchall()]

        return await self._run(op)

    async def mark_silenced(self, receiver: str, alert_ids: Sequence[str], now: datetime) -> None:
        async def op(conn: psycopg.AsyncConnection[Any]) -> None:
            await _decide(conn, receiver, alert_ids, "silenced", now, None)

        await self._run(op)

    async def attempts_so_far(self, receiver: str, alert_ids: Sequence[str]) -> int:
        """Attempts already recorded for these alerts (a delivery resumed after a restart goes on
        counting)."""

        async def op(conn: psycopg.AsyncConnection[Any]) -> int:
            cur = await conn.execute(
                "SELECT coalesce(max(attempt), 0) FROM alert_delivery_attempts"
                " WHERE receiver = %s AND alert_id = ANY(%s)",
                (receiver, list(alert_ids)),
            )
            row = await cur.fetchone()
            return int(row[0]) if row else 0

        return await self._run(op)

    async def record_attempt(self, attempt: Attempt) -> None:
        """The attempt, and for a final one (delivered, failed) the alerts' outcome, in one
        transaction: an outcome is never recorded without its attempt, nor the reverse."""

        async def op(conn: psycopg.AsyncConnection[Any]) -> None:
            a = attempt
            async with conn.cursor() as cur:
                await cur.executemany(
                    "INSERT INTO alert_delivery_attempts (alert_id, receiver, attempt, notification_id,"
                    " status, http_code, error, attempted_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)"
                    " ON CONFLICT (alert_id, receiver, attempt) DO NOTHING",
                    [(i, a.receiver, a.attempt, a.notification_id, a.status, a.http_code, a.error, a.at)
                     for i in a.alert_ids],
                )  # fmt: skip
            if a.status != "retrying":
                status = "sent" if a.status == "delivered" else "failed"
                await _decide(conn, a.receiver, a.alert_ids, status, a.at, a.notification_id)

        await self._run(op)

    async def pending_count(self, receivers: Sequence[str]) -> int:
        async def op(conn: psycopg.AsyncConnection[Any]) -> int:
            cur = await conn.execute(
                "SELECT count(*) FROM alert_notifications WHERE status = 'pending' AND receiver = ANY(%s)",
                (list(receivers),),
            )
            row = await cur.fetchone()
            return int(row[0]) if row else 0

        return await self._run(op)


async def _decide(conn: psycopg.AsyncConnection[Any], receiver: str, alert_ids: Sequence[str],
                  status: str, now: datetime, notification_id: str | None) -> None:  # fmt: skip
    await conn.execute(
        "UPDATE alert_notifications SET status = %s, decided_at = %s, notification_id = %s"
        " WHERE receiver = %s AND alert_id = ANY(%s) AND status = 'pending'",
        (status, now, notification_id, receiver, list(alert_ids)),
    )
