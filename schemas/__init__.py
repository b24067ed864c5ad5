"""The contract of every topic: one versioned JSON Schema per topic, the topic names, and fast
validators. Producer and sinks validate against these; tests check example records of each."""

from schemas.dlq import dlq_record
from schemas.registry import SCHEMA_VERSION, ValidationFailed, load_schema, validator_for
from schemas.topics import ALL_TOPICS, Topic, record_key

__all__ = [
    "ALL_TOPICS",
    "SCHEMA_VERSION",
    "Topic",
    "ValidationFailed",
    "dlq_record",
    "load_schema",
    "record_key",
    "validator_for",
]
