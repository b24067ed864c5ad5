"""The cryptofeed side of bench/producer_cryptofeed_venues.py (OKX, Bybit). Runs under the venv
bench/producer_cryptofeed.py creates (.cache/cryptofeed-venv, cryptofeed 2.4.1) and imports
nothing of the project. It keeps the same book as our producer from the same replayed WebSocket,
counts cryptofeed's L2_BOOK callbacks and prints one JSON line with the counts, the timings and the
final top of the book.

The feeds are cryptofeed's own, with their endpoints pointed at the simulator (the only change):
OKX (`wss://.../ws/v5/public`, its `books` channel; instruments from /api/v5/public/instruments,
which the venue replay answers whatever the query; two routes of cryptofeed's own list, since
with one route it reads the answer as a list of answers), Bybit v5 (`wss://.../v5/public/linear`, its
`orderbook.200` subscription: the replay sends the recorded `orderbook.50` messages, which its
handler reads by the topic's last part; instruments from /v5/market/instruments-info).
cryptofeed's OKX checksum check stays at its default (off).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--venue", choices=["okx", "bybit"], required=True)
    parser.add_argument("--ws-url", required=True)
    parser.add_argument("--rest-url", required=True)
    parser.add_argument("--updates", type=int, required=True, help="book callbacks to wait for")
    parser.add_argument("--depth", type=int, default=20, help="levels per side to report at the end")
    parser.add_argument("--log-file", required=True)
    parser.add_argument("--timeout", type=float, default=600.0)
    args = parser.parse_args()

    from cryptofeed import FeedHandler
    from cryptofeed.connection import RestEndpoint, Routes, WebsocketEndpoint
    from cryptofeed.defines import FUTURES, L2_BOOK, PERPETUAL
    from cryptofeed.exchanges import OKX, Bybit

    class LocalOKX(OKX):
        websocket_endpoints = [
            WebsocketEndpoint(
                f"{args.ws_url}/ws/v5/public",
                channel_filter=(OKX.websocket_channels[L2_BOOK],),
                options={"compression": None},
            )
        ]
        rest_endpoints = [
            # two routes, as cryptofeed's own list has several: with one it reads the answer as a list
            RestEndpoint(
                args.rest_url,
                routes=Routes(
                    ["/api/v5/public/instruments?instType=SPOT", "/api/v5/public/instruments?instType=SWAP"]
                ),
            )
        ]

    class LocalBybit(Bybit):
        websocket_endpoints = [
            WebsocketEndpoint(
                f"{args.ws_url}/v5/public/linear",
                instrument_filter=("TYPE", (FUTURES, PERPETUAL)),
                channel_filter=(Bybit.websocket_channels[L2_BOOK],),
                options={"compression": None},
            )
        ]
        rest_endpoints = [
            RestEndpoint(
                args.rest_url,
                routes=Routes(
                    [
                        "/v5/market/instruments-info?&category=linear&status=Trading&limit=1000",
                        "/v5/market/instruments-info?&category=spot&status=Trading&limit=1000",
                    ]
                ),
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
    if args.venue == "okx":
        feed = LocalOKX(symbols=["BTC-USDT"], channels=[L2_BOOK], callbacks={L2_BOOK: on_book})
    else:
        feed = LocalBybit(symbols=["BTC-USDT-PERP"], channels=[L2_BOOK], callbacks={L2_BOOK: on_book})
    handler.add_feed(feed)
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
                "client": f"cryptofeed 2.4.1 ({args.venue})",
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


if __name__ == "__main__":
    main()
