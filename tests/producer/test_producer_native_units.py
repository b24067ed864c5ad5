"""The compiled hot path's building blocks against the Python reference: fixed-point parsing
(never accepts what parse_fixed rejects, same value when it accepts), fixed point -> float
(== int / int true division, also above 2**53), float -> JSON text (== orjson), and whole
records (== orjson.dumps of the record the Python book gives), crossed and empty books included."""

from __future__ import annotations

import importlib
import random
import struct
import sys

import native_engine_required  # noqa: F401 - first: skips or fails this module without the engine
import obm_book_native as native
import orjson
import pytest

from producer.book import MAX_FIXED, SCALE, BadLevel, OrderBook, parse_fixed
from producer.exchanges import binance_usdm
from producer.native_sync import NativeBookSync

pytestmark = pytest.mark.unit


def _texts(rng: random.Random) -> list[str]:
    fixed = [
        "0", "0.0", ".5", "5.", ".", "", "1.2.3", "+1", "-1", " 1", "1 ", "1e3", "1E3", "NaN", "inf",
        "0x10", "1_000", "١", "１", "1.000000001", "1.000000000000", "1.123456780", "00001.5",
        "9" * 64, "9" * 65, "1" + "0" * 30 + ".5", "1" + "0" * 31, str(MAX_FIXED // SCALE),
        f"{MAX_FIXED // SCALE - 1}.99999999", f"{(MAX_FIXED - 1) // SCALE}.{(MAX_FIXED - 1) % SCALE:08d}",
        f"{MAX_FIXED // SCALE}.{MAX_FIXED % SCALE:08d}", "0.00000001", "0.000000005", "2683.80000000",
    ]  # fmt: skip
    fixed += ["1" * n for n in range(15, 24)] + ["1." + "0" * n for n in range(10, 70)]
    fixed += ["9" * 18 + "." + "9" * k for k in range(0, 10)] + ["." + "0" * n + "1" for n in range(5, 25)]
    alphabet = "0123456789.0123456789-+eE x"
    for _ in range(3000):
        fixed.append("".join(rng.choice(alphabet) for _ in range(rng.randrange(1, 14))))
        fixed.append(f"{rng.randrange(10 ** rng.randrange(1, 30))}.{rng.randrange(10**8):08d}")
    return fixed


def test_native_fixed_point_parser_never_disagrees_with_parse_fixed() -> None:
    accepted = 0
    for text in _texts(random.Random(1)):
        try:
            expected: int | None = parse_fixed(text)
        except BadLevel:
            expected = None
        got = native.parse_fixed_text(text)
        assert got == expected, text  # the native parser takes every valid decimal string too
        if '"' not in text and "\\" not in text:  # the frame scanner's one-pass version
            assert native.scan_fixed_token(f'"{text}"') == expected, text
        accepted += got is not None
    assert accepted > 3000


def test_fixed_to_float_is_the_correctly_rounded_division() -> None:
    rng = random.Random(2)
    values = [0, 1, 2**53 - 1, 2**53, 2**53 + 1, 2**64 + 12345, MAX_FIXED - 1]
    values += [rng.randrange(2 ** rng.randrange(1, 127)) for _ in range(20_000)]
    for v in values:
        assert native.fixed_to_float(v) == v / SCALE, v


def test_float_json_is_orjsons_text() -> None:
    rng = random.Random(3)
    values = [0.0, 1.0, 100.0, 1e15, 1e16, 1e17, 1e21, 1e22, 1e-5, 1e-6, 1e-8, 0.1, 2.5e20, 5e-324, 1.7e308]
    values += [rng.randrange(2 ** rng.randrange(1, 127)) / SCALE for _ in range(20_000)]
    values += [struct.unpack("<d", rng.randbytes(8))[0] for _ in range(20_000)]
    for v in values:
        if v == v and abs(v) != float("inf"):
            assert native.float_json(v) == orjson.dumps(v).decode(), repr(v)


def test_fixed_json_is_orjsons_text_of_the_float() -> None:
    """The record writes mid-range values straight from their decimal digits: it must be the
    same text orjson writes for value / 10**8, at the edges of that range too."""
    rng = random.Random(4)
    values = [1, 999, 1000, 1001, 10**15 - 1, 10**15, 10**15 + 1, 2**53, 10**8, 10**12, 123456789012345]
    values += [rng.randrange(2 ** rng.randrange(1, 60)) for _ in range(50_000)]
    values += [rng.randrange(10 ** rng.randrange(3, 16)) // 10 ** rng.randrange(0, 9) * 10 ** rng.randrange(0, 9)
               for _ in range(20_000)]  # fmt: skip
    for v in values:
        assert native.fixed_json(v) == orjson.dumps(v / SCALE).decode(), v


def _python_record(book: OrderBook, depth: int, prev: int | None, resynced: bool) -> bytes:
    bp, bs, ap, asz = book.top(depth)
    return orjson.dumps(
        {
            "schema_version": 1,
            "exchange": "binance_usdm",
            "market": "usdm",
            "symbol": "BTCUSDT",
            "event_time": 17,
            "transaction_time": 16,
            "receive_time_ns": 1_700_000_000_000_000_123,
            "sequence_id": 99,
            "prev_sequence_id": prev,
            "bid_prices": bp,
            "bid_sizes": bs,
            "ask_prices": ap,
            "ask_sizes": asz,
            "resynced": resynced,
            "crossed": bool(bp) and bool(ap) and bp[0] >= ap[0],
        }
    )


@pytest.mark.parametrize("depth", [1, 5, 20, 50])
def test_native_record_is_orjsons_bytes_of_the_python_record(depth: int) -> None:
    """Random books (values up to 2**127, empty and crossed sides) give byte-identical records."""
    rng = random.Random(depth)
    for round_ in range(200):
        magnitude = rng.choice([10, 10**12, 2**60, MAX_FIXED - 1])
        levels = [
            [(rng.randrange(1, magnitude), rng.randrange(0, magnitude)) for _ in range(rng.randrange(0, 40))]
            for _ in range(2)
        ]
        py = OrderBook()
        py.load(*levels)
        sync = NativeBookSync.create(binance_usdm.EXCHANGE, "BTCUSDT", depth)
        core = sync.core
        core.load(*[list(c) for lv in levels for c in (zip(*lv, strict=True) if lv else ((), ()))])
        # one event through step(): sets prev_sequence_id / resynced like BookSync does
        core.local_id, core.live, core.fresh = 10, True, round_ % 2 == 0
        core.last_published = None if round_ % 3 == 0 else 9
        moves = [(rng.randrange(1, magnitude), rng.choice([0, rng.randrange(magnitude)])) for _ in range(5)]
        assert core.step(10, 11, 10, [p for p, _ in moves], [s for _, s in moves], [], []) == 0
        py.apply(moves, [])
        prev = None if round_ % 3 == 0 else 9
        payload, crossed = core.record(17, 16, 1_700_000_000_000_000_123, 99)
        assert payload == _python_record(py, depth, prev, round_ % 2 == 0)
        assert crossed == orjson.loads(payload)["crossed"]
        assert core.levels("bids") == py.levels("bids") and core.levels("asks") == py.levels("asks")


def test_the_feed_fails_clearly_when_the_native_module_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "obm_book_native", None)
    monkeypatch.delitem(sys.modules, "producer.native_sync")
    with pytest.raises(ImportError, match="scripts/bootstrap.sh"):
        importlib.import_module("producer.native_sync")
