"""The producer's trades: each venue's trade stream -> trades.raw, keyed by exchange:symbol.

A venue publishes trades when its exchange module's id has an entry in TRADE_STREAMS (the hook
for new venues: a TradeStream with the stream name of a symbol and the frame parser, as
producer/trades_binance.py). The trade streams ride on the book's connections (the service adds
them to the streams it subscribes); the book feed hands every frame of a trade stream to the
TradeFeed, which parses it exactly (producer/trade_records.py), drops the trades it has already
published (a reconnect can repeat the last ones) and sends anything unusable to orderbook.dlq
with the reason."""

from __future__ import annotations

from collections import deque
from dataclasses import replace
from typing import Any

from producer import trades_binance, trades_bybit, trades_gateio, trades_hyperliquid, trades_okx
from producer.exchanges.spec import BadFrame, Instrument
from producer.publisher import RecordPublisher
from producer.trade_records import CONTROL, TradeStream, trade_record
from schemas import dlq_record, record_key

# exchange module id (ExchangeSpec.id) -> its trade stream.
TRADE_STREAMS: dict[str, TradeStream] = {
    "binance": trades_binance.SPOT,
    "binance_usdm": trades_binance.FUTURES,
    "binance_coinm": trades_binance.FUTURES,
    "okx": trades_okx.TRADES,
    "okx_swap": trades_okx.TRADES,
    "bybit": trades_bybit.TRADES,
    "bybit_linear": trades_bybit.TRADES,
    "bybit_inverse": trades_bybit.TRADES,
    "gateio": trades_gateio.SPOT,
    "gateio_futures": trades_gateio.FUTURES,
    "hyperliquid": trades_hyperliquid.TRADES,
    "hyperliquid_spot": trades_hyperliquid.TRADES,
}
# Trade ids remembered per symbol to recognize a repeated trade: far more than a reconnect
# repeats (Binance resends nothing; venues that replay do so for the last few dozen trades).
REMEMBERED_IDS = 10_000


def trade_stream(exchange_id: str) -> TradeStream | None:
    return TRADE_STREAMS.get(exchange_id)


class RecentIds:
    """The last `size` trade ids of one symbol, for duplicate detection in O(1)."""

    __slots__ = ("_ids", "_order", "_size")

    def __init__(self, size: int = REMEMBERED_IDS) -> None:
        self._ids: set[str] = set()
        self._order: deque[str] = deque()
        self._size = size

    def add(self, trade_id: str) -> bool:
        """Remember `trade_id`; False when it was already known (a duplicate)."""
        if trade_id in self._ids:
            return False
        self._ids.add(trade_id)
        self._order.append(trade_id)
        if len(self._order) > self._size:
            self._ids.discard(self._order.popleft())
        return True


class SymbolTrades:
    """One symbol's trade stream: its key, instrument (contract sizes), ids seen and counts."""

    __slots__ = (
        "symbol", "venue_name", "key", "key_text", "instrument", "recent", "published", "duplicates", "dlq"
    )  # fmt: skip

    def __init__(self, exchange: str, symbol: str) -> None:
        self.symbol = symbol
        self.venue_name = symbol  # the name the venue's trades carry (Hyperliquid: the coin)
        self.key_text = record_key(exchange, symbol)
        self.key = self.key_text.encode()
        self.instrument: Instrument | None = None
        self.recent = RecentIds()
        self.published = 0
        self.duplicates = 0
        self.dlq = 0


class TradeFeed:
    """Every trade stream of one producer process."""

    def __init__(
        self, exchange: str, market: str, symbols: list[str], stream: TradeStream, publisher: RecordPublisher
    ) -> None:
        self.exchange = exchange
        self.market = market
        self.stream = stream
        self.publisher = publisher
        self.routes = {stream.channel(symbol): SymbolTrades(exchange, symbol) for symbol in symbols}
        self.by_symbol = {s.symbol: s for s in self.routes.values()}
        # Streams renamed by the listing (old -> new), for the service's subscriptions.
        self.renames: dict[str, str] = {}

    @property
    def streams(self) -> list[str]:
        return list(self.routes)

    def use_instrument(self, instrument: Instrument) -> None:
        """The symbol's listing: sizes in contracts are published as base units, and a venue
        that names the symbol its own way (`Instrument.venue_name`) gets the stream by that name."""
        state = self.by_symbol.get(instrument.symbol)
        if state is None:
            return
        state.instrument = instrument
        venue_name = instrument.venue_name
        if venue_name is not None and venue_name != state.venue_name:
            old, new = self.stream.channel(state.venue_name), self.stream.channel(venue_name)
            self.routes[new] = self.routes.pop(old)
            self.renames[old] = new
            state.venue_name = venue_name

    def take(self, msg: Any, raw: str | bytes, receive_time_ns: int) -> bool:
        """A decoded frame of the stream/message feeds (OKX, Bybit): True when it is a push of
        one of our trade streams, which is then handled here; False for anything else."""
        route = self.stream.route
        stream = route(msg) if route is not None else None
        if stream == CONTROL:
            return True
        if stream is None or stream not in self.routes:
            return False
        self.on_data(stream, msg, raw, receive_time_ns)
        return True

    def on_data(self, stream: str, data: Any, raw: str | bytes, receive_time_ns: int) -> None:
        """One frame's data of the trade stream `stream` (a key of `routes`): its trades, in the
        venue's order; a frame with anything unusable goes to the DLQ whole (none of its trades
        is published, so a frame is never half in)."""
        state = self.routes[stream]
        try:
            if type(data) is not dict:
                raise BadFrame("data is not an object")
            records = []
            for trade in self.stream.parse(data, receive_time_ns):
                if trade.symbol != state.venue_name:
                    raise BadFrame(f"symbol {trade.symbol!r} on stream {stream!r}")
                if state.venue_name != state.symbol:
                    trade = replace(trade, symbol=state.symbol)
                records.append(
                    (trade.trade_id, trade_record(trade, self.exchange, self.market, state.instrument))
                )
        except BadFrame as exc:
            state.dlq += 1
            self.publisher.publish_dlq(
                dlq_record(source="producer", reason=str(exc), payload=raw, origin=stream, key=state.key_text)
            )
            return
        for trade_id, record in records:
            if not state.recent.add(trade_id):
                state.duplicates += 1
            elif self.publisher.publish_trade(state.key, record):
                state.published += 1

    def counts(self) -> dict[str, dict[str, int]]:
        """Per symbol: trades published, duplicates dropped, frames sent to the DLQ."""
        return {
            s.symbol: {"published": s.published, "duplicates": s.duplicates, "dlq": s.dlq}
            for s in self.routes.values()
        }
