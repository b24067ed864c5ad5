"""Key patterns of a subscription: a record key `exchange:symbol` (schemas.record_key) where
either part may be `*`, or `*` alone for every key. No other globbing: a pattern either names a
part exactly or takes all of it, which keeps matching a dictionary lookup's worth of work."""

from __future__ import annotations

from dataclasses import dataclass

from schemas.topics import KEY_SEPARATOR, record_key, split_record_key

WILDCARD = "*"


@dataclass(frozen=True)
class KeyPattern:
    exchange: str  # WILDCARD or an exchange
    symbol: str  # WILDCARD or a symbol

    @classmethod
    def parse(cls, text: str) -> KeyPattern:
        """`*`, `binance:*`, `*:BTCUSDT` or `binance:BTCUSDT`; anything else raises ValueError."""
        if text == WILDCARD:
            return cls(WILDCARD, WILDCARD)
        exchange, symbol = split_record_key(text)
        for part in (exchange, symbol):
            if WILDCARD in part and part != WILDCARD:
                raise ValueError(f"{text!r}: a wildcard stands for a whole part (binance:*, *:BTCUSDT)")
        return cls(exchange, symbol)

    @property
    def text(self) -> str:
        if self.exchange == WILDCARD and self.symbol == WILDCARD:
            return WILDCARD
        return record_key(self.exchange, self.symbol)

    @property
    def exact(self) -> bool:
        return WILDCARD not in (self.exchange, self.symbol)

    def matches(self, key: str) -> bool:
        """Whether a record key falls under this pattern (a malformed key matches nothing)."""
        exchange, sep, symbol = key.partition(KEY_SEPARATOR)
        if not sep:
            return False
        return self.exchange in (WILDCARD, exchange) and self.symbol in (WILDCARD, symbol)
