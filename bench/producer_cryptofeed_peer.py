"""The cryptofeed side of bench/producer_cryptofeed.py. Runs under the separate venv that bench
creates (.cache/cryptofeed-venv, cryptofeed 2.4.1), not the project's: it imports nothing of the
project. It keeps the same Binance book as our producer from the same replayed WebSocket, counts
cryptofeed's book callbacks, and prints one JSON line with the counts, the timings and the final
top of the book (for the bench to check both sides kept the same book).

cryptofeed accepts only wss:// addresses, so the simulator serves TLS with a self-signed
certificate the bench passes in SSL_CERT_FILE (websockets, aiohttp) and REQUESTS_CA_BUNDLE
(requests, used for exchangeInfo). uvloop is cryptofeed's default: FeedHandler installs its loop
policy, and on Python 3.11 `run()` needs a loop set beforehand.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--ws-url", required=True)
    parser.add_argument("--rest-url", required=True)
    parser.add_argument("--symbol", default="ETHUSDT")
    parser.add_argument("--updates", type=int, required=True, help="book callbacks to wait for")
    parser.add_argument("--depth", type=int, default=20, help="levels per side to report at the end")
    parser.add_argument("--log-file", required=True)
    parser.add_argument("--timeout", type=float, default=600.0)
    args = parser.parse_args()

    from cryptofeed import FeedHandler
    from cryptofeed.connection import RestEndpoint, Routes, WebsocketEndpoint
    from cryptofeed.defines import L2_BOOK
    from cryptofeed.exchanges import Binance

    class LocalBinance(Binance):
        websocket_endpoints = [WebsocketEndpoint(args.ws_url)]
        rest_endpoints = [
            RestEndpoint(
                args.rest_url,
                routes=Routes("/api/v3/exchangeInfo", l2book="/api/v3/depth?symbol={}&limit={}"),
            )
        ]

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
    base, quote = args.symbol[:-4], args.symbol[-4:]
    handler.add_feed(
        LocalBinance(symbols=[f"{base}-{quote}"], channels=[L2_BOOK], callbacks={L2_BOOK: on_book})
    )
    loop = asyncio.get_event_loop()
    loop.call_later(args.timeout, loop.stop)
    handler.run(install_signal_handlers=False)

    book = state["book"] or {"bid": {}, "ask": {}}
    bids = [[str(p), str(s)] for p, s in list(book["bid"].items())[: args.depth]]
    asks = [[str(p), str(s)] for p, s in list(book["ask"].items())[: args.depth]]
    updates = state["n"]
    elapsed = state["t1"] - state["t0"] if state["t1"] else float("nan")
    cpu = state["c1"] - state["c0"] if state["t1"] else float("nan")
    loop_name = type(loop).__module__ + "." + type(loop).__name__
    print(
        json.dumps(
            {
                "client": "cryptofeed 2.4.1",
                "loop": loop_name,
                "updates": updates,
                "wall_s": elapsed,
                "cpu_s": cpu,
                "bids": bids,
                "asks": asks,
            }
        )
    )
    sys.stdout.flush()


if __name__ == "__main__":
    main()
