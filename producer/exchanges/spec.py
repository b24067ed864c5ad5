"""What an exchange module declares (the shape cryptofeed calls a Feed): endpoints, channel names,
limits, and the functions that turn its frames into book events.

Keeping all exchange knowledge in one declarative object per module means the connection,
sync and publishing code never branch on the exchange's name.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from enum import Enum
from typing import Any

from producer.book import Columns, Levels

# Sequence ids and times of every venue are below this (the compiled engine keeps them as u64):
# a larger one is no real id, and both engines refuse the frame.
ID_LIMIT = 1 << 64


class BadFrame(ValueError):
    """A frame that cannot be used (missing field, wrong type, bad number): it goes to the DLQ."""


class Continuity(Enum):
    """How consecutive diff events chain together."""

    # Spot: an event applies when U <= local+1 <= u; U > local+1 is a gap.
    FIRST_ID = "first_id"
    # USD-M futures: the first event after a snapshot spans it (U <= L <= u), then pu == local.
    PREV_FINAL_ID = "prev_final_id"


@dataclass(slots=True)
class DepthEvent:
    """One diff-depth event, levels already validated and in fixed point: (price, size) pairs, or
    (prices, sizes) columns as the exchange parsers make them (OrderBook.apply takes both)."""

    symbol: str
    first_id: int  # U
    final_id: int  # u
    prev_final_id: int | None  # pu (futures only)
    event_time: int  # E, ms
    transaction_time: int | None  # T, ms (futures only)
    bids: Levels | Columns
    asks: Levels | Columns
    receive_time_ns: int = 0
    # Venues with a book checksum: the value sent and the levels as the venue wrote them
    # ((bids, asks) lists of [price, size, ...] strings), since the checksum is over those strings.
    checksum: int | None = None
    texts: tuple[Any, Any] | None = None


@dataclass(slots=True)
class BookSnapshot:
    """A full book at one update id: a REST snapshot or a partial-depth frame."""

    last_update_id: int
    bids: Levels | Columns
    asks: Levels | Columns
    event_time: int | None = None
    transaction_time: int | None = None
    symbol: str | None = None
    receive_time_ns: int = 0
    checksum: int | None = None  # as DepthEvent's
    texts: tuple[Any, Any] | None = None
    # The venue restarted its sequence (Bybit's u == 1): replaces a book at a higher id.
    reset: bool = False
    # The number of levels per side the snapshot was asked for (set by the REST client): a side
    # with that many is the top of a deeper book (see producer/book.py, bounded snapshots).
    # None: the book is whole (a partial-depth frame, a book sent in the stream, a test's book).
    depth_limit: int | None = None


@dataclass(frozen=True, slots=True)
class Instrument:
    """One instrument as its venue lists it (exchangeInfo, instruments): whether it trades, the
    normalized instrument (base, quote, kind) and, where sizes are counted in contracts, what one
    contract is worth, so that published sizes can be base units on every venue."""

    symbol: str  # the venue's own id, e.g. BTCUSDT, BTCUSD_PERP, BTC-USDT-SWAP
    status: str  # the venue's word for it (TRADING, live, ...)
    trading: bool
    base: str
    quote: str
    kind: str  # spot | perp | future
    # Value of one contract: base units when linear, quote units when inverse. None: the book's
    # sizes are base units already.
    contract_size: Decimal | None = None
    inverse: bool = False  # size_base = contracts * contract_size / price
    # The name the venue's streams use for it when that is not `symbol` (Hyperliquid's spot pairs
    # stream as `@107`, its perps keep their case, `kPEPE`): the service renames the book's stream
    # to `diff_channel(venue_name)` once the listing is read. None: streams named after the symbol.
    venue_name: str | None = None

    def base_size_ratio(self) -> tuple[int, int] | None:
        """(numerator, denominator) of the contract size as exact integers, None for base units."""
        if self.contract_size is None:
            return None
        num, den = self.contract_size.as_integer_ratio()
        return num, den


def decimal_field(data: dict[str, Any], key: str) -> Decimal:
    """A positive decimal given as a string or an integer (never a float: not exact)."""
    value = require_field(data, key)
    if type(value) is int or type(value) is str:
        try:
            number = Decimal(value)
        except InvalidOperation:
            number = Decimal(0)
        if number.is_finite() and number > 0:
            return number
    raise BadFrame(f"field {key!r} is not a positive decimal: {value!r}")


def binance_snapshot_params(symbol: str, limit: int) -> dict[str, str]:
    """Query of Binance's depth request: `?symbol=BTCUSDT&limit=1000`."""
    return {"symbol": symbol, "limit": str(limit)}


def binance_instruments(body: Any) -> dict[str, Instrument]:
    """Binance spot and USD-M `exchangeInfo`: `symbols[]` with symbol, status, base and quote
    assets; futures name their `contractType` (PERPETUAL, or a delivery month)."""
    out = {}
    for item in body["symbols"]:
        contract = item.get("contractType")
        status = item.get("status") or "TRADING"
        out[item["symbol"]] = Instrument(
            symbol=item["symbol"],
            status=status,
            trading=status == "TRADING",
            base=str(item.get("baseAsset", "")),
            quote=str(item.get("quoteAsset", "")),
            kind="spot" if contract is None else "perp" if contract == "PERPETUAL" else "future",
        )
    return out


