"""The feed of venues that subscribe by message and send diffs in their own message shape, with the
book's snapshot from REST (Gate.io): Binance's procedure (producer/feed.py: buffer the diffs, fetch
a snapshot, apply what follows it, a broken chain resyncs that book alone) on the venue's frames.

What differs from Binance's combined streams is only how a frame is read: the venue's
`ExchangeSpec.parse_message` turns it into (stream, DepthEvent), or None for its control messages
(subscription answers, pongs); anything it cannot read goes to the DLQ with the reason.
"""

from __future__ import annotations

from typing import Any

import orjson

from producer.exchanges import BadFrame, DepthEvent
from producer.feed import BookFeed


class MessageBookFeed(BookFeed):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not self.diff:
            raise ValueError(f"{self.spec.id} has diff streams only: stream_kind must be diff")
        if self.spec.parse_message is None:
            raise ValueError(f"{self.spec.id} declares no parse_message")
        self._parse = self.spec.parse_message

    def _on_frame_python(self, raw: str | bytes, receive_time_ns: int) -> str | None:
        try:
            msg = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            self._dead_letter(raw, f"malformed JSON: {exc}", None, None)
            return None
        if self.trades is not None and self.trades.take(msg, raw, receive_time_ns):
            self.trade_frames += 1
            return None
        try:
            parsed = self._parse(msg, receive_time_ns)
        except BadFrame as exc:
            stream = self._stream_named_in(msg)
            self._dead_letter(raw, str(exc), stream, self.routes.get(stream) if stream else None)
            return None
        if parsed is None:
            return None
        stream, ev = parsed
        state = self.routes.get(stream)
        if state is None:
            self._dead_letter(raw, f"unknown stream {stream!r}", stream, None)
        elif type(ev) is not DepthEvent:
            self._dead_letter(raw, "a book snapshot on a diff stream", stream, state)
        elif ev.symbol != state.symbol:
            self._dead_letter(raw, f"symbol {ev.symbol!r} on stream {stream!r}", stream, state)
        else:
            self._on_diff(state, ev, receive_time_ns)
        return None

    def _stream_named_in(self, msg: Any) -> str | None:
        """The stream of the book a refused update names (`result.s`), so that its DLQ record
        carries the book's key and counts in the book's DLQ counter; None when it names none."""
        result = msg.get("result") if type(msg) is dict else None
        symbol = result.get("s") if type(result) is dict else None
        return self.spec.diff_channel(symbol) if type(symbol) is str and symbol in self.symbols else None
