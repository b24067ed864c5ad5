"""The `obm-json` format (flink_jobs/java/.../format) against Flink's own `json` format: the
same JSON lines read through `'format' = 'json'` with `json.ignore-parse-errors` (what our sources
used before) and through `'format' = 'obm-json'` must give the same rows, value for value (-0.0,
NaN and int-vs-float included), and the same rows written by both must parse to equal objects."""

from __future__ import annotations

import json
import random
import uuid
from pathlib import Path
from typing import Any

import orjson
import pytest
from pyflink.table import TableEnvironment

from flink_jobs.connectors import schema_columns
from producer.book import OrderBook
from producer.capture import load_capture
from producer.exchanges import binance_spot
from producer.sync import BookSync, Outcome
from schemas import Topic, load_schema
from tests.conftest import CAPTURE
from tests.flink.book_sequences import random_walk_books
from tests.flink.nested_rows import fold, leaves

pytestmark = pytest.mark.integration

JSON = {"format": "json", "json.ignore-parse-errors": "true"}
OBM_JSON = {"format": "obm-json"}
Columns = list[tuple[str, str]]


def _ddl(name: str, columns: Columns, folder: Path, options: dict[str, str]) -> str:
    cols = ",\n  ".join(f"`{c}` {t}" for c, t in columns)
    opts = ",\n  ".join(
        f"'{k}' = '{v.replace(chr(39), chr(39) * 2)}'"
        for k, v in ({"connector": "filesystem", "path": str(folder)} | options).items()
    )
    return f"CREATE TEMPORARY TABLE `{name}` (\n  {cols}\n) WITH (\n  {opts}\n)"


def _canon(value: Any) -> Any:
    """A value in a form where equal means identical: floats by repr (-0.0 != 0.0, NaN == NaN,
    1.0 != 1), arrays element by element, everything else tagged with its type."""
    if isinstance(value, float):
        return ("float", repr(value))
    if isinstance(value, list | tuple):
        return ("list", tuple(_canon(v) for v in value))
    if isinstance(value, dict):
        return ("dict", tuple(sorted((k, _canon(v)) for k, v in value.items())))
    return (type(value).__name__, value)


def _write_lines(folder: Path, lines: list[str | bytes]) -> Path:
    folder.mkdir(parents=True)
    data = b"".join((line.encode() if isinstance(line, str) else line) + b"\n" for line in lines)
    (folder / "part-0.json").write_bytes(data)
    return folder


def _read(
    t_env: TableEnvironment,
    folder: Path,
    columns: Columns,
    options: dict[str, str],
    select: list[str] | None = None,
) -> list[tuple]:
    """The rows of `folder` read with `options`; arrays as Flink's CAST to STRING shows them
    ("[1.0, NULL, -0.0]": PyFlink's collect cannot hand over an array with a null element)."""
    name = f"src_{uuid.uuid4().hex[:8]}"
    t_env.execute_sql(_ddl(name, columns, folder, options))
    types = dict(columns)
    exprs: list[str] = []
    for c in select or list(types):
        if types[c].startswith("ROW<"):  # leaf by leaf (tests/flink/nested_rows.py)
            exprs += leaves(f"`{c}`", types[c])
        else:
            exprs.append(f"CAST(`{c}` AS STRING)" if types[c].startswith("ARRAY") else f"`{c}`")
    with t_env.execute_sql(f"SELECT {', '.join(exprs)} FROM `{name}`").collect() as results:
        return [fold(list(row), [types[c] for c in select or list(types)]) for row in results]


def _assert_same_rows(
    t_env: TableEnvironment,
    tmp_path: Path,
    columns: Columns,
    lines: list[str | bytes],
    select: list[str] | None = None,
) -> list[tuple]:
    folder = _write_lines(tmp_path / f"in-{uuid.uuid4().hex[:8]}", lines)
    flink_rows = _read(t_env, folder, columns, JSON, select)
    obm_rows = _read(t_env, folder, columns, OBM_JSON, select)
    assert len(obm_rows) == len(flink_rows)
    diffs = [
        (i, f, o) for i, (f, o) in enumerate(zip(flink_rows, obm_rows, strict=True)) if _canon(f) != _canon(o)
    ]
    assert not diffs, "rows differ (index, json, obm-json):\n" + "\n".join(map(repr, diffs[:10]))
    return obm_rows


