"""The cryptofeed side of bench/producer_cryptofeed_venues.py (OKX, Bybit). Runs under the venv
bench/producer_cryptofeed.py creates (.cache/cryptofeed-venv, cryptofeed 2.4.1) and imports
nothing of the project but bench/cryptofeed_peer.py (what both cryptofeed peers do alike). It keeps the same book as our producer from the same replayed WebSocket,
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

from bench.cryptofeed_peer import peer_arguments, run_feed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--venue", choices=["okx", "bybit"], required=True)
    peer_arguments(parser)
    args = parser.parse_args()

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

    def make_feed(on_book):  # noqa: ANN001, ANN202 - cryptofeed's callback and feed
        if args.venue == "okx":
            return LocalOKX(symbols=["BTC-USDT"], channels=[L2_BOOK], callbacks={L2_BOOK: on_book})
        return LocalBybit(symbols=["BTC-USDT-PERP"], channels=[L2_BOOK], callbacks={L2_BOOK: on_book})

    run_feed(args, f"cryptofeed 2.4.1 ({args.venue})", make_feed)


if __name__ == "__main__":
    main()
