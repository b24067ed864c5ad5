"""The capture format shared by `obm record` and the simulator's replay.

One message per line: `<receive time, ns since epoch> <raw JSON>`, gzip when the name ends in
.gz. Stream frames are the combined-stream frames exactly as received; a REST depth snapshot is
the bare response body. A bare snapshot does not say its symbol: in a one-symbol capture it
belongs to that symbol; when a recording holds several symbols, the recorder adds a top-level
"symbol" field to the snapshot line (the replay strips it again before serving it).
"""

from __future__ import annotations

import gzip
import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import orjson


@dataclass(slots=True)
class CaptureFrame:
    receive_ns: int
    raw: bytes  # the line's JSON, untouched
    stream: str | None  # None for a REST snapshot
    symbol: str | None
    first_id: int = 0  # U of depth diffs (0 otherwise)
    final_id: int = 0  # u of depth diffs, lastUpdateId of snapshots


@dataclass
class Capture:
    frames: list[CaptureFrame] = field(default_factory=list)

    @property
    def streams(self) -> set[str]:
        return {f.stream for f in self.frames if f.stream}

    @property
    def symbols(self) -> set[str]:
        return {f.symbol for f in self.frames if f.symbol}

    def snapshot_indices(self, symbol: str) -> list[int]:
        return [i for i, f in enumerate(self.frames) if f.stream is None and f.symbol == symbol]


def open_text(path: str | Path, mode: str) -> IO[bytes]:
    path = Path(path)
    if path.suffix == ".gz":
        return gzip.open(path, mode + "b", compresslevel=6)  # type: ignore[return-value]
    return open(path, mode + "b")  # noqa: SIM115


def iter_lines(path: str | Path) -> Iterator[tuple[int, bytes]]:
    with open_text(path, "r") as fh:
        for line in io.BufferedReader(fh):  # type: ignore[arg-type,type-var]
            line = line.rstrip(b"\r\n")
            if not line:
                continue
            ns, sep, raw = line.partition(b" ")
            if not sep:
                raise ValueError(f"{path}: line without '<ns> <json>': {line[:80]!r}")
            yield int(ns), raw


def load_capture(path: str | Path) -> Capture:
    """Parse a capture file; raises ValueError if a snapshot's symbol cannot be determined."""
    capture = Capture()
    pending_snapshots: list[CaptureFrame] = []
    for ns, raw in iter_lines(path):
        msg = orjson.loads(raw)
        stream = msg.get("stream")
        if stream is not None:
            data = msg.get("data") or {}
            symbol = data.get("s") or stream.split("@", 1)[0].upper()
            frame = CaptureFrame(ns, raw, stream, symbol)
            if data.get("e") == "depthUpdate":
                frame.first_id, frame.final_id = int(data["U"]), int(data["u"])
        elif "lastUpdateId" in msg:
            frame = CaptureFrame(ns, raw, None, msg.get("symbol"), final_id=int(msg["lastUpdateId"]))
            if frame.symbol is None:
                pending_snapshots.append(frame)
        else:
            continue  # other REST bodies are not replayed
        capture.frames.append(frame)
    if pending_snapshots:
        depth_symbols = {f.symbol for f in capture.frames if f.first_id}
        if len(depth_symbols) != 1:
            raise ValueError(
                f"{path}: snapshot without 'symbol' in a capture of {sorted(map(str, depth_symbols))}"
            )
        only = depth_symbols.pop()
        for frame in pending_snapshots:
            frame.symbol = only
    return capture


class CaptureWriter:
    """Appends `<ns> <json>` lines (what `obm record` writes)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._fh = open_text(self.path, "w")
        self.lines = 0

    def write(self, receive_ns: int, raw: bytes | str) -> None:
        if isinstance(raw, str):
            raw = raw.encode()
        self._fh.write(b"%d %s\n" % (receive_ns, raw))
        self.lines += 1

    def write_snapshot(self, receive_ns: int, body: bytes, symbol: str | None) -> None:
        if symbol is not None:
            msg = orjson.loads(body)
            msg["symbol"] = symbol
            body = orjson.dumps(msg)
        self.write(receive_ns, body)

    def close(self) -> None:
        self._fh.close()
