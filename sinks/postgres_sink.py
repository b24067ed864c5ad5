"""The database sink: orderbook.processed, .bars, .alerts, .dlq and .raw (sampled) into the tables
of init-db.sql.

One transaction per batch: each table's rows are COPYed into a temp staging table and moved with
INSERT ... SELECT ... ON CONFLICT DO NOTHING, so a replayed batch changes nothing, and the consume
loop commits the Kafka offsets only after this transaction committed.

Rejects: a record that fails its schema or a conversion goes to orderbook.dlq. A value PostgreSQL
refuses (bigint overflow, NUL in text, ...) fails the whole COPY; the sink then bisects that table's
rows inside savepoints until the refused rows are isolated, stores the rest, and sends the refused
ones to the DLQ. Connection errors are transient: the loop retries the batch with backoff.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from typing import Any

import psycopg
from psycopg import sql

from config import PostgresSettings
from schemas.dlq import dlq_record
from schemas.topics import Topic
from sinks.batching import SinkBatch, SinkRecord, WriteResult
from sinks.postgres_rows import (
    ALERTS,
    ALL_TABLES,
    BARS,
    DLQ,
    METRICS,
    SNAPSHOTS,
    TableSpec,
    alerts_row,
    bars_row,
    dlq_row,
    invalid_dlq_row,
    metrics_row,
    snapshot_second,
    snapshots_row,
)
from sinks.record_decoding import RejectedRecord, decode_record, parse_record, validate_record

log = logging.getLogger(__name__)

SOURCE = "sink-postgres"
_CONVERTERS = {Topic.PROCESSED: (METRICS, metrics_row), Topic.BARS: (BARS, bars_row), Topic.ALERTS: (ALERTS, alerts_row)}

_COLUMN_TYPES = """
    SELECT attname::text, format_type(atttypid, atttypmod) FROM pg_attribute
    WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped"""
# A refused value: from the server (class 22 data exception, class 23 integrity violation), or from
# the binary dumpers before it is even sent (an int beyond bigint or float range).
_REFUSED = (psycopg.DataError, psycopg.IntegrityError, OverflowError, ValueError, TypeError)

Row = tuple[Any, ...]
Rejects = list[tuple[SinkRecord, str]]


class PostgresSink:
    name = "postgres"
    topics: tuple[Topic, ...] = (Topic.PROCESSED, Topic.BARS, Topic.ALERTS, Topic.DLQ, Topic.RAW)
    # Connection-level failures: the server is down, restarting or unreachable.
    transient_errors: tuple[type[BaseException], ...] = (psycopg.OperationalError, psycopg.InterfaceError)

    def __init__(self, settings: PostgresSettings, connect_timeout_s: int = 5) -> None:
        self.settings = settings
        self.connect_timeout_s = connect_timeout_s
        self._conn: psycopg.Connection[Any] | None = None
        # Last snapshot second stored per (exchange, symbol): skips re-validating a second's later
        # records. Only updated after a commit, so it never hides a row that is not in the table.
        self._snapshot_seconds: dict[tuple[str, str], int] = {}
        # Column types per table, for binary COPY (3x faster than text COPY here).
        self._types: dict[str, list[str]] = {}

    # -- connection -----------------------------------------------------------------------------
    def setup(self) -> None:
        self._connection()

    def _connection(self) -> psycopg.Connection[Any]:
        if self._conn is None or self._conn.closed:
            conn = psycopg.connect(self.settings.conninfo(), autocommit=True, connect_timeout=self.connect_timeout_s,
                                   application_name="obm-sink-postgres")  # fmt: skip
            for spec in ALL_TABLES:
                conn.execute(
                    sql.SQL("CREATE TEMP TABLE IF NOT EXISTS {} (LIKE {}) ON COMMIT DELETE ROWS").format(
                        sql.Identifier(spec.stage), sql.Identifier(spec.table)
                    )
                )
                types: dict[str, str] = dict(conn.execute(_COLUMN_TYPES, (spec.table,)).fetchall())
                missing = [c for c in spec.columns if c not in types]
                if missing:
                    raise RuntimeError(f"{spec.table} lacks columns {missing}: is init-db.sql applied and current?")
                self._types[spec.table] = [types[c] for c in spec.columns]
            self._conn = conn
            log.info("connected to PostgreSQL %s:%s/%s", self.settings.host, self.settings.port, self.settings.database)
        return self._conn

    def _drop_connection(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            except psycopg.Error:
                pass
        self._conn = None

    def close(self) -> None:
        self._drop_connection()

    # -- write ----------------------------------------------------------------------------------
    def write(self, batch: SinkBatch) -> WriteResult:
        result = WriteResult()
        rows: dict[TableSpec, list[tuple[Row, SinkRecord]]] = defaultdict(list)
        rejects: Rejects = []
        sampled: dict[tuple[str, str], int] = {}
        for topic, recs in batch.by_topic().items():
            if topic is Topic.RAW:
                self._sample_snapshots(recs, rows[SNAPSHOTS], rejects, sampled)
            elif topic is Topic.DLQ:
                self._dlq_rows(recs, rows[DLQ])
            else:
                spec, convert = _CONVERTERS[topic]
                target = rows[spec]
                for rec in recs:
                    try:
                        target.append((convert(decode_record(rec)), rec))
                    except RejectedRecord as exc:
                        rejects.append((rec, exc.reason))
        try:
            conn = self._connection()
            with conn.transaction():
                for spec, items in rows.items():
                    if items:
                        self._store(conn, spec, items, rejects)
        except self.transient_errors:
            self._drop_connection()
            raise
        self._snapshot_seconds.update(sampled)
        rejected_recs = {id(rec) for rec, _ in rejects}
        for items in rows.values():
            for _, rec in items:
                if id(rec) not in rejected_recs:
                    result.count_stored(rec.topic)
        for rec, reason in rejects:
            result.count_rejected(rec.topic)
            if rec.topic is Topic.DLQ:  # never back into the topic it came from
                log.error("orderbook.dlq record %s refused by PostgreSQL: %s", rec.origin, reason)
                continue
            result.dlq.append(
                dlq_record(source=SOURCE, reason=reason, payload=rec.value or b"", origin=rec.origin, key=rec.key_text)
            )
        return result

    def _sample_snapshots(
        self,
        recs: list[SinkRecord],
        out: list[tuple[Row, SinkRecord]],
        rejects: Rejects,
        sampled: dict[tuple[str, str], int],
    ) -> None:
        """The first valid record of each second per symbol becomes a snapshot row. Only those
        candidates are fully validated (a raw record is large; most are not stored here)."""
        chosen: set[tuple[str, str, int]] = set()
        for rec in recs:
            try:
                data = parse_record(rec)
                symbol_key = (data["exchange"], data["symbol"])
                second = snapshot_second(data)
            except RejectedRecord as exc:
                rejects.append((rec, exc.reason))
                continue
            except (KeyError, TypeError, ValueError):
                try:
                    validate_record(Topic.RAW, data)
                    reason = "raw record without a usable exchange, symbol or event_time"
                except RejectedRecord as exc:
                    reason = exc.reason
                rejects.append((rec, reason))
                continue
            if (*symbol_key, second) in chosen or self._snapshot_seconds.get(symbol_key) == second:
                continue
            try:
                row = snapshots_row(validate_record(Topic.RAW, data))
            except RejectedRecord as exc:
                rejects.append((rec, exc.reason))
                continue
            chosen.add((*symbol_key, second))
            sampled[symbol_key] = second
            out.append((row, rec))

    @staticmethod
    def _dlq_rows(recs: list[SinkRecord], out: list[tuple[Row, SinkRecord]]) -> None:
        for rec in recs:
            try:
                out.append((dlq_row(decode_record(rec), rec), rec))
            except RejectedRecord as exc:
                out.append((invalid_dlq_row(rec, exc.reason, SOURCE), rec))

    def _store(self, conn: psycopg.Connection[Any], spec: TableSpec, items: list[tuple[Row, SinkRecord]],
               rejects: Rejects) -> None:  # fmt: skip
        """COPY + INSERT in a savepoint; on a refused value, bisect to find the refused rows."""
        try:
            with conn.transaction():
                self._copy_insert(conn, spec, [row for row, _ in items])
        except _REFUSED as exc:
            if len(items) == 1:
                diag = (exc.diag.message_primary if isinstance(exc, psycopg.Error) else None) or str(exc)
                rejects.append((items[0][1], f"rejected by PostgreSQL ({spec.table}): {diag}"))
                return
            mid = len(items) // 2
            self._store(conn, spec, items[:mid], rejects)
            self._store(conn, spec, items[mid:], rejects)

    def _copy_insert(self, conn: psycopg.Connection[Any], spec: TableSpec, rows: list[Row]) -> int:
        cols = sql.SQL(", ").join(map(sql.Identifier, spec.columns))
        stage, table = sql.Identifier(spec.stage), sql.Identifier(spec.table)
        with conn.cursor() as cur:
            # Rows of an earlier savepoint of this transaction may still be staged (bisect path):
            # clear them so each INSERT moves only its own rows.
            cur.execute(sql.SQL("DELETE FROM {}").format(stage))
            with cur.copy(sql.SQL("COPY {} ({}) FROM STDIN (FORMAT BINARY)").format(stage, cols)) as copy:
                copy.set_types(self._types[spec.table])
                for row in rows:
                    copy.write_row(row)
            cur.execute(
                sql.SQL("INSERT INTO {} ({}) SELECT {} FROM {} ON CONFLICT DO NOTHING").format(table, cols, cols, stage)
            )
            return cur.rowcount
