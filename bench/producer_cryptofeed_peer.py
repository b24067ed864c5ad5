"""The cryptofeed side of bench/producer_cryptofeed.py. Runs under the separate venv that bench
creates (.cache/cryptofeed-venv, cryptofeed 2.4.1), not the project's: it imports nothing of the
project but bench/cryptofeed_peer.py (what both cryptofeed peers do alike). It keeps the same
Binance book as our producer from the same replayed WebSocket, counts cryptofeed's book callbacks,
and prints one JSON line with the counts, the timings and the final top of the book (for the bench
to check both sides kept the same book).

cryptofeed accepts only wss:// addresses, so the simulator serves TLS with a self-signed
certificate the bench passes in SSL_CERT_FILE (websockets, aiohttp) and REQUESTS_CA_BUNDLE
(requests, used for exchangeInfo).
"""

from __future__ import annotations

import argparse

from bench.cryptofeed_peer import peer_arguments, run_feed


def main() -> None:
    parser = argparse.ArgumentParser()
    peer_arguments(parser)
    parser.add_argument("--symbol", default="ETHUSDT")
    args = parser.parse_args()

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

    base, quote = args.symbol[:-4], args.symbol[-4:]
    run_feed(
        args,
        "cryptofeed 2.4.1",
        lambda on_book: LocalBinance(
            symbols=[f"{base}-{quote}"], channels=[L2_BOOK], callbacks={L2_BOOK: on_book}
        ),
    )


if __name__ == "__main__":
    main()
