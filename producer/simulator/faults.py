"""Faults the simulator injects on demand, so tests can prove the producer survives them:
dropped depth frames (sequence gaps), malformed frames of several kinds, disconnects, stalls (an
open but silent connection), REST errors on depth snapshots (429 with Retry-After, 418, or any
status, for every symbol or one), refused WebSocket handshakes (`ws_reject`, any status), a delisted symbol (its REST answers turn to "Invalid symbol")
and `serverShutdown`; `clear` ends every fault still pending."""

from __future__ import annotations

import time

import orjson

FAULT_KINDS = (
    "drop",
    "bad_json",
    "missing_field",
    "nan_size",
    "negative_size",
    "unknown_stream",
    "not_an_object",
    "http_error",
    "ws_reject",
    "delist",
    "stall",
    "disconnect",
    "server_shutdown",
    "clear",
)


def malformed_frame(kind: str, symbol: str) -> bytes:
    """A frame the producer must send to the DLQ (and otherwise ignore)."""
    stream = f"{symbol.lower()}@depth@100ms"
    now = time.time_ns() // 10**6
    good = {
        "e": "depthUpdate",
        "E": now,
        "s": symbol,
        "U": 1,
        "u": 1,
        "b": [["1.00000000", "1.00000000"]],
        "a": [],
    }
    if kind == "bad_json":
        return b'{"stream":"%s","data":{"e":"depthUpdate","E":%d,"s":"%s","U":' % (
            stream.encode(),
            now,
            symbol.encode(),
        )
    if kind == "missing_field":
        data = dict(good)
        del data["U"]
    elif kind == "nan_size":
        data = dict(good, b=[["1.00000000", "NaN"]])
    elif kind == "negative_size":
        data = dict(good, a=[["1.00000000", "-2.50000000"]])
    elif kind == "unknown_stream":
        return orjson.dumps({"stream": f"{symbol.lower()}@nosuchstream", "data": good})
    elif kind == "not_an_object":
        return orjson.dumps({"stream": stream, "data": [1, 2, 3]})
    else:
        raise ValueError(kind)
    return orjson.dumps({"stream": stream, "data": data})


class Faults:
    def __init__(self) -> None:
        self._drops: dict[str, int] = {}
        self._malformed: dict[str, list[str]] = {}
        self._http: list[tuple[str | None, int, float]] = []  # (symbol or any, status, Retry-After)
        self.delisted: set[str] = set()
        self._stall_until = 0.0
        self._ws_rejects: list[int] = []  # statuses of the next WebSocket handshakes refused
        self.dropped = 0
        self.malformed_sent = 0
        # Diff frames not sent to a session because a stall was in force (one per session and
        # step): a stall is a silent connection, its frames are lost like on a dead link, and
        # tests can tell a stall's gap from any other.
        self.withheld = 0

    def clear(self) -> None:
        """End every pending fault (drops, malformed frames, REST errors, a stall, delistings)."""
        self._drops.clear()
        self._malformed.clear()
        self._http.clear()
        self._ws_rejects.clear()
        self._stall_until = 0.0
        self.delisted.clear()

    def add_drop(self, symbol: str, count: int) -> None:
        self._drops[symbol] = self._drops.get(symbol, 0) + count

    def take_drop(self, symbol: str | None) -> bool:
        """True if this depth frame of `symbol` is to be dropped."""
        left = self._drops.get(symbol or "", 0)
        if left <= 0:
            return False
        self._drops[symbol or ""] = left - 1
        self.dropped += 1
        return True

    def add_malformed(self, symbol: str, kind: str, count: int) -> None:
        self._malformed.setdefault(symbol, []).extend([kind] * count)

    def take_malformed(self, symbol: str | None) -> list[bytes]:
        kinds = self._malformed.pop(symbol or "", None)
        if not kinds:
            return []
        self.malformed_sent += len(kinds)
        return [malformed_frame(kind, symbol or "") for kind in kinds]

    def add_http_errors(
        self, status: int, count: int, retry_after_s: float, symbol: str | None = None
    ) -> None:
        """The next `count` depth requests (of `symbol`, or of any symbol) answer `status`."""
        self._http.extend([(symbol, status, retry_after_s)] * count)

    def take_http_error(self, symbol: str) -> tuple[int, float] | None:
        for i, (target, status, retry_after_s) in enumerate(self._http):
            if target is None or target == symbol:
                del self._http[i]
                return status, retry_after_s
        return None

    def add_ws_rejects(self, status: int, count: int) -> None:
        """The next `count` WebSocket handshakes (Binance's and Hyperliquid's /ws, /stream) answer
        `status` instead of upgrading: a venue refusing connections (5xx, 429 ban)."""
        self._ws_rejects.extend([status] * count)

    def take_ws_reject(self) -> int | None:
        return self._ws_rejects.pop(0) if self._ws_rejects else None

    def stall(self, seconds: float) -> None:
        self._stall_until = time.monotonic() + seconds

    def stalled_for(self) -> float:
        return max(0.0, self._stall_until - time.monotonic())
