"""A slow client never slows the others: a client that stops reading is conflated (books), keeps
every alert, and is disconnected (SLOW_CONSUMER) when it still cannot keep up, while a client that
reads receives every update in order."""

from __future__ import annotations

import socket
from typing import Any

import pytest
from conftest import GatewayTestEnv
from gateway_client import TestClient, updates, wait_until

from gateway.protocol import Channel
from gateway.server import CLOSE_TIMEOUT_S
from schemas.topics import record_key

pytestmark = pytest.mark.integration

LEVELS = 100  # ~2.5 KB per book message
SNDBUF = 65_536  # the gateway's socket buffer per client: a stalled one fills it after a few dozen
# The client that reads shares this process (and its GIL) with the gateway, so the records are
# written in rounds, each once it has the previous ones: it keeps up by construction, however fast
# the gateway relays a burst, and is never `conflate_above` messages behind.
ROUND = 100


def stalling_client(url: str) -> TestClient:
    """A client that reads only when told: a small receive buffer and a one-frame queue, so once it
    stops calling recv the gateway's sends to it block."""
    host, port = url.removeprefix("ws://").split(":")
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect((host, int(port)))
    return TestClient(url, sock=sock, max_queue=1)


def seqs(messages: list[dict[str, Any]], channel: str, key: str) -> list[int]:
    return [m["seq"] for m in updates(messages, channel, key)]


def test_stalled_client_is_conflated_then_disconnected_while_others_get_everything(
    gw_env: GatewayTestEnv,
    start_gateway,  # type: ignore[no-untyped-def]
) -> None:
    gw = start_gateway(
        book_levels=LEVELS,
        client_send_buffer_bytes=SNDBUF,
        client_queue_max=1000,
        conflate_above=300,
        send_timeout_s=300,  # never: the stalled client is cut off by its queue, full of alerts
    )
    normal = TestClient(gw.url, max_queue=None)
    stalled = stalling_client(gw.url)
    for client in (normal, stalled):
        client.request("subscribe", "book", [f"{gw_env.exchange}:*"])
        client.request("subscribe", "alerts", [f"{gw_env.exchange}:*"], request_id=2)
    books, alerts = 1500, 1200  # more alerts than the stalled client's queue holds
    got: list[dict[str, Any]] = []
    for start in range(0, books, ROUND):
        for i in range(start, start + ROUND):
            gw_env.produce(Channel.BOOK, gw_env.book(i, "BTCUSDT" if i % 2 else "ETHUSDT", levels=LEVELS))
            if i % 5 < 4:
                gw_env.produce(Channel.ALERTS, gw_env.alert(i // 5 * 4 + i % 5))
        gw_env.flush()
        more_books = start + ROUND - len(updates(got, "book"))
        more_alerts = (start + ROUND) * 4 // 5 - len(updates(got, "alerts"))
        try:
            got += normal.collect(
                lambda ms, b=more_books, a=more_alerts: (
                    len(updates(ms, "book")) >= b and len(updates(ms, "alerts")) >= a
                )
            )
        except AssertionError as exc:
            m = gw.metrics
            raise AssertionError(
                f"{exc}; relayed {m.value('obm_gateway_records_in_total', channel='alerts')} alerts, "
                f"{m.value('obm_gateway_records_skipped_total', channel='alerts', kind='event_time_ahead')}, "
                f"disconnects {m.value('obm_gateway_disconnects_total', reason='slow_consumer')}"
            ) from None
    for sym in ("BTCUSDT", "ETHUSDT"):
        assert seqs(got, "book", record_key(gw_env.exchange, sym)) == list(range(1, books // 2 + 1)), sym
    assert seqs(got, "alerts", record_key(gw_env.exchange, "BTCUSDT")) == list(range(1, alerts + 1))
    wait_until("the stalled client disconnected",
               lambda: gw.metrics.value("obm_gateway_disconnects_total", reason="slow_consumer") == 1)  # fmt: skip
    # Its close frame cannot reach it (it reads nothing): the connection is aborted after the close
    # timeout, not kept until a keepalive ping gives up (20 s after it connected).
    wait_until("the stalled client's connection closed", lambda: len(gw.gateway._sockets) == 1,
               timeout_s=CLOSE_TIMEOUT_S + 3)  # fmt: skip
    assert gw.metrics.value("obm_gateway_conflated_total", channel="book") > 0
    assert gw.metrics.value("obm_gateway_clients") == 1  # the normal one
    assert gw.metrics.value("obm_gateway_conflated_total", channel="alerts") == 0
    assert gw.metrics.value("obm_gateway_dropped_total") > 0  # what was pending for the stalled one


def test_a_slow_client_keeps_every_alert_and_the_latest_book(gw_env: GatewayTestEnv, start_gateway) -> None:  # type: ignore[no-untyped-def]
    gw = start_gateway(
        book_levels=LEVELS,
        client_send_buffer_bytes=SNDBUF,
        client_queue_max=5000,
        conflate_above=5,
        send_timeout_s=300,
    )
    slow = stalling_client(gw.url)
    slow.request("subscribe", "book", [f"{gw_env.exchange}:BTCUSDT"])
    slow.request("subscribe", "alerts", [f"{gw_env.exchange}:BTCUSDT"], request_id=2)
    books, alerts = 1500, 100
    for i in range(books):
        gw_env.produce(Channel.BOOK, gw_env.book(i, levels=LEVELS))
        if i % 15 == 0 and i // 15 < alerts:
            gw_env.produce(Channel.ALERTS, gw_env.alert(i // 15))
    gw_env.flush()
    wait_until("everything relayed", lambda: gw.metrics.value("obm_gateway_records_in_total", channel="book") == books
               and gw.metrics.value("obm_gateway_records_in_total", channel="alerts") == alerts)  # fmt: skip
    assert gw.metrics.value("obm_gateway_conflated_total", channel="book") > 0, (
        "the slow client never fell behind"
    )
    key = record_key(gw_env.exchange, "BTCUSDT")
    got = slow.collect(
        lambda ms: any(m["type"] == "update" and m["seq"] == books for m in updates(ms, "book"))
    )
    got += slow.collect(lambda ms: len(updates(got + ms, "alerts")) >= alerts)
    book_seqs = seqs(got, "book", key)
    assert book_seqs == sorted(set(book_seqs)) and book_seqs[-1] == books and len(book_seqs) < books
    assert seqs(got, "alerts", key) == list(range(1, alerts + 1))
    assert gw.metrics.value("obm_gateway_disconnects_total", reason="slow_consumer") == 0
