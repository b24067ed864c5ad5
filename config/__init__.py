"""Typed configuration for every service: one pydantic-settings class per service, each with its
own environment prefix, so an address or credential lives in exactly one place.

`from config import KafkaSettings` and `from config.settings import KafkaSettings` are the same
class: this package re-exports config.settings's names (its `__all__`), listed there once."""

from config.settings import *  # noqa: F403
from config.settings import __all__ as __all__
