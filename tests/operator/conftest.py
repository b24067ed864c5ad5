"""Per-test isolation on the session's broker: every test gets its own topic prefix, so the
contract names (orderbook.raw, ...) map to topics no other test touches."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import click
import pytest
from click.testing import CliRunner, Result

from config import KafkaSettings


@pytest.fixture
def isolated_kafka(kafka_settings: KafkaSettings) -> KafkaSettings:
    """The session broker with a topic prefix of this test's own."""
    return kafka_settings.model_copy(update={"topic_prefix": f"op{uuid.uuid4().hex[:10]}."})


@pytest.fixture
def run_obm(isolated_kafka: KafkaSettings) -> Callable[..., Result]:
    """Invoke an operator command the way `obm` does, with the test's settings on the context."""

    def invoke(command: click.Command, *args: str) -> Result:
        return CliRunner().invoke(command, list(args), obj=isolated_kafka, catch_exceptions=False)

    return invoke
