"""Captures of the venues subscribed by message (OKX, Bybit, Gate.io, Hyperliquid): the same
`<receive ns> <raw JSON>` lines as Binance's captures (producer/capture.py), with what a replay
needs to be that venue again, since these venues are not one combined-stream URL:

- a first line `{"capture": {"exchange", "market", "symbols", "ws_path"}}`: which exchange module
  the frames belong to, the producer's symbols, and the WebSocket path the recorder connected to;
- `{"rest": "listing", "body": ...}`: the venue's listing as it answered (instruments, contract
  sizes, Hyperliquid's spot `@index` names), so a replay lists exactly what was recorded;
- `{"rest": "snapshot", "symbol": ..., "body": ...}`: a REST depth snapshot, for venues whose book
  is not in the stream (Gate.io), after a book's first update and after any break in its chain;
- every other line is a WebSocket text frame exactly as received (subscription answers, pongs and
  book messages alike: the producer's own parser decides what they are on replay).

A capture without the first line is a Binance capture (producer/capture.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from producer.capture import CaptureWriter, iter_lines


@dataclass(frozen=True)
class CaptureHeader:
    exchange: str  # ExchangeSpec.id
    market: str
    symbols: tuple[str, ...]
    ws_path: str

    def line(self) -> bytes:
        return orjson.dumps({"capture": {**self.__dict__, "symbols": list(self.symbols)}})


@dataclass(slots=True)
class VenueLine:
    receive_ns: int
    kind: str  # frame | listing | snapshot
    raw: bytes  # the frame as received, or the REST body
    symbol: str | None = None  # snapshots only


@dataclass
class VenueCapture:
    header: CaptureHeader
    lines: list[VenueLine] = field(default_factory=list)

    @property
    def listing(self) -> bytes | None:
        return next((line.raw for line in self.lines if line.kind == "listing"), None)

    def snapshot_indices(self, symbol: str) -> list[int]:
        return [i for i, line in enumerate(self.lines) if line.kind == "snapshot" and line.symbol == symbol]


def read_header(path: str | Path) -> CaptureHeader | None:
    """The venue header of a capture, None for a Binance capture (or an empty file)."""
    for _, raw in iter_lines(path):
        if not raw.startswith(b'{"capture"'):
            return None
        meta = orjson.loads(raw)["capture"]
        return CaptureHeader(meta["exchange"], meta["market"], tuple(meta["symbols"]), meta["ws_path"])
    return None


def load_venue_capture(path: str | Path) -> VenueCapture:
    header = read_header(path)
    if header is None:
        raise ValueError(f"{path}: not a venue capture (no capture header line)")
    capture = VenueCapture(header)
    lines = iter_lines(path)
    next(lines)  # the header
    for ns, raw in lines:
        if raw.startswith(b'{"rest"'):
            msg: dict[str, Any] = orjson.loads(raw)
            body = orjson.dumps(msg["body"])
            capture.lines.append(VenueLine(ns, msg["rest"], body, msg.get("symbol")))
        else:
            capture.lines.append(VenueLine(ns, "frame", raw))
    return capture


class VenueCaptureWriter(CaptureWriter):
    """CaptureWriter plus the venue capture's header and REST lines."""

    def write_header(self, receive_ns: int, header: CaptureHeader) -> None:
        self.write(receive_ns, header.line())

    def write_rest(self, receive_ns: int, kind: str, body: bytes, symbol: str | None = None) -> None:
        line: dict[str, Any] = {"rest": kind, "body": orjson.Fragment(body)}
        if symbol is not None:
            line["symbol"] = symbol
        self.write(receive_ns, orjson.dumps(line))
