"""The producer's fast paths against their plain references: strict fixed-point parsing (edge
cases), column parsing == level-by-level parsing on good and bad input, the windowed book ==
a plain sorted book under random updates, and the exchanges' fast frame parsers == their
field-by-field versions."""

from __future__ import annotations

import random
from decimal import Decimal, localcontext
from heapq import nlargest, nsmallest

import pytest

from producer.book import SCALE, BadLevel, OrderBook, parse_columns, parse_fixed, parse_levels
from producer.exchanges import BadFrame, binance_spot, binance_usdm
from producer.exchanges.binance_spot import _parse_diff_checked as spot_checked
from producer.exchanges.binance_usdm import _parse_diff_checked as usdm_checked

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0.00000000", 0),
        ("0", 0),
        ("0.00000001", 1),
        ("0.000000010000000000", 1),  # trailing zeros beyond 8 decimals are still exact
        ("1.50000000000", 150_000_000),
        ("2683.80000000", 268_380_000_000),
        ("5.", 500_000_000),
        ("007.10000000", 710_000_000),
        ("92233720368.54775807", 9_223_372_036_854_775_807),  # 2**63 - 1 ticks
        ("123456789012345678901234567890.12345678", 12345678901234567890123456789012345678),
    ],
)
def test_parse_fixed_edge_cases_are_exact(text: str, expected: int) -> None:
    assert parse_fixed(text) == expected
    with localcontext(prec=200):  # exact at these sizes
        assert Decimal(text) * SCALE == expected


@pytest.mark.parametrize(
    "text",
    [
        "1e-8",
        "1E5",
        "2.5e3",
        "1e+2",
        " 1.0",
        "1.0 ",
        "+1.0",
        "-1.0",
        "-0",
        "\u0661.\u0660",
        "\uff11",
        ".",
        "",
        "Infinity",
        "-inf",
        "0x10",
        "1,5",
        "1.000000001",
        "1" * 70,
        "0." + "0" * 8 + "1",
    ],
)
def test_parse_fixed_rejects_everything_but_plain_decimals(text: str) -> None:
    with pytest.raises(BadLevel):
        parse_fixed(text)


def _same_verdict(raw: object) -> None:
    """parse_columns must accept exactly what parse_levels accepts, with the same values."""
    try:
        expected = parse_levels(raw, "b")
    except BadLevel:
        with pytest.raises(BadLevel):
            parse_columns(raw, "b")
        return
    prices, sizes = parse_columns(raw, "b")
    assert list(zip(prices, sizes, strict=True)) == expected


@pytest.mark.parametrize(
    "raw",
    [
        [],
        [["2683.80000000", "1.00000000"], ["2683.81000000", "0.00000000"]],
        [["5", "1"], ["6", "2"]],
        ["51"],  # a string of two valid one-character numbers is not a level
        [["5", "1"], "51"],
        [{"5": 1, "6": 2}],  # nor is an object with two valid keys
        [["5", "1", "2"]],
        [["5", "1"], ["6"]],
        [["5"], ["6"]],
        [[]],
        [["5", "1"], []],
        [[["5"], "1"]],
        [["5", None]],
        [[5, "1"]],
        [["5", 1.0]],
        [["1e5", "1"]],
        [["5", "1e-3"]],
        [["0.00000000", "1"]],
        [["5", "-0.00000000"]],
        [["5", "NaN"]],
        "not a list",
        None,
    ],
)
def test_parse_columns_agrees_with_parse_levels(raw: object) -> None:
    _same_verdict(raw)


def test_scientific_notation_in_a_frame_is_a_bad_frame() -> None:
    data = {"e": "depthUpdate", "E": 1, "s": "ETHUSDT", "U": 1, "u": 2, "b": [["1e3", "1.0"]], "a": []}
    with pytest.raises(BadFrame, match="not a decimal number"):
        binance_spot.parse_diff(data, 0)
    data["b"] = [["1000.0", "2.5E-1"]]
    with pytest.raises(BadFrame, match="not a decimal number"):
        binance_spot.parse_diff(data, 0)


class ReferenceBook:
    """The obvious implementation: one dict per side, sorted on every read."""

    def __init__(self) -> None:
        self.sides: dict[str, dict[int, int]] = {"bids": {}, "asks": {}}

    def apply(self, side: str, levels: list[tuple[int, int]]) -> None:
        book = self.sides[side]
        for price, size in levels:
            if size:
                book[price] = size
            else:
                book.pop(price, None)

    def levels(self, side: str, n: int | None = None) -> list[tuple[int, int]]:
        book = self.sides[side]
        prices = (
            (nlargest(n, book) if side == "bids" else nsmallest(n, book))
            if n
            else sorted(book)[:: -1 if side == "bids" else 1]
        )
        return [(p, book[p]) for p in prices]


