"""A small synchronous test client of the gateway's protocol (websockets.sync)."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import orjson
from websockets.sync.client import ClientConnection, connect


class TestClient:
    __test__ = False  # not a test class

    def __init__(self, url: str, token: str | None = None, origin: str | None = None, **options: Any) -> None:
        headers = {"Authorization": f"Bearer {token}"} if token else None
        self.ws: ClientConnection = connect(
            url, additional_headers=headers, origin=origin, open_timeout=30, legacy=True, **options
        )  # type: ignore[arg-type]
        self.seen: list[dict[str, Any]] = []

    def send(self, message: dict[str, Any]) -> None:
        self.ws.send(orjson.dumps(message).decode())

    def recv(self, timeout_s: float = 30.0) -> dict[str, Any]:
        msg: dict[str, Any] = orjson.loads(self.ws.recv(timeout=timeout_s))
        self.seen.append(msg)
        return msg

    def request(self, action: str, channel: str, keys: list[str], request_id: int = 1) -> dict[str, Any]:
        """Sends a subscribe/unsubscribe and returns its reply (messages before it are kept in seen)."""
        self.send({"type": action, "channel": channel, "keys": keys, "id": request_id})
        while True:
            msg = self.recv()
            if msg["type"] in (f"{action}d", "error") and msg.get("id") == request_id:
                return msg

    def collect(
        self, done: Callable[[list[dict[str, Any]]], bool], timeout_s: float = 60.0
    ) -> list[dict[str, Any]]:
        """Receives until `done(messages)` holds; fails with what arrived when it never does."""
        got: list[dict[str, Any]] = []
        deadline = time.monotonic() + timeout_s
        while not done(got):
            left = deadline - time.monotonic()
            if left <= 0:
                kinds = Counter((m["type"], m.get("channel")) for m in got)
                raise AssertionError(f"gave up after {timeout_s} s with {len(got)} messages: {dict(kinds)}")
            try:
                got.append(self.recv(timeout_s=left))
            except TimeoutError:
                continue
        return got

    def close(self) -> None:
        self.ws.close()


def updates(messages: list[dict[str, Any]], channel: str, key: str | None = None) -> list[dict[str, Any]]:
    return [
        m for m in messages if m["type"] == "update" and m["channel"] == channel and key in (None, m["key"])
    ]


def wait_until(what: str, cond: Callable[[], Any], timeout_s: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        got = cond()
        if got:
            return got
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")
