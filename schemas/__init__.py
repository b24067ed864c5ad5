"""The contract of every topic: one versioned JSON Schema per topic, the topic names, and fast
validators. Producer and sinks validate against these; tests check example records of each."""

from schemas.conformance import contract_rules, nonconformity
from schemas.dlq import dlq_record, original_bytes
from schemas.registry import SCHEMA_VERSION, ValidationFailed, load_schema, validator_for
from schemas.topics import ALL_TOPICS, Topic, record_key, split_record_key, topic_name

__all__ = [
    "ALL_TOPICS",
    "SCHEMA_VERSION",
    "Topic",
    "ValidationFailed",
    "contract_rules",
    "dlq_record",
    "load_schema",
    "nonconformity",
    "original_bytes",
    "record_key",
    "split_record_key",
    "topic_name",
    "validator_for",
]
