"""`python -m notify` (what `obm notify`, the embedded stack and the Compose service run): the
notifier with settings from the environment (OBM_NOTIFY_*, OBM_KAFKA_*, OBM_PG_*, OBM_CONTRACT_*)."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys

from config import KafkaSettings, PostgresSettings
from config.settings import NotifySettings
from notify.service import Notifier


async def _main() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await Notifier(NotifySettings(), KafkaSettings(), PostgresSettings()).run(stop)


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    asyncio.run(_main())
    return 0


if __name__ == "__main__":
    sys.exit(main())
