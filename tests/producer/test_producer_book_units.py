"""Exact book: fixed-point parsing, level updates, ordering, crossed detection."""

from __future__ import annotations

import pytest

from producer.book import SCALE, BadLevel, OrderBook, parse_fixed, parse_levels, to_text

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2683.80000000", 268_380_000_000),
        ("2683.8", 268_380_000_000),
        ("2683", 268_300_000_000),
        ("0.00000001", 1),
        ("0.000000010000", 1),
        (".5", 50_000_000),
        ("0.00000000", 0),
    ],
)
def test_parse_fixed_is_exact(text: str, expected: int) -> None:
    assert parse_fixed(text) == expected


@pytest.mark.parametrize("text", ["NaN", "nan", "inf", "1e5", "", "abc", "1.000000001", "1_000.0", "1.2.3"])
def test_parse_fixed_rejects_non_decimals(text: str) -> None:
    with pytest.raises(BadLevel):
        parse_fixed(text)


def test_parse_fixed_rejects_json_numbers() -> None:
    with pytest.raises(BadLevel):
        parse_fixed(2683.8)  # type: ignore[arg-type]


def test_same_number_in_two_spellings_is_one_level() -> None:
    book = OrderBook()
    book.apply(parse_levels([["100.5", "1"]], "b"), [])
    book.apply(parse_levels([["100.50000000", "2.00000000"]], "b"), [])
    assert book.levels("bids") == [(100_50_000_000 // 10 * 10, 2 * SCALE)]


@pytest.mark.parametrize(
    "raw",
    [
        [["1.0", "-1.0"]],
        [["1.0", "-0.00000000"]],
        [["0.0", "1.0"]],
        [["1.0"]],
        [["1.0", "1.0", "x"]],
        "x",
        [[["1"], "1"]],
        [["1.0", None]],
    ],
)
def test_parse_levels_rejects_bad_levels(raw: object) -> None:
    with pytest.raises(BadLevel):
        parse_levels(raw, "b")


def test_bad_level_rejects_whole_frame_before_any_change() -> None:
    book = OrderBook()
    book.load(parse_levels([["10", "1"]], "b"), [])
    with pytest.raises(BadLevel):
        book.apply(parse_levels([["11", "1"], ["12", "NaN"]], "b"), [])
    assert book.levels("bids") == [(10 * SCALE, SCALE)]


def test_apply_orders_sides_and_removes_zero_sizes() -> None:
    book = OrderBook()
    book.load(parse_levels([["99", "1"], ["98", "2"]], "b"), parse_levels([["101", "1"], ["102", "3"]], "a"))
    book.apply(
        parse_levels([["99.5", "4"], ["98", "0"]], "b"), parse_levels([["100.5", "0.25"], ["102", "0"]], "a")
    )
    bp, bs, ap, as_ = book.top(10)
    assert (bp, bs, ap, as_) == ([99.5, 99.0], [4.0, 1.0], [100.5, 101.0], [0.25, 1.0])
    # removing a level that is not there is a no-op (Binance sends those)
    book.apply(parse_levels([["50", "0"]], "b"), [])
    assert len(book) == 4


def test_top_is_nearest_double_of_the_decimal() -> None:
    book = OrderBook()
    book.load(parse_levels([["2683.81000000", "31.43950000"]], "b"), [])
    bp, bs, _, _ = book.top(1)
    assert bp == [float("2683.81")] and bs == [float("31.4395")]


def test_crossed_detection() -> None:
    book = OrderBook()
    book.load(parse_levels([["100", "1"]], "b"), parse_levels([["101", "1"]], "a"))
    assert not book.is_crossed()
    book.apply(parse_levels([["101", "1"]], "b"), [])
    assert book.is_crossed()


def test_to_text_round_trips() -> None:
    for text in ("2683.80000000", "0.00000001", "12.00000000"):
        assert to_text(parse_fixed(text)) == text
