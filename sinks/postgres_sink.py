"""The database sink: orderbook.processed, .bars, .alerts, .dlq and .raw (sampled), trades.raw,
trades.bars and pairs.analytics, into the tables of init-db.sql (trade bars by upsert:
sinks/postgres_trade_bars.py).

One transaction per batch, and the consume loop commits the Kafka offsets only after it committed.
Each table's rows are COPYed straight into the table, which is the cheap path on the server (no
staging, no ON CONFLICT work). A replayed batch (after a crash or a failed offset commit) hits the
unique keys: that COPY fails as a whole in its savepoint and the rows go the idempotent way, COPY
into a temp staging table and INSERT ... SELECT ... ON CONFLICT DO NOTHING. So a replay changes
nothing, whichever path stored the rows first.

Every record read is judged against its topic's contract at the batch's instant of the sink's clock
(sinks.decoding.contract: JSON Schema, equal lengths, finite numbers, event time within bounds).
The hot tables (metrics, bars, alerts) are decoded, judged and turned into COPY rows in C by
Structs generated from their schemas (sinks.decoding.structs); a batch with a record those refuse
is decoded and judged column-wise (sinks.decoding.columns), its COPY rows assembled from the columns
(postgres_rows.rows_from_columns), and its rejects get `nonconformity`'s reason. Both happen in
`prepare`, which the consume loop runs for the next batch while this batch's transaction is in
flight. psycopg's C row formatter then writes the binary COPY.

Rejects: a record that breaks its contract or a conversion goes to orderbook.dlq with its kind and
reason, its topic, partition, offset, key and bytes. A value PostgreSQL refuses (bigint overflow,
NUL in text, ...) fails the whole COPY; the sink then bisects that table's rows inside savepoints
until the refused rows are isolated, stores the rest, and sends the refused ones to the DLQ.
Connection errors are transient: the loop retries the batch with backoff.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg import sql

from config import PostgresSettings
from schemas.topics import Topic
from sinks.batching import BatchingSink, BatchPart, SinkBatch, SinkRecord, WriteResult
from sinks.decoding.columns import decode_columns
from sinks.decoding.contract import RejectedRecord, RejectKind, SinkContract, TopicContract
from sinks.decoding.records import decode_record
from sinks.decoding.structs import copy_types, decode_structs, struct_rows
from sinks.postgres_pairs import PAIRS, pairs_row
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
    rows_from_columns,
    snapshot_second,
    snapshots_row,
)
from sinks.postgres_trade_bars import TRADE_BARS, trade_bars_row, upsert_from_stage
from sinks.postgres_trades import TRADES, trades_row

log = logging.getLogger(__name__)

SOURCE = "sink-postgres"
_CONVERTERS = {
    Topic.PROCESSED: (METRICS, metrics_row),
    Topic.BARS: (BARS, bars_row),
    Topic.ALERTS: (ALERTS, alerts_row),
}
# Tables stored row by row from decoded records (decimal texts stored exactly).
_ROW_PATH = {Topic.PAIRS: (PAIRS, pairs_row), Topic.TRADES: (TRADES, trades_row)}

_COLUMN_TYPES = """
    SELECT attname::text, format_type(atttypid, atttypmod) FROM pg_attribute
    WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped"""
# A refused value: from the server (class 22 data exception, class 23 integrity violation), or from
# the binary dumpers before it is even sent (an int beyond bigint or float range).
_REFUSED = (psycopg.DataError, psycopg.IntegrityError, OverflowError, ValueError, TypeError)

Row = tuple[Any, ...]
Rejects = list[tuple[SinkRecord, RejectedRecord]]


@dataclass
class TableLoad:
    """One table's share of a batch: either COPY rows assembled from columns (`fast`, with the dicts
    to fall back on the row converters), or rows built record by record (`items`)."""

    spec: TableSpec
    topic: Topic
    contract: TopicContract  # the instant the batch is judged at, also when decoded again below
    records: list[SinkRecord] = field(default_factory=list)
    part: BatchPart | None = None  # the struct path's records, made only if the row path runs
    fast: tuple[list[str], list[Row]] | None = None  # (the COPY's column types, rows)
    dicts: list[dict[str, Any]] | None = field(default_factory=list)  # None: decode when needed
    convert: Callable[[dict[str, Any]], Row] | None = None
    items: list[tuple[Row, SinkRecord]] | None = None

    def records_of_rows(self) -> list[SinkRecord]:
        """The records the table's rows come from, in row order."""
        if self.part is not None:
            self.records, self.part = self.part.records, None
        return self.records

    def __len__(self) -> int:
        return len(self.part) if self.part is not None else len(self.records)

    def row_items(self, rejects: Rejects) -> list[tuple[Row, SinkRecord]]:
        """The rows of the row-by-row path (conversion failures become rejects). Records taken by
        the struct path have no dicts: they are decoded here, only when this path is needed."""
        if self.items is None:
            assert self.convert is not None
            self.items = []
            if self.dicts is None:
                self.dicts, valid = [], []
                for rec in self.records_of_rows():
                    try:
                        self.dicts.append(decode_record(rec, self.contract))
                        valid.append(rec)
                    except RejectedRecord as exc:
                        rejects.append((rec, exc))
                self.records = valid
            for d, rec in zip(self.dicts, self.records, strict=True):
                try:
                    self.items.append((self.convert(d), rec))
                except RejectedRecord as exc:
                    rejects.append((rec, exc))
        return self.items


