"""`python -m notify` (what `obm notify`, the embedded stack and the Compose service run): the
notifier with settings from the environment (OBM_NOTIFY_*, OBM_KAFKA_*, OBM_PG_*, OBM_CONTRACT_*)."""

from __future__ import annotations

import sys

from config import KafkaSettings, PostgresSettings
from config.settings import NotifySettings
from notify.service import Notifier
from obm.runtime.logs import configure_logging
from obm.runtime.signals import run_until_signalled


def main() -> int:
    configure_logging()
    run_until_signalled(
        lambda stop: Notifier(NotifySettings(), KafkaSettings(), PostgresSettings()).run(stop)
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