def _random_side(rng: random.Random, mid: int, sign: int, n: int) -> list[tuple[int, int]]:
    out = []
    for _ in range(n):
        distance = int(rng.expovariate(1 / 40)) if rng.random() < 0.8 else rng.randrange(0, 3000)
        price = max(1, mid - sign * (1 + distance)) * 10_000
        size = 0 if rng.random() < 0.35 else rng.randrange(1, 10**9)
        out.append((price, size))
    return out


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_windowed_book_equals_a_plain_sorted_book(seed: int) -> None:
    rng = random.Random(seed)
    book, ref = OrderBook(), ReferenceBook()
    mid = 1_000_000
    # a snapshot has one non-zero size per price
    snapshot_bids = [(p, s) for p, s in dict(_random_side(rng, mid, 1, 800)).items() if s]
    snapshot_asks = [(p, s) for p, s in dict(_random_side(rng, mid, -1, 800)).items() if s]
    book.load(snapshot_bids, snapshot_asks)
    ref.apply("bids", snapshot_bids)
    ref.apply("asks", snapshot_asks)
    for step in range(1200):
        mid += rng.choice((-3, -1, 0, 0, 1, 3)) * (step % 7 == 0) + (40 if step % 997 == 0 else 0)
        bids = _random_side(rng, mid, 1, rng.randrange(0, 25))
        asks = _random_side(rng, mid, -1, rng.randrange(0, 25))
        if step % 50 == 0:  # wipe out the top of one side: the window must refill from the dict
            bids += [(p, 0) for p, _ in ref.levels("bids", 300)]
        if step % 3 == 0:
            book.apply(bids, asks)
        else:  # the columns form the exchange parsers produce
            book.apply(
                tuple(zip(*bids, strict=True)) if bids else ((), ()),
                tuple(zip(*asks, strict=True)) if asks else ((), ()),
            )
        ref.apply("bids", bids)
        ref.apply("asks", asks)
        n = rng.choice((1, 5, 20, 20, 20, 150))
        assert book.levels("bids", n) == ref.levels("bids", n), step
        assert book.levels("asks", n) == ref.levels("asks", n), step
        top_bids, top_asks = ref.levels("bids", 20), ref.levels("asks", 20)
        assert book.top(20) == (
            [p / SCALE for p, _ in top_bids],
            [s / SCALE for _, s in top_bids],
            [p / SCALE for p, _ in top_asks],
            [s / SCALE for _, s in top_asks],
        )
        assert len(book) == len(ref.sides["bids"]) + len(ref.sides["asks"])
    assert book.levels("bids") == ref.levels("bids") and book.levels("asks") == ref.levels("asks")


def test_window_trims_and_refills_without_losing_levels() -> None:
    book, ref = OrderBook(), ReferenceBook()
    asks = [(1000 + i, 1) for i in range(0, 4000, 2)]
    book.load([], asks)
    ref.apply("asks", asks)
    for price in range(999, 199, -1):  # 800 new best asks, one per event: the window overflows
        book.apply([], [(price, 2)])
        ref.apply("asks", [(price, 2)])
    assert book.levels("asks", 600) == ref.levels("asks", 600)
    for price in range(200, 1500):  # and now take them all away from the top
        book.apply([], [(price, 0)])
        ref.apply("asks", [(price, 0)])
        assert book.best_ask() == ref.levels("asks", 1)[0]
    assert book.levels("asks") == ref.levels("asks")


def test_a_frame_that_sets_and_removes_one_price_applies_in_order() -> None:
    book = OrderBook()
    book.apply(((100, 100), (5, 0)), ())
    assert book.levels("bids") == []
    book.apply(((100, 100), (0, 7)), ())
    assert book.levels("bids") == [(100, 7)]


def _random_frame(rng: random.Random, futures: bool) -> dict:
    def side() -> list[list[str]]:
        return [
            [
                f"{rng.randrange(1, 10**6)}.{rng.randrange(10**8):08d}",
                f"{rng.randrange(0, 100)}.{rng.randrange(10**8):08d}",
            ]
            for _ in range(rng.randrange(0, 30))
        ]

    first = rng.randrange(1, 10**11)
    data = {
        "e": "depthUpdate",
        "E": rng.randrange(10**12),
        "s": "ETHUSDT",
        "U": first,
        "u": first + rng.randrange(0, 100),
        "b": side(),
        "a": side(),
    }
    if futures:
        data |= {"T": rng.randrange(10**12), "pu": first - 1}
    return data


_MUTATIONS = [
    ("e", "trade"),
    ("s", 5),
    ("U", -1),
    ("U", "7"),
    ("u", 0),
    ("E", 1.5),
    ("E", True),
    ("b", "x"),
    ("a", [["1", "2", "3"]]),
    ("b", [["1e3", "1"]]),
    ("pu", None),
    ("T", -5),
]


@pytest.mark.parametrize(
    ("parse", "checked", "futures"),
    [(binance_spot.parse_diff, spot_checked, False), (binance_usdm.parse_diff, usdm_checked, True)],
)
def test_fast_frame_parsers_agree_with_the_field_by_field_ones(parse, checked, futures) -> None:
    rng = random.Random(7)
    for _ in range(300):
        data = _random_frame(rng, futures)
        assert parse(data, 5) == checked(data, 5)
        key, value = rng.choice(_MUTATIONS)
        if key in ("pu", "T") and not futures:
            continue
        bad = dict(data)
        if rng.random() < 0.3:
            del bad[key]
        else:
            bad[key] = value
        with pytest.raises(BadFrame):
            checked(bad, 5)
        with pytest.raises(BadFrame):
            parse(bad, 5)
