"""`python -m sinks postgres|redis`: run one sink with settings from the environment
(OBM_KAFKA_*, OBM_PG_*, OBM_REDIS_*, OBM_SINK_*)."""

from __future__ import annotations

import sys

from sinks.launch import SINK_KINDS, run_sink


def main(argv: list[str]) -> int:
    if len(argv) != 1 or argv[0] not in SINK_KINDS:
        print(f"usage: python -m sinks {{{'|'.join(SINK_KINDS)}}}", file=sys.stderr)
        return 2
    return run_sink(argv[0])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