def _with_every_column(topic: Topic, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The records as rows of the topic's columns: an optional field that is absent is NULL."""
    return [{c: r.get(c) for c, _ in schema_columns(topic)} for r in records]


def _as_records(columns: Columns, rows: list[tuple]) -> list[dict[str, Any]]:
    """Rows of `_read` as dicts, ARRAY<DOUBLE> strings parsed back into lists of floats."""

    def value(sql_type: str, v: Any) -> Any:
        if sql_type != "ARRAY<DOUBLE>" or v is None:
            return v
        inner = v.removeprefix("[").removesuffix("]")
        return [None if x == "NULL" else float(x) for x in inner.split(", ")] if inner else []

    return [{c: value(t, v) for (c, t), v in zip(columns, row, strict=True)} for row in rows]


# ---------------------------------------------------------------------------------------------
# inputs


def capture_raw_records(limit: int) -> list[dict[str, Any]]:
    """orderbook.raw records from the real Binance capture, as the producer's Python engine makes
    them (snapshot + diff depth through BookSync, top 20 a side as floats), without a broker."""
    capture = load_capture(CAPTURE)
    start = capture.snapshot_indices("ETHUSDT")[0]
    sync = BookSync("ETHUSDT", binance_spot.EXCHANGE.continuity)
    records: list[dict[str, Any]] = []

    def emit(ev: Any) -> None:
        book: OrderBook = sync.book
        bp, bq, ap, aq = book.top(20)
        records.append(
            {
                "schema_version": 1,
                "exchange": binance_spot.EXCHANGE.id,
                "market": binance_spot.EXCHANGE.market,
                "symbol": "ETHUSDT",
                "event_time": ev.event_time,
                "transaction_time": ev.transaction_time,
                "receive_time_ns": ev.receive_time_ns,
                "sequence_id": ev.final_id,
                "prev_sequence_id": sync.record_prev_id,
                "bid_prices": bp,
                "bid_sizes": bq,
                "ask_prices": ap,
                "ask_sizes": aq,
                "resynced": sync.record_resynced,
                "crossed": bool(bp and ap and bp[0] >= ap[0]),
            }
        )

    for frame in capture.frames[:start]:
        if frame.first_id:
            sync.on_event(binance_spot.parse_diff(orjson.loads(frame.raw)["data"], frame.receive_ns))
    sync.on_snapshot(binance_spot.parse_snapshot(orjson.loads(capture.frames[start].raw)), emit)
    for frame in capture.frames[start + 1 :]:
        if len(records) >= limit:
            break
        if frame.first_id:
            ev = binance_spot.parse_diff(orjson.loads(frame.raw)["data"], frame.receive_ns)
            if sync.on_event(ev) is Outcome.APPLIED:
                emit(ev)
    return records


def synthetic_records(topic: Topic, n: int, seed: int) -> list[dict[str, Any]]:
    """Records of a topic's shape (every schema column, in schema order), nulls where the schema
    allows them, doubles over many magnitudes, strings with escapes and non-ASCII characters."""
    rng = random.Random(seed)
    strings = ["binance", "spot", "ETHUSDT", 'say "hi"\\ back\tslash', "é ü 日本 😀", "", "line\nbreak"]
    out = []
    specs = load_schema(topic)["properties"]

    def nested(spec: dict[str, Any]) -> dict[str, Any] | None:
        """A nested object (an alert's context): every property, numbers over many magnitudes,
        nulls where allowed."""
        if rng.random() < 0.2:
            return None
        out: dict[str, Any] = {}
        for name, inner in spec["properties"].items():
            kind = inner["type"][0]
            if kind == "object":
                out[name] = nested(inner)
            elif rng.random() < 0.2:
                out[name] = None
            else:
                out[name] = (
                    rng.choice(strings) if kind == "string" else rng.gauss(0, 1) * 10 ** rng.randint(-9, 9)
                )
        return out

    for _ in range(n):
        rec: dict[str, Any] = {}
        for col, typ in schema_columns(topic):
            if typ.startswith("ROW<"):
                rec[col] = nested(specs[col])
            elif rng.random() < 0.1 and typ in ("DOUBLE", "BOOLEAN"):
                rec[col] = None
            elif typ == "DOUBLE":
                rec[col] = rng.choice(
                    [rng.uniform(-1, 1), rng.gauss(0, 1) * 10 ** rng.randint(-9, 9), 0.0, -0.0]
                )
            elif typ == "BOOLEAN":
                rec[col] = rng.random() < 0.5
            elif typ == "BIGINT":
                rec[col] = rng.choice(
                    [0, 1_723_161_240_000 + rng.randint(0, 10**6), 2**62 + rng.randint(0, 99)]
                )
            elif typ == "INT":
                rec[col] = 1
            else:
                rec[col] = rng.choice(strings)
        out.append(rec)
    return out


EDGE_COLUMNS: Columns = [
    ("i", "INT"),
    ("b", "BIGINT"),
    ("d", "DOUBLE"),
    ("f", "BOOLEAN"),
    ("s", "STRING"),
    ("ad", "ARRAY<DOUBLE>"),
    ("ab", "ARRAY<BIGINT>"),
    ("ai", "ARRAY<INT>"),
    ("af", "ARRAY<BOOLEAN>"),
    ("as", "ARRAY<STRING>"),
    ("aad", "ARRAY<ARRAY<DOUBLE>>"),
]

FULL = (
    '{"i": 1, "b": 2, "d": 3.5, "f": true, "s": "x", "ad": [1.5, 2.5], "ab": [1, 2], "ai": [3],'
    ' "af": [false], "as": ["a"], "aad": [[1.0], []]}'
)
# A DOUBLE (and DOUBLE array element) given every kind of JSON value.
DOUBLE_VALUES = [
    "1e-7",
    "-0.0",
    "1E+300",
    "1e400",
    "-1e-400",
    "0.1",
    "2.5e-323",
    "1.7976931348623157e308",
    "123456789012345678901234567890",
    "9007199254740993",
    "-0",
    "0",
    "5",
    "-12",
    '"1.5"',
    '" 2.5 "',
    '"NaN"',
    '"-Infinity"',
    '"1e5"',
    '"0x1p3"',
    '"1.5d"',
    '"abc"',
    '""',
    "true",
    "false",
    "[1]",
    "{}",
    '"-0"',
    "1.0000000000000002",
    "4.9e-324",
    "0.30000000000000004",
    "100",
    "-9223372036854775808",
]
EDGE_LINES: list[str | bytes] = [
    FULL,
    '{"i": null, "b": null, "d": null, "f": null, "s": null, "ad": null, "ab": null, "ai": null,'
    ' "af": null, "as": null, "aad": null}',
    "{}",
    '{"d": 1.25}',
    '{"x": {"y": [1, {"z": 2}], "d": 9}, "d": 1.5, "w": [[]], "v": null, "u": "s", "t": true}',
    '{"aad": [[2.0]], "as": ["q"], "af": [true], "ai": [7], "ab": [8], "ad": [9.5], "s": "r", "f": false,'
    ' "d": -2.5, "b": -3, "i": -4}',
    *[f'{{"d": {v}, "ad": [{v}, {v}]}}' for v in DOUBLE_VALUES],
    *[
        f'{{"b": {v}, "ab": [{v}]}}'
        for v in [
            "1.9",
            "-1.9",
            "1e3",
            "9223372036854775807",
            "9223372036854775808",
            '"42"',
            '" 42 "',
            '"4.2"',
            "true",
            "1e20",
            '"-7"',
            "{}",
        ]
    ],
    *[f'{{"i": {v}, "ai": [{v}]}}' for v in ["2147483648", '"7"', "7.5", "-2147483648", '"x"', "1e2"]],
    *[
        f'{{"f": {v}, "af": [{v}]}}'
        for v in ['"true"', '"TRUE"', '"yes"', "1", "0", '"false"', '" true "', "[]"]
    ],
    *[
        f'{{"s": {v}, "as": [{v}]}}'
        for v in [
            "12",
            "1.50",
            "true",
            '{"a": [1, 2.50, "x"]}',
            '[1, "x", null]',
            '"esc \\" \\\\ \\n \\t \\u00e9 \\ud83d\\ude00"',
            '"日本 ü"',
            '"1e5"',
            "-0.0",
            "1E+300",
        ]
    ],
    '{"s": "tab\tliteral"}',
    b'{"s": "raw\x01control"}',
    '{"ad": [], "ab": [], "ai": [], "af": [], "as": [], "aad": []}',
    '{"ad": [null], "ab": [null], "ai": [null], "af": [null], "as": [null], "aad": [null, [null]]}',
    '{"ad": [1.0, null, 3], "aad": [[1.0, null], [], null, [2]]}',
    '{"ad": [1, 2.5, "3", "x", true, [4, 5], {"k": 6}, 7], "i": 1}',
    '{"ad": "notarray", "ab": 5, "aad": [1.0, [2.0]], "as": {"a": 1}, "i": 2}',
    # containers where a scalar belongs: the walk goes on inside them, as Flink's does
    '{"d": {"i": 5, "b": 6}, "s": "after"}',
    '{"d": [1, 2], "i": 3, "b": 4}',
    '{"i": {"d": 9.5, "x": [1]}, "f": true}',
    '{"ad": [[1.0, 2.0], 3.0], "d": 1.0}',
    # duplicate keys
    '{"d": 1, "d": 2, "i": 3}',
    '{"i": 1, "b": 2, "d": 3, "f": true, "s": "x", "ad": [], "ab": [], "ai": [], "af": [], "as": [], "aad": [],'
    ' "i": 99, "s": "dup"}',
    # malformed: no row from either
    '{"d": 1.5,',
    '{"d": }',
    "not json",
    "[1, 2]",
    "null",
    '"str"',
    "42",
    "{'d': 1}",
    '{"d": NaN}',
    '{"d": .5}',
    '{"d": 01}',
    '{"d": +1}',
    '{"ad": [1.0, 2.0, }',
    '{"ad": [1.0, 2.0',
    '{"s": "unterminated}',
    "   ",
    # ... and content after the object, which neither checks
    '{"d": 1.5} trailing',
    '{"d": 2.5}}',
    '{"d": 3.5} {"d": 4.5}',
    FULL,
]


# ---------------------------------------------------------------------------------------------
# decoding


def test_raw_records_from_the_real_capture_and_synthetic_books_decode_the_same(
    local_table_env, tmp_path
) -> None:
    captured = capture_raw_records(400)
    assert len(captured) == 400 and all(len(r["bid_prices"]) == 20 for r in captured)
    synthetic = random_walk_books(300, seed=11)
    lines = [orjson.dumps(r) for r in captured] + [json.dumps(r) for r in synthetic]
    rows = _assert_same_rows(local_table_env, tmp_path, schema_columns(Topic.RAW), lines)
    assert len(rows) == 700
    # the rows are the records (the comparison above is not between two empty or null results)
    records = _as_records(schema_columns(Topic.RAW), rows)
    assert records == _with_every_column(Topic.RAW, captured + synthetic)


@pytest.mark.parametrize("topic", [Topic.PROCESSED, Topic.BARS, Topic.ALERTS])
def test_processed_bars_and_alerts_shaped_records_decode_the_same(local_table_env, tmp_path, topic) -> None:
    records = synthetic_records(topic, 300, seed=len(topic.value))
    rows = _assert_same_rows(
        local_table_env, tmp_path, schema_columns(topic), [json.dumps(r) for r in records]
    )
    assert _as_records(schema_columns(topic), rows) == records


def test_edge_case_corpus_decodes_the_same(local_table_env, tmp_path) -> None:
    rows = _assert_same_rows(local_table_env, tmp_path, EDGE_COLUMNS, EDGE_LINES)
    # the corpus does reach the interesting branches (not all rows null, not all lines rejected)
    assert 60 < len(rows) < len(EDGE_LINES)
    d = {repr(r[2]) for r in rows}
    assert {"-0.0", "nan", "inf", "1e-07", "1e+300", "5.0", "1.5", "8.0"} <= d
    assert any(r[5] is not None and "NULL" in r[5] for r in rows)


def test_projected_columns_decode_the_same(local_table_env, tmp_path) -> None:
    """A query reading some columns only (the decoders get the projected row type)."""
    _assert_same_rows(local_table_env, tmp_path, EDGE_COLUMNS, EDGE_LINES, select=["s", "d", "ad"])


def test_unsupported_column_type_or_option_fails_when_the_table_is_used(local_table_env, tmp_path) -> None:
    folder = _write_lines(tmp_path / "in", [FULL])
    bad = [("i", "INT"), ("ts", "TIMESTAMP(3)")]
    with pytest.raises(Exception, match="column `ts` of type TIMESTAMP\\(3\\)"):
        _read(local_table_env, folder, bad, OBM_JSON)
    with pytest.raises(Exception, match="column `m` of type ARRAY<DECIMAL"):
        _read(local_table_env, folder, [("m", "ARRAY<DECIMAL(10, 2)>")], OBM_JSON)


# ---------------------------------------------------------------------------------------------
# encoding


def _encode_both(
    t_env: TableEnvironment, tmp_path: Path, columns: Columns, lines: list[str | bytes]
) -> tuple[list, list]:
    """Rows read (by Flink's json) from `lines`, written by a json sink and an obm-json sink in one
    job; returns the parsed lines of each."""
    source = _write_lines(tmp_path / f"in-{uuid.uuid4().hex[:8]}", lines)
    tag = uuid.uuid4().hex[:8]
    t_env.execute_sql(_ddl(f"src_{tag}", columns, source, JSON))
    outputs = {}
    statements = t_env.create_statement_set()
    for label, options in (("json", {"format": "json"}), ("obm", OBM_JSON)):
        folder = tmp_path / f"out-{label}-{tag}"
        t_env.execute_sql(_ddl(f"sink_{label}_{tag}", columns, folder, options))
        statements.add_insert_sql(f"INSERT INTO `sink_{label}_{tag}` SELECT * FROM `src_{tag}`")
        outputs[label] = folder
    statements.execute().wait()
    parsed = {}
    for label, folder in outputs.items():
        files = sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.startswith("."))
        assert files, f"no output from the {label} sink"
        text = "".join(p.read_text(encoding="utf-8") for p in files)
        parsed[label] = [json.loads(line, object_pairs_hook=list) for line in text.splitlines() if line]
    return parsed["json"], parsed["obm"]


