"""Which broker an operator command talks to.

The `obm` group may put a KafkaSettings on the click context (e.g. one pointed at the embedded
stack); otherwise the environment and `.env` decide, exactly as for the services, so the same
command works against the embedded stack and against Compose (both listen on 127.0.0.1:9092).
"""

from __future__ import annotations

import click

from config import KafkaSettings


def kafka_settings_from(ctx: click.Context) -> KafkaSettings:
    found = ctx.find_object(KafkaSettings)
    return found if found is not None else KafkaSettings()