@dataclass
class PreparedWrite:
    """A batch decoded and converted, ready for one transaction (PostgresSink.prepare)."""

    loads: list[TableLoad]
    rejects: Rejects
    sampled: dict[tuple[str, str], int]


class PostgresSink(BatchingSink[PreparedWrite]):
    name = "postgres"
    topics = (
        Topic.PROCESSED, Topic.BARS, Topic.ALERTS, Topic.DLQ, Topic.RAW, Topic.TRADES, Topic.TRADE_BARS, Topic.PAIRS
    )  # fmt: skip
    # Connection-level failures: the server is down, restarting or unreachable.
    transient_errors = (psycopg.OperationalError, psycopg.InterfaceError)

    def __init__(self, settings: PostgresSettings, connect_timeout_s: int = 5,
                 contract: SinkContract | None = None) -> None:  # fmt: skip
        self.settings = settings
        self.connect_timeout_s = connect_timeout_s
        self.contract = contract or SinkContract.from_settings()
        self._conn: psycopg.Connection[Any] | None = None
        # Last snapshot second stored per (exchange, symbol): skips a second's later records. Only
        # updated after a commit, so it never hides a row that is not in the table.
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
            for spec in (*ALL_TABLES, TRADES, TRADE_BARS, PAIRS):
                conn.execute(
                    sql.SQL("CREATE TEMP TABLE IF NOT EXISTS {} (LIKE {}) ON COMMIT DELETE ROWS").format(
                        sql.Identifier(spec.stage), sql.Identifier(spec.table)
                    )
                )
                types: dict[str, str] = dict(conn.execute(_COLUMN_TYPES, (spec.table,)).fetchall())
                missing = [c for c in spec.columns if c not in types]
                if missing:
                    raise RuntimeError(
                        f"{spec.table} lacks columns {missing}: is init-db.sql applied and current?"
                    )
                self._types[spec.table] = [types[c] for c in spec.columns]
            self._conn = conn
            log.info(
                "connected to PostgreSQL %s:%s/%s",
                self.settings.host,
                self.settings.port,
                self.settings.database,
            )
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
    def prepare(self, batch: SinkBatch) -> PreparedWrite:
        """Decoding, judging and COPY rows: pure CPU work that touches no connection, so the
        consume loop can run it for the next batch while `write_prepared` waits on the database.
        The whole batch is judged at one reading of the sink's clock."""
        now_ms = self.contract.clock()
        loads: dict[TableSpec, TableLoad] = {}
        rejects: Rejects = []
        sampled: dict[tuple[str, str], int] = {}
        for topic, part in batch.parts().items():
            contract = self.contract.at(topic, now_ms)
            if topic is Topic.RAW:
                snapshots = loads.setdefault(SNAPSHOTS, TableLoad(SNAPSHOTS, topic, contract, items=[]))
                self._sample_snapshots(part, contract, snapshots.row_items(rejects), rejects, sampled)
            elif topic is Topic.DLQ:
                dlq = loads.setdefault(DLQ, TableLoad(DLQ, topic, contract, items=[]))
                self._dlq_rows(part.records, contract, dlq.row_items(rejects))
            elif topic is Topic.TRADE_BARS:  # upserted (sinks/postgres_trade_bars.py): row by row
                bars = TableLoad(TRADE_BARS, topic, contract, records=part.records, dicts=None,
                                 convert=trade_bars_row)  # fmt: skip
                loads[TRADE_BARS] = bars
                bars.row_items(rejects)
            elif topic in _ROW_PATH:  # inserted as the others (sinks/postgres_pairs.py, postgres_trades.py)
                spec, convert = _ROW_PATH[topic]
                load = TableLoad(spec, topic, contract, records=part.records, dicts=None, convert=convert)
                loads[spec] = load
                load.row_items(rejects)
            else:
                spec, convert = _CONVERTERS[topic]
                pg_types = self._types.get(spec.table)
                structs = struct_rows(topic, spec, tuple(pg_types)) if pg_types is not None else None
                rows = structs.rows(part.values, contract) if structs is not None else None
                if rows is not None and pg_types is not None:
                    fast = (copy_types(pg_types), rows)
                    loads[spec] = TableLoad(spec, topic, contract, part=part, fast=fast, dicts=None,
                                            convert=convert)  # fmt: skip
                    continue
                decoded = decode_columns(contract, part.records)
                rejects += decoded.rejects
                load = TableLoad(spec, topic, contract, records=decoded.records, dicts=decoded.dicts,
                                 convert=convert)  # fmt: skip
                if pg_types is not None and decoded.records:
                    load.fast = rows_from_columns(spec, decoded.columns, decoded.types, pg_types)
                loads[spec] = load
        return PreparedWrite([ld for ld in loads.values() if len(ld) or ld.items], rejects, sampled)

    def write_prepared(self, prepared: PreparedWrite) -> WriteResult:
        """Stores a prepared batch in one transaction; idempotent, so it may run again after a failure."""
        rejects: Rejects = list(prepared.rejects)
        try:
            conn = self._connection()
            with conn.transaction():
                for load in prepared.loads:
                    self._store_load(conn, load, rejects)
        except self.transient_errors:
            self._drop_connection()
            raise
        self._snapshot_seconds.update(prepared.sampled)
        result = WriteResult()
        rejected_recs = {id(rec) for rec, _ in rejects}
        for load in prepared.loads:
            if not rejected_recs:
                result.count_stored(load.topic, len(load) if load.items is None else len(load.items))
                continue
            recs = load.records_of_rows() if load.items is None else [rec for _, rec in load.items]
            for rec in recs:
                if id(rec) not in rejected_recs:
                    result.count_stored(rec.topic)
        for rec, rejected in rejects:
            if rec.topic is Topic.DLQ:  # never back into the topic it came from
                log.error("orderbook.dlq record %s refused by PostgreSQL: %s", rec.origin, rejected.reason)
            result.reject(SOURCE, rec, rejected, to_dlq=rec.topic is not Topic.DLQ)
        return result

    def _store_load(self, conn: psycopg.Connection[Any], load: TableLoad, rejects: Rejects) -> None:
        """Direct COPY; on a replay (unique key hit) the idempotent staging path; on a refused value
        the row-by-row path with bisection."""
        if load.fast is not None:
            types, rows = load.fast
            try:
                with conn.transaction():
                    self._copy(conn, load.spec, load.spec.table, rows, types)
                return
            except psycopg.errors.UniqueViolation:
                try:
                    with conn.transaction():
                        self._copy_insert(conn, load.spec, rows, types)
                    return
                except _REFUSED as exc:
                    log.info("%s: COPY refused (%s): storing row by row", load.spec.table, exc)
            except _REFUSED as exc:
                log.info("%s: COPY refused (%s): storing row by row", load.spec.table, exc)
        items = load.row_items(rejects)
        if items:
            self._store(conn, load.spec, items, rejects)

    def _sample_snapshots(self, part: BatchPart, contract: TopicContract, out: list[tuple[Row, SinkRecord]],
                          rejects: Rejects, sampled: dict[tuple[str, str], int]) -> None:  # fmt: skip
        """Judges every raw record (Structs in C for a conforming batch, else one by one); the first
        conforming record of each second per symbol becomes a snapshot row."""
        structs = decode_structs(contract, part.values)
        judged: list[tuple[int, Any]]
        if structs is not None:
            judged = list(enumerate(structs))
        else:
            judged = []
            for i, rec in enumerate(part.records):
                try:
                    judged.append((i, decode_record(rec, contract)))
                except RejectedRecord as exc:
                    rejects.append((rec, exc))
        chosen: set[tuple[str, str, int]] = set()
        for i, raw in judged:
            if type(raw) is dict:
                symbol_key, second = (raw["exchange"], raw["symbol"]), snapshot_second(raw["event_time"])
            else:
                symbol_key, second = (raw.exchange, raw.symbol), snapshot_second(raw.event_time)
            if (*symbol_key, second) in chosen or self._snapshot_seconds.get(symbol_key) == second:
                continue
            rec = part.record(i)
            try:
                row = snapshots_row(raw)
            except RejectedRecord as exc:
                rejects.append((rec, exc))
                continue
            chosen.add((*symbol_key, second))
            sampled[symbol_key] = second
            out.append((row, rec))

    @staticmethod
    def _dlq_rows(recs: list[SinkRecord], contract: TopicContract, out: list[tuple[Row, SinkRecord]]) -> None:
        for rec in recs:
            try:
                out.append((dlq_row(decode_record(rec, contract), rec), rec))
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
                refused = RejectedRecord(
                    RejectKind.DATABASE_REFUSED, f"rejected by PostgreSQL ({spec.table}): {diag}"
                )
                rejects.append((items[0][1], refused))
                return
            mid = len(items) // 2
            self._store(conn, spec, items[:mid], rejects)
            self._store(conn, spec, items[mid:], rejects)

    def _copy(self, conn: psycopg.Connection[Any], spec: TableSpec, table: str, rows: list[Row],
              types: list[str] | None = None) -> None:  # fmt: skip
        """Binary COPY of rows into `table` (the target or its stage); `types` are the types psycopg
        formats the values as (default: the table's column types)."""
        cols = sql.SQL(", ").join(map(sql.Identifier, spec.columns))
        statement = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT BINARY)").format(sql.Identifier(table), cols)
        with conn.cursor() as cur, cur.copy(statement) as copy:
            copy.set_types(types or self._types[spec.table])
            for row in rows:
                copy.write_row(row)

    def _copy_insert(self, conn: psycopg.Connection[Any], spec: TableSpec, rows: list[Row],
                     types: list[str] | None = None) -> int:  # fmt: skip
        cols = sql.SQL(", ").join(map(sql.Identifier, spec.columns))
        stage, table = sql.Identifier(spec.stage), sql.Identifier(spec.table)
        with conn.cursor() as cur:
            # Rows of an earlier savepoint of this transaction may still be staged (bisect path):
            # clear them so each INSERT moves only its own rows.
            cur.execute(sql.SQL("DELETE FROM {}").format(stage))
            self._copy(conn, spec, spec.stage, rows, types)
            if spec is TRADE_BARS:
                cur.execute(upsert_from_stage(spec))
            else:
                cur.execute(
                    sql.SQL("INSERT INTO {} ({}) SELECT {} FROM {} ON CONFLICT DO NOTHING").format(
                        table, cols, cols, stage
                    )
                )
            return cur.rowcount
