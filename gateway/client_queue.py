"""A client's outgoing queue: bounded, with conflation of full-state updates.

A client that keeps up finds the queue nearly empty and receives every message. One that falls
behind (more than `conflate_above` messages pending) stops receiving intermediate states of a
conflatable key: a new update of a key replaces that key's newest pending update in place, so
the key's order is kept and the client gets its latest state (the sequence numbers show the
gap). Events (bars, alerts) and control messages are never replaced; when the queue holds
`capacity` messages and one more must be appended, `put` says so and the gateway disconnects the
client (it cannot keep up). Pure data structure: no I/O, no asyncio."""

from __future__ import annotations

from collections import deque
from collections.abc import Hashable


class _Entry:
    __slots__ = ("key", "payload")

    def __init__(self, key: Hashable | None, payload: bytes) -> None:
        self.key = key
        self.payload = payload


class ConflatingQueue:
    def __init__(self, capacity: int, conflate_above: int) -> None:
        if not 0 <= conflate_above <= capacity or capacity < 1:
            raise ValueError(
                f"need 0 <= conflate_above ({conflate_above}) <= capacity ({capacity}), capacity >= 1"
            )
        self.capacity = capacity
        self.conflate_above = conflate_above
        self._entries: deque[_Entry] = deque()
        self._newest: dict[Hashable, _Entry] = {}  # conflatable key -> its newest pending entry
        self.conflated = 0  # updates replaced before they were sent

    def __len__(self) -> int:
        return len(self._entries)

    def put(self, payload: bytes, conflate_key: Hashable | None = None) -> bool:
        """Queue a message; `conflate_key` (e.g. (channel, key)) marks it replaceable by a newer
        one of the same key. False when the queue is full: the message was not queued."""
        entries = self._entries
        if conflate_key is not None and len(entries) >= self.conflate_above:
            pending = self._newest.get(conflate_key)
            if pending is not None:
                pending.payload = payload
                self.conflated += 1
                return True
        if len(entries) >= self.capacity:
            return False
        entry = _Entry(conflate_key, payload)
        entries.append(entry)
        if conflate_key is not None:
            self._newest[conflate_key] = entry
        return True

    def pop_many(self, limit: int) -> list[bytes]:
        """The oldest pending messages, at most `limit` of them, in order (one socket write)."""
        entries, newest = self._entries, self._newest
        out: list[bytes] = []
        for _ in range(min(limit, len(entries))):
            entry = entries.popleft()
            if entry.key is not None and newest.get(entry.key) is entry:
                del newest[entry.key]
            out.append(entry.payload)
        return out
