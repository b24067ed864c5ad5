"""What each engine would send to Kafka, as bytes: the publisher of the differential tests, which
compare the compiled and the Python engines record for record."""

from __future__ import annotations

from typing import Any

import orjson


class BytesPublisher:
    """Keeps what each engine would send to Kafka, as bytes."""

    def __init__(self) -> None:
        self.raw: list[tuple[bytes, bytes, bool]] = []
        self.dlq: list[dict[str, Any]] = []

    def publish_book(self, key: bytes, record: dict[str, Any], force_check: bool = False) -> bool:
        self.raw.append((key, orjson.dumps(record), force_check))
        return True

    def publish_book_json(self, key: bytes, payload: bytes, force_check: bool = False) -> bool:
        self.raw.append((key, payload, force_check))
        return True

    def publish_dlq(self, record: dict[str, Any]) -> None:
        self.dlq.append({k: v for k, v in record.items() if k != "error_time_ms"})  # wall clock

    def poll(self, timeout: float = 0.0) -> int:
        return 0
