"""The contract of every topic: one versioned JSON Schema per topic, the topic names, and fast
validators. Producer and sinks validate against these; tests check example records of each.

orderbook.alerts `context` (optional, issue 16): why an alert fired, a nested JSON object (not a
JSON string: read it as it comes, no second decode), absent or null on records written before it
existed and on user_rule alerts. Fields, every one a number or null unless said:
    profile               "seed" | "adaptive": the rule profile that raised it
    score                 = metric_value (seed: the raw value, the spread/mean ratio; adaptive:
                          "1 in N" rarity signed +bid/-ask, spread z, velocity in RMS units)
    value                 the raw value: imbalance_<level>, spread_bps or imbalance_velocity (/s)
    baseline_mean         adaptive imbalance and spread rules: the symbol's time-weighted mean
    baseline_std          ... and standard deviation (with the profile's floor)
    percentile            adaptive: fraction 0..1 of the symbol's recent time below the value
                          (imbalance) or below the z (spread)
    baseline_rms          adaptive velocity_spike: RMS of the imbalance velocity (/s)
    depth_notional_10bps  adaptive: (depth_bid_10bps + depth_ask_10bps) * mid, quote currency
    book                  object: mid, best_bid, best_ask, best_bid_size, best_ask_size,
                          spread_bps, depth_bid_10bps, depth_ask_10bps, depth_bid_50bps,
                          depth_ask_50bps (the orderbook.processed record the alert fired on)
The seed profile fills profile, score, value and book; the others are null there. The Flink
alerts job writes every field (nulls included); docs/alerts.md, "Context", says what each means."""

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
