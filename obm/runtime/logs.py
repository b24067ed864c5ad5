"""One log line format for every service process (producer, simulator, recorder, sinks, gateway,
notifier): time, level, logger, message, so their logs read alike and one grep works across them."""

from __future__ import annotations

import logging

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def configure_logging(level: str | int = logging.INFO) -> None:
    """The root logger at `level` ("DEBUG", "INFO", ... or a number) with LOG_FORMAT on stderr."""
    logging.basicConfig(level=level, format=LOG_FORMAT)
