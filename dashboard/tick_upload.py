"""Ticks uploaded as CSV (timestamp, symbol, price, size) analysed like the stream's data, in the
dashboard process only: nothing enters the live topics or the database.

- `parse_ticks` validates the whole file and raises TickFileError with every problem found (the
  column, the reason and the first offending line numbers), so the user fixes the file once;
- `bars_from_ticks` makes OHLCV bars of 1 s, 1 min or 5 min aligned to the epoch, as the trade_bars
  job does (open and close the first and last tick by time, then by file order). The file has no
  aggressor side, so buy/sell volume and delta are NaN; the sums are floats (for the charts), not
  the job's exact decimals;
- `pair_from_ticks` runs the stream's own pair logic (flink_jobs.pair_analytics.PairState, with the
  job's settings) over the 1 s closes of two uploaded symbols, second by second, so an uploaded
  pair gets the same β, spread, z-score, correlation, half-life and ADF as a live one.
"""

from __future__ import annotations

import io
import re
from decimal import Decimal, InvalidOperation

import numpy as np
import pandas as pd

from dashboard.analytics_store import PAIR_COLUMNS, TRADE_BAR_COLUMNS
from flink_jobs.pair_analytics import SECOND_MS, PairParameters, PairSpec, PairState

REQUIRED_COLUMNS = ("timestamp", "symbol", "price", "size")
INTERVALS_MS = {"1s": 1_000, "1m": 60_000, "5m": 300_000}
MAX_ROWS = 1_000_000
# A pair is stepped once per second of the legs' overlap: bounded so one upload cannot hold the
# dashboard process for minutes (6 h of seconds and their ADF tests take a few seconds).
MAX_PAIR_SECONDS = 6 * 3_600
# Symbols without an exchange get this one, so they are `exchange:symbol` keys like the stream's.
UPLOAD_EXCHANGE = "upload"
_SYMBOL = re.compile(r"^(?:[a-z0-9_.-]+:)?[A-Za-z0-9_.-]{1,40}$")
_SHOWN_LINES = 5
# An integer timestamp before 2000-01-01 is taken for epoch seconds (or µs cut short) and refused:
# read as milliseconds it would put every tick in January 1970 without a word.
EARLIEST_MS = 946_684_800_000


