"""The circuit breaker against the simulator's fault injection over real sockets, into a real
broker: one connection of two is cut and its handshakes refused (503, then a 429 ban); its breaker
opens after the configured failures, half-opens with one probe at a time, opens again for longer
when the probe fails and closes when one succeeds, while the other connection carries on
publishing. The state is on /metrics and in the lines `obm status` prints."""

from __future__ import annotations

import asyncio
import re

import aiohttp
import pytest
from producer_harness import isolated_kafka, running, wait_until

from producer.book_states import not_live_report
from producer.circuit_breaker import CircuitState
from producer.connection import ConnectionTuning
from producer.service import ProducerOptions

pytestmark = pytest.mark.integration
SYMBOLS = ["ETHUSDT", "BTCUSDT"]


async def _metrics(port: int) -> str:
    async with aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{port}/metrics") as resp:
        return await resp.text()


def _metric(text: str, name: str, **labels: str) -> float:
    label_text = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    found = re.search(rf"^{name}\{{{re.escape(label_text)}\}} (\S+)$", text, re.M)
    assert found is not None, f"{name}{{{label_text}}} not in /metrics"
    return float(found.group(1))


def test_a_refused_connection_opens_its_breaker_alone_then_a_probe_closes_it(kafka_settings) -> None:
    kafka = isolated_kafka(kafka_settings)
    options = ProducerOptions(
        streams_per_connection=1,  # one connection per book
        tuning=ConnectionTuning(backoff_base_s=0.02, backoff_cap_s=0.05),
    )
    breaker_settings = {"circuit_failures": 2, "circuit_open_base_s": 0.2, "circuit_open_max_s": 0.4}

    async def scenario():
        async with running(kafka, SYMBOLS, rate=40, options=options, **breaker_settings) as (sim, svc):
            eth_conn, btc_conn = (next(c for c in svc.connections if s.lower() in c.url) for s in SYMBOLS)
            btc_breaker, eth_breaker = btc_conn.breaker, eth_conn.breaker
            assert btc_breaker is not None and eth_breaker is not None
            eth, btc = svc.feed.symbols["ETHUSDT"], svc.feed.symbols["BTCUSDT"]
            await wait_until(lambda: eth.records > 5 and btc.records > 5, 30, "both books publishing")

            # two 503s open it; the first probe meets a 429 ban: open again, longer; the next closes it
            await sim.inject("ws_reject", count=2, status=503)
            await sim.inject("ws_reject", count=1, status=429)
            await sim.inject("disconnect", "BTCUSDT")
            await wait_until(lambda: btc_breaker.opens == 2, 30, "the breaker opened twice")
            await wait_until(lambda: btc_breaker.state is CircuitState.CLOSED, 30, "the probe closing it")
            first = (btc_breaker.opens, btc_breaker.probes, btc_breaker.last_failure, btc_conn.reconnects)
            records = btc.records
            await wait_until(lambda: btc.records > records + 5, 30, "BTCUSDT publishing again")

            # refused until cleared: the other connection carries on meanwhile; status and metrics
            await sim.inject("ws_reject", count=10_000, status=503)
            await sim.inject("disconnect", "BTCUSDT")
            await wait_until(lambda: btc_breaker.opens >= 4, 30, "the breaker open again")
            eth_before = eth.records
            await wait_until(lambda: eth.records > eth_before + 10, 30, "ETHUSDT publishing meanwhile")
            during = (btc_breaker.state, btc.records)
            status_ok, lines = await asyncio.to_thread(not_live_report, f"http://127.0.0.1:{svc.http_port}")
            metrics = await _metrics(svc.http_port or 0)
            await sim.inject("clear")
            await wait_until(lambda: btc_breaker.state is CircuitState.CLOSED, 30, "closed after the fault")
            after = await _metrics(svc.http_port or 0)
            return (
                first,
                during,
                (status_ok, lines),
                metrics,
                after,
                eth_breaker,
                eth_conn.reconnects,
                btc_conn.name,
            )

    first, during, (status_ok, lines), metrics, after, eth_breaker, eth_reconnects, btc_name = asyncio.run(
        scenario()
    )
    opens, probes, last_failure, reconnects = first
    assert (opens, probes, reconnects) == (2, 2, 1)  # one probe per half-open; the second connected
    assert last_failure == "connect failed: banned: HTTP 429"
    assert during[0] is not CircuitState.CLOSED
    # the other connection: never refused, never reconnected, its breaker untouched
    assert (eth_breaker.state, eth_breaker.opens, eth_breaker.failures, eth_reconnects) == (
        CircuitState.CLOSED,
        0,
        0,
        0,
    )
    circuit_lines = [line for line in lines if line.startswith(f"circuit {btc_name} ")]
    assert len(circuit_lines) == 1 and "connect failed: HTTP 503" in circuit_lines[0], lines
    assert status_ok == ("half_open" in circuit_lines[0])  # an open breaker makes the producer unhealthy
    labels = {"exchange": "binance", "breaker": btc_name}
    assert _metric(metrics, "obm_producer_circuit_opens_total", **labels) >= 4
    assert _metric(metrics, "obm_producer_circuit_state", state="closed", **labels) == 0
    assert _metric(after, "obm_producer_circuit_state", state="closed", **labels) == 1
    assert _metric(after, "obm_producer_circuit_failures", **labels) == 0
    eth_labels = {"exchange": "binance", "breaker": eth_breaker.name}
    assert _metric(after, "obm_producer_circuit_opens_total", **eth_labels) == 0
    assert (
        _metric(
            after, "obm_producer_circuit_state", state="closed", breaker="binance-rest", exchange="binance"
        )
        == 1
    )


def test_the_rest_breaker_opens_on_5xx_and_a_probe_closes_it(kafka_settings) -> None:
    """Depth snapshots answered 500, 500, 503 (a venue's REST failing): the REST breaker opens
    after two, its first probe fails (open again, longer), the next one gets the snapshot and the
    book goes live; the stream's connection is untouched."""
    kafka = isolated_kafka(kafka_settings)
    breaker_settings = {"circuit_failures": 2, "circuit_open_base_s": 0.2, "circuit_open_max_s": 0.4}

    async def failing_rest(sim) -> None:  # noqa: ANN001
        await sim.inject("http_error", "ETHUSDT", count=2, status=500)
        await sim.inject("http_error", "ETHUSDT", count=1, status=503)

    async def scenario():
        async with running(kafka, ["ETHUSDT"], rate=40, prepare=failing_rest, **breaker_settings) as (
            sim,
            svc,
        ):
            await wait_until(svc.feed.is_live, 60, "the book live after the REST failures")
            assert svc.snapshots is not None
            return svc.rest_breaker, svc.snapshots.statuses, svc.connections[0].breaker, sim.depth_requests

    rest, statuses, conn_breaker, depth_requests = asyncio.run(scenario())
    assert (rest.state, rest.opens, rest.probes, rest.failures) == (CircuitState.CLOSED, 2, 2, 0)
    assert rest.last_failure == "HTTP 503" and statuses == {500: 2, 503: 1, 200: 1} and depth_requests == 4
    assert conn_breaker is not None and (conn_breaker.opens, conn_breaker.failures) == (0, 0)
