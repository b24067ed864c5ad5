"""`python -m notify` (what `obm notify`, the embedded stack and the Compose service run): the
notifier with settings from the environment (OBM_NOTIFY_*, OBM_KAFKA_*, OBM_PG_*, OBM_CONTRACT_*)."""

from __future__ import annotations

import asyncio
import logging
import sys

from config import KafkaSettings, PostgresSettings
from config.settings import NotifySettings
from notify.service import Notifier
from obm.runtime.signals import stop_on_signals


async def _main() -> None:
    stop = stop_on_signals()
    await Notifier(NotifySettings(), KafkaSettings(), PostgresSettings()).run(stop)


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    asyncio.run(_main())
    return 0


if __name__ == "__main__":
    sys.exit(main())
