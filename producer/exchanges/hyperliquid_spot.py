"""Hyperliquid spot (`hyperliquid_spot`, market `spot`): the protocol of hyperliquid_perp.py, with
spot names through the `spotMeta` index mapping.

POST `/info` `{"type": "spotMeta"}` answers `tokens[]` (`name`, `index`, ...) and `universe[]` of
pairs (`name`, `index`, `tokens`: [base token index, quote token index]). A pair's coin on the
WebSocket is `@{index}` (`@107`), except the first pair, PURR/USDC, which keeps its name. The
record's symbol is `BASE-QUOTE` from the token names, upper-cased (`HYPE-USDC`, `PURR-USDC`), since
orderbook.raw's symbol rule refuses `/` and `@`; the stream is the coin (`Instrument.venue_name`).
Where two pairs have the same token names, the first listed (lowest index) is the symbol's. Sizes
are base-token units.
"""

from __future__ import annotations

from typing import Any

from producer.exchanges.hyperliquid_perp import hyperliquid_spec
from producer.exchanges.spec import BadFrame, Instrument

NAMED_PAIR = "PURR/USDC"  # the one pair streamed under its name rather than `@index`


def spot_coin(pair: dict[str, Any]) -> str:
    """The WebSocket coin of a spotMeta universe entry."""
    return NAMED_PAIR if pair.get("name") == NAMED_PAIR else f"@{pair['index']}"


def spot_instruments(body: Any) -> dict[str, Instrument]:
    """`spotMeta` -> instruments keyed by `BASE-QUOTE`, each with its coin."""
    if (
        type(body) is not dict
        or type(body.get("universe")) is not list
        or type(body.get("tokens")) is not list
    ):
        raise BadFrame("not a spotMeta answer: no 'universe' and 'tokens' lists")
    token_names = {token["index"]: str(token["name"]) for token in body["tokens"]}
    out: dict[str, Instrument] = {}
    for pair in sorted(body["universe"], key=lambda p: p["index"]):
        try:
            base_index, quote_index = pair["tokens"]
        except ValueError:
            raise BadFrame(f"spotMeta pair {pair.get('index')!r}: 'tokens' is not [base, quote]") from None
        base, quote = token_names[base_index], token_names[quote_index]
        symbol = f"{base}-{quote}".upper()
        if symbol in out:
            continue
        out[symbol] = Instrument(
            symbol=symbol,
            status="listed",
            trading=True,
            base=base,
            quote=quote,
            kind="spot",
            venue_name=spot_coin(pair),
        )
    return out


EXCHANGE = hyperliquid_spec("hyperliquid_spot", "spot", "spotMeta", spot_instruments)
