"""Key names of the Redis layout (the storage contract shared with the Redis sink).

Temporary mirror of the contract until sinks/redis_layout.py exists; the dashboard switches to
that module so one file owns the names.
"""

from __future__ import annotations


class RedisKeys:
    def __init__(self, prefix: str = "obm"):
        self.prefix = prefix

    def symbols(self) -> str:
        return f"{self.prefix}:symbols"

    def latest(self, key: str) -> str:
        return f"{self.prefix}:latest:{key}"

    def book(self, key: str) -> str:
        return f"{self.prefix}:book:{key}"

    def bars(self, interval: str, key: str) -> str:
        return f"{self.prefix}:bars:{interval}:{key}"

    def alerts_stream(self) -> str:
        return f"{self.prefix}:alerts"

    def last_alert(self, key: str) -> str:
        return f"{self.prefix}:alerts:last:{key}"

    def alerts_channel(self) -> str:
        return f"{self.prefix}:alerts:live"

    def heartbeat(self) -> str:
        return f"{self.prefix}:sink:heartbeat"