def _assert_same_json(flink: list, obm: list) -> None:
    assert len(obm) == len(flink)
    diffs = [(i, f, o) for i, (f, o) in enumerate(zip(flink, obm, strict=True)) if _canon(f) != _canon(o)]
    assert not diffs, "outputs differ (index, json, obm-json):\n" + "\n".join(map(repr, diffs[:10]))


def test_rows_written_by_both_formats_parse_to_equal_objects(local_table_env, tmp_path) -> None:
    """Edge values (NaN, infinities, -0.0, subnormals, nulls in arrays, escapes, unicode, control
    characters) and the raw, processed and alerts shapes; fields in column order, nulls written."""
    flink, obm = _encode_both(local_table_env, tmp_path, EDGE_COLUMNS, EDGE_LINES)
    _assert_same_json(flink, obm)
    assert len(obm) > 60
    assert all([k for k, _ in rec] == [c for c, _ in EDGE_COLUMNS] for rec in obm)
    values = {json.dumps(v) for rec in obm for _, v in rec}
    assert {'"NaN"', '"Infinity"', "-0.0", "1e-07", "null"} <= values

    raw = capture_raw_records(200)
    flink, obm = _encode_both(
        local_table_env, tmp_path, schema_columns(Topic.RAW), [orjson.dumps(r) for r in raw]
    )
    _assert_same_json(flink, obm)
    assert [dict(rec) for rec in obm] == _with_every_column(Topic.RAW, raw)

    processed = synthetic_records(Topic.PROCESSED, 200, seed=5)
    flink, obm = _encode_both(
        local_table_env, tmp_path, schema_columns(Topic.PROCESSED), [json.dumps(r) for r in processed]
    )
    _assert_same_json(flink, obm)
    assert [dict(rec) for rec in obm] == processed

    # nested objects (an alert's context) as Flink's json writes them: every field, nulls written
    alerts = synthetic_records(Topic.ALERTS, 100, seed=7)
    flink, obm = _encode_both(
        local_table_env, tmp_path, schema_columns(Topic.ALERTS), [json.dumps(r) for r in alerts]
    )
    _assert_same_json(flink, obm)
    assert any(dict(rec)["context"] is not None for rec in obm)