class TickFileError(ValueError):
    """The uploaded file cannot be analysed; `problems` says every reason found."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


def _lines(mask: pd.Series) -> str:
    """'lines 3, 7 (and 12 more)': line numbers of the file (the header is line 1)."""
    numbers = [int(i) + 2 for i in mask[mask].index[:_SHOWN_LINES]]
    rest = int(mask.sum()) - len(numbers)
    text = ", ".join(map(str, numbers))
    return f"line{'s' if len(numbers) > 1 else ''} {text}" + (f" (and {rest} more)" if rest else "")


def _decimal(text: str) -> Decimal | None:
    try:
        value = Decimal(text)
    except InvalidOperation:
        return None
    return value if value.is_finite() else None


def _timestamps_ms(texts: pd.Series) -> pd.Series:
    """Epoch milliseconds from integers (epoch ms) or ISO-8601 texts (UTC unless an offset is
    given); NaN where neither."""
    digits = texts.str.fullmatch(r"\d{1,16}")
    out = pd.Series(np.nan, index=texts.index)
    out[digits] = texts[digits].astype("int64").astype("float64")
    others = texts[~digits]
    if not others.empty:
        parsed = pd.to_datetime(others, utc=True, errors="coerce", format="ISO8601")
        valid = parsed.notna()
        out[others.index[valid]] = (parsed[valid].astype("int64") // 1_000_000).astype("float64")
    return out


def parse_ticks(data: bytes) -> pd.DataFrame:
    """The ticks of a CSV file: columns ts_ms (int), key (`exchange:symbol`), price_text (as
    written), price and size (float), sorted by time (ties in file order)."""
    try:
        raw = pd.read_csv(io.BytesIO(data), dtype=str, keep_default_na=False, skipinitialspace=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise TickFileError([f"not a readable CSV file: {str(exc).strip()}"]) from exc
    raw.columns = [str(c).strip().lower() for c in raw.columns]
    missing = [c for c in REQUIRED_COLUMNS if c not in raw.columns]
    if missing:
        raise TickFileError(
            [f"missing column(s) {', '.join(missing)}: the header must name {', '.join(REQUIRED_COLUMNS)}"]
        )
    if raw.empty:
        raise TickFileError(["the file has a header but no ticks"])
    if len(raw) > MAX_ROWS:
        raise TickFileError([f"{len(raw):,} ticks: at most {MAX_ROWS:,} per upload"])
    raw = raw.reset_index(drop=True)
    problems = []
    ts = _timestamps_ms(raw["timestamp"].str.strip())
    if ts.isna().any():
        problems.append(f"timestamp: not epoch milliseconds or ISO-8601 at {_lines(ts.isna())}")
    too_early = ts < EARLIEST_MS
    if too_early.any():
        problems.append(
            f"timestamp: before 2000 (epoch seconds? milliseconds are expected) at {_lines(too_early)}"
        )
    symbols = raw["symbol"].str.strip()
    bad_symbol = ~symbols.str.match(_SYMBOL)
    if bad_symbol.any():
        problems.append(f"symbol: empty or not SYMBOL / exchange:SYMBOL at {_lines(bad_symbol)}")
    prices = raw["price"].str.strip().map(_decimal)
    bad_price = prices.map(lambda d: d is None or d <= 0)
    if bad_price.any():
        problems.append(f"price: not a positive number at {_lines(bad_price)}")
    sizes = raw["size"].str.strip().map(_decimal)
    bad_size = sizes.map(lambda d: d is None or d <= 0)
    if bad_size.any():
        problems.append(f"size: not a positive number at {_lines(bad_size)}")
    if problems:
        raise TickFileError(problems)
    keys = symbols.where(symbols.str.contains(":"), UPLOAD_EXCHANGE + ":" + symbols)
    ticks = pd.DataFrame(
        {
            "ts_ms": ts.astype("int64"),
            "key": keys,
            "price_text": raw["price"].str.strip(),
            "price": prices.map(float),
            "size": sizes.map(float),
        }
    )
    return ticks.sort_values("ts_ms", kind="stable").reset_index(drop=True)


def bars_from_ticks(ticks: pd.DataFrame, key: str, interval: str) -> pd.DataFrame:
    """OHLCV bars of one symbol, indexed by window start (UTC), with the columns of the stored
    trade bars (buy/sell volume and delta NaN: the file has no side)."""
    size_ms = INTERVALS_MS[interval]
    own = ticks[ticks["key"] == key]
    start = own["ts_ms"] - own["ts_ms"] % size_ms
    quote = own["price"] * own["size"]
    groups = pd.DataFrame({"start": start, "price": own["price"], "size": own["size"], "quote": quote})
    grouped = groups.groupby("start", sort=True)
    bars = pd.DataFrame(
        {
            "open": grouped["price"].first(),
            "high": grouped["price"].max(),
            "low": grouped["price"].min(),
            "close": grouped["price"].last(),
            "volume": grouped["size"].sum(),
            "quote_volume": grouped["quote"].sum(),
            "trade_count": grouped["price"].count().astype("float64"),
        }
    )
    bars["vwap"] = bars["quote_volume"] / bars["volume"]
    for column in ("buy_volume", "sell_volume", "volume_delta"):
        bars[column] = np.nan
    bars.index = pd.to_datetime(bars.index, unit="ms", utc=True)
    bars.index.name = "time"
    return bars[list(TRADE_BAR_COLUMNS)]


def pair_from_ticks(ticks: pd.DataFrame, y: str, x: str, params: PairParameters) -> pd.DataFrame:
    """The pair records of (y, x) for every second of the legs' overlap (from the later leg's
    first 1 s close to the earlier leg's last plus the fill bound), indexed by second (UTC), with the columns of the stored pair analytics; empty when the
    legs never overlap for `params.min_points` seconds."""
    spec = PairSpec.parse(f"{y}/{x}")
    closes = {}
    for leg, key in (("y", y), ("x", x)):
        own = ticks[ticks["key"] == key]
        if own.empty:
            raise TickFileError([f"no ticks of {key} in the file"])
        seconds = own["ts_ms"] - own["ts_ms"] % SECOND_MS
        last = own.assign(second=seconds).groupby("second", sort=True)["price_text"].last()
        closes[leg] = last.to_dict()
    first = max(min(closes["y"]), min(closes["x"]))
    end = min(max(closes["y"]), max(closes["x"])) + params.fill_max_age_ms
    if (end - params.fill_max_age_ms - first) // SECOND_MS > MAX_PAIR_SECONDS:
        raise TickFileError(
            [f"{y} and {x} overlap for more than {MAX_PAIR_SECONDS // 3600} h: upload a shorter span"]
        )
    state = PairState(spec, params)
    for leg in ("y", "x"):  # the close the earlier leg carries into the overlap
        before = [s for s in closes[leg] if s < first]
        if before:
            state.on_close(leg, max(before), closes[leg][max(before)])
    records = []
    for second in range(first, end + 1, SECOND_MS):
        for leg in ("y", "x"):
            text = closes[leg].get(second)
            if text is not None:
                state.on_close(leg, second, text)
        record = state.step(second)
        if record is not None:
            records.append(record)
    frame = pd.DataFrame.from_records(records, columns=["event_time", *PAIR_COLUMNS])
    frame["time"] = pd.to_datetime(frame["event_time"], unit="ms", utc=True)
    frame["adf_time"] = pd.to_datetime(frame["adf_time"], unit="ms", utc=True)
    numeric = [c for c in PAIR_COLUMNS if c != "adf_time"]
    frame[numeric] = frame[numeric].astype("float64")
    return frame.set_index("time")[list(PAIR_COLUMNS)]
