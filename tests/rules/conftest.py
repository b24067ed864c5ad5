"""The Flink tests' local environment (one per session), for the rules job's bounded tests."""

from tests.flink.conftest import local_table_env

__all__ = ["local_table_env"]
