"""`python -m gateway` (what `obm serve` and the Compose service run): the gateway with settings
from the environment (OBM_GATEWAY_*, OBM_KAFKA_*, OBM_REDIS_*, OBM_CONTRACT_*)."""

from __future__ import annotations

import sys

from config import KafkaSettings, RedisSettings
from config.settings import GatewaySettings
from gateway.server import Gateway
from obm.runtime.gc_tuning import tune_gc
from obm.runtime.logs import configure_logging
from obm.runtime.signals import run_until_signalled


def main() -> int:
    configure_logging()
    tune_gc()
    run_until_signalled(lambda stop: Gateway(GatewaySettings(), KafkaSettings(), RedisSettings()).run(stop))
    return 0


if __name__ == "__main__":
    sys.exit(main())
