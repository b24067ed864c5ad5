"""`python -m gateway` (what `obm serve` and the Compose service run): the gateway with settings
from the environment (OBM_GATEWAY_*, OBM_KAFKA_*, OBM_REDIS_*, OBM_CONTRACT_*)."""

from __future__ import annotations

import asyncio
import logging
import sys

from config import KafkaSettings, RedisSettings
from config.settings import GatewaySettings
from gateway.server import Gateway
from obm.runtime.signals import stop_on_signals


async def _main() -> None:
    stop = stop_on_signals()
    await Gateway(GatewaySettings(), KafkaSettings(), RedisSettings()).run(stop)


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    asyncio.run(_main())
    return 0


if __name__ == "__main__":
    sys.exit(main())