@dataclass(frozen=True)
class ExchangeSpec:
    """Everything the generic connector needs to know about one exchange market."""

    id: str  # the `exchange` field of records, e.g. binance, binance_usdm
    market: str  # spot | usdm
    ws_url: str  # base of /stream?streams=...
    rest_url: str
    depth_path: str
    exchange_info_path: str
    continuity: Continuity
    max_streams_per_connection: int
    # Binance cuts every connection after 24 h; reconnect a little before.
    max_connection_age_s: float
    weight_limit_1m: int
    snapshot_limit: int
    partial_depths: tuple[int, ...]
    diff_channel: Callable[[str], str]
    partial_channel: Callable[[str, int], str]
    snapshot_weight: Callable[[int], int]
    parse_diff: Callable[[dict[str, Any], int], DepthEvent]
    parse_partial: Callable[[dict[str, Any], int, str], BookSnapshot]
    parse_snapshot: Callable[[dict[str, Any]], BookSnapshot]
    # The listing at `exchange_info_path` -> instruments by symbol (start-up check, contract sizes).
    # Asked with GET, or POSTed with this JSON body where the venue wants one (Hyperliquid's /info).
    exchange_info_body: bytes | None = None
    parse_instruments: Callable[[Any], dict[str, Instrument]] = binance_instruments
    # The depth request's query for (symbol, limit), and what in a 400 answer's body says the
    # venue does not know the symbol (permanent: the producer stops with the reason).
    snapshot_params: Callable[[str, int], dict[str, str]] = binance_snapshot_params
    unknown_symbol_error: bytes = b"-1121"
    # The books need their instruments before the first record (sizes in contracts, published
    # as base units): the listing is read at start even when the symbol check is off.
    needs_instruments: bool = False
    # The book engine class this venue needs whatever the configured engine (None: the configured
    # one, producer.feed.choose_engine), as a function returning it: engines import this module,
    # so an exchange module can name its engine only once the engines are importable.
    book_engine: Callable[[], Any] | None = None
    # -- venues whose book comes in the stream (snapshot message, then updates), subscribed by
    # messages sent after connect (OKX, Bybit). None everywhere: Binance's combined streams.
    # The book arrives in the stream: the service runs producer.stream_feed.StreamBookFeed.
    snapshot_in_stream: bool = False
    # The connection's URL for its streams (None: Binance's /stream?streams=a/b).
    url_for: Callable[[str, list[str]], str] | None = None
    # Text messages to send after connect to subscribe these streams (made again at every
    # connect: Gate.io refuses a request whose `time` is more than 60 s off).
    subscribe: Callable[[list[str]], list[str]] | None = None
    # Text messages that make the venue send one stream's book again (resync of that book only).
    resubscribe: Callable[[str], list[str]] | None = None
    # The venue's keep-alive: (text we send, or a function making it at each ping, interval s,
    # the answer to ignore when it is not JSON); None: WebSocket pings.
    ping: tuple[str | Callable[[], str], float, str | None] | None = None
    # A frame -> (stream, book message) or None for the venue's control messages (acks, pongs);
    # BadFrame for anything unusable. The book message is a DepthEvent, or a BookSnapshot when the
    # venue sends the whole book (after a subscription).
    parse_message: Callable[[Any, int], tuple[str, DepthEvent | BookSnapshot] | None] | None = None
    # CRC of the top levels over the venue's exact strings: (bids, asks) [[price, size], ...]
    # best first -> the value the venue sends; and how many levels per side it covers.
    checksum: Callable[[list[tuple[str, str]], list[tuple[str, str]]], int] | None = None
    checksum_depth: int = 0
    # The frame scanner of the compiled engine for this venue's book messages (okx, bybit,
    # hyperliquid: producer/native/src/stream.rs); None: the venue's books are kept in Python.
    native_protocol: str | None = None

    def stream_url(self, base: str, streams: list[str]) -> str:
        if self.url_for is not None:
            return self.url_for(base, streams)
        return f"{base.rstrip('/')}/stream?streams={'/'.join(streams)}"


def require_int(data: dict[str, Any], key: str) -> int:
    try:
        value = data[key]
    except KeyError:
        raise BadFrame(f"missing field {key!r}") from None
    if type(value) is not int or value < 0:
        raise BadFrame(f"field {key!r} is not a non-negative integer: {value!r}")
    return value


def require_field(data: dict[str, Any], key: str) -> Any:
    try:
        return data[key]
    except KeyError:
        raise BadFrame(f"missing field {key!r}") from None


def require_text(data: dict[str, Any], key: str) -> str:
    """A field that must be a string (the venues' exact decimal texts, ids, sides)."""
    value = require_field(data, key)
    if type(value) is not str:
        raise BadFrame(f"field {key!r} is not a string: {value!r}")
    return value
