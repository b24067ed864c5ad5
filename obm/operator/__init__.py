"""The operator's commands, as click objects the `obm` group mounts:

    obm topics list|describe|create     the broker's topics, their policy and watermarks
    obm tail TOPIC [--from] [--key]     records decoded and checked against the topic's schema
    obm replay SOURCE DEST [...]        copy a slice of a topic, or --rewind-group G --to TIME
    obm replay --from-dlq TOPIC [...]   put rejected records back on their topic
    obm dlq [--from] [--source]         orderbook.dlq grouped by consumer and reason kind

They talk to whichever broker KafkaSettings names (embedded stack or Compose alike).
"""

from obm.operator.dlq_command import dlq
from obm.operator.replay_command import replay
from obm.operator.tail_command import tail
from obm.operator.topics_command import topics

OPERATOR_COMMANDS = (topics, tail, replay, dlq)

__all__ = ["OPERATOR_COMMANDS", "dlq", "replay", "tail", "topics"]
