"""What the cryptofeed peers of the benches do alike (bench/producer_cryptofeed_peer.py: Binance;
bench/producer_cryptofeed_venues_peer.py: OKX, Bybit): take the same arguments, count cryptofeed's
L2_BOOK callbacks and time them (wall and process CPU) from the first (the snapshot) to the
N-th, run one feed on cryptofeed's uvloop until then, and print the one JSON line the bench reads,
with the final top of the book.

Runs under the cryptofeed venv (.cache/cryptofeed-venv), so it imports the standard library and
cryptofeed only; the benches start the peers with PYTHONPATH at the repository so that
`bench.cryptofeed_peer` is found. uvloop is cryptofeed's default: FeedHandler installs its loop
policy, and on Python 3.11 `run()` needs a loop set beforehand.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import Callable
from typing import Any


def peer_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--ws-url", required=True)
    parser.add_argument("--rest-url", required=True)
    parser.add_argument("--updates", type=int, required=True, help="book callbacks to wait for")
    parser.add_argument("--depth", type=int, default=20, help="levels per side to report at the end")
    parser.add_argument("--log-file", required=True)
    parser.add_argument("--timeout", type=float, default=600.0)


def run_feed(args: argparse.Namespace, client: str, make_feed: Callable[[Callable[..., Any]], Any]) -> None:
    """Run the feed `make_feed(on_book)` returns until `args.updates` book callbacks (or the
    timeout), then print the result line for `client`."""
    from cryptofeed import FeedHandler

    state: dict = {"n": 0, "t0": 0.0, "c0": 0.0, "t1": 0.0, "c1": 0.0, "book": None}

    async def on_book(book, receipt_timestamp: float) -> None:  # noqa: ANN001 - cryptofeed's OrderBook
        state["n"] += 1
        if state["n"] == 1:
            state["t0"], state["c0"] = time.perf_counter(), time.process_time()
        if state["n"] >= args.updates and not state["t1"]:
            state["t1"], state["c1"] = time.perf_counter(), time.process_time()
            state["book"] = book.book.to_dict()
            asyncio.get_event_loop().stop()

    handler = FeedHandler(config={"uvloop": True, "log": {"filename": args.log_file, "level": "WARNING"}})
    asyncio.set_event_loop(asyncio.new_event_loop())  # uvloop's, since FeedHandler set the policy
    handler.add_feed(make_feed(on_book))
    loop = asyncio.get_event_loop()
    loop.call_later(args.timeout, loop.stop)
    handler.run(install_signal_handlers=False)

    book = state["book"] or {"bid": {}, "ask": {}}
    bids = [[str(p), str(s)] for p, s in list(book["bid"].items())[: args.depth]]
    asks = [[str(p), str(s)] for p, s in list(book["ask"].items())[: args.depth]]
    elapsed = state["t1"] - state["t0"] if state["t1"] else float("nan")
    cpu = state["c1"] - state["c0"] if state["t1"] else float("nan")
    print(
        json.dumps(
            {
                "client": client,
                "loop": type(loop).__module__ + "." + type(loop).__name__,
                "updates": state["n"],
                "wall_s": elapsed,
                "cpu_s": cpu,
                "bids": bids,
                "asks": asks,
            }
        )
    )
    sys.stdout.flush()
