"""No silent producer: against the real simulator and the session's real broker, a book whose sync
task dies is restarted with backoff and shown as failed (the state API, /books, /metrics and the
lines `obm status` prints) until it is live again; a symbol the venue stops knowing stops the
producer with the reason; a symbol it never knew is refused at start with one line and a non-zero
exit code, by `python -m producer` (spot and USD-M) and by the stack's start-up of the producer
(`obm up`), with nothing published."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest
from producer_harness import TruthClient, compare_with_truth, isolated_kafka, read_topic, running, wait_until

from config import KafkaSettings, StackSettings
from obm.stack.failures import one_line
from obm.stack.health import StartupFailed, free_port
from obm.stack.services import PythonService, http_probe
from obm.stack.supervisor import StackConfig, status
from producer.book_states import BookState, fetch_books, not_live_report
from producer.publisher import topic_names
from producer.simulator import Simulator

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]
SYMBOLS = ["ETHUSDT", "BTCUSDT"]


async def _get_text(url: str) -> tuple[int, str]:
    async with aiohttp.ClientSession() as http, http.get(url) as resp:
        return resp.status, await resp.text()


def _metric(metrics: str, name: str, **labels: str) -> float:
    label_text = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))  # as prometheus_client writes them
    found = re.search(rf"^{name}\{{{re.escape(label_text)}\}} (\S+)$", metrics, re.M)
    assert found is not None, f"{name}{{{label_text}}} not in /metrics"
    return float(found.group(1))


def test_a_book_whose_snapshots_fail_is_shown_failed_restarted_and_then_live(
    kafka_settings, tmp_path
) -> None:
    kafka = isolated_kafka(kafka_settings)

    async def failing_snapshots(sim: Simulator) -> None:
        # every ETHUSDT snapshot fails until the fault is cleared; BTCUSDT is untouched
        await sim.inject("http_error", "ETHUSDT", count=1000, status=500)

    async def scenario():
        async with (
            # the REST circuit breaker would open on these 500s: test_producer_circuit_breaker.py
            running(kafka, SYMBOLS, rate=40, prepare=failing_snapshots, circuit_failures=10**6) as (sim, svc),
            TruthClient(sim.ws_url, SYMBOLS) as truth,
        ):
            eth, btc = svc.feed.symbols["ETHUSDT"], svc.feed.symbols["BTCUSDT"]
            await wait_until(lambda: eth.restarts >= 2 and btc.records > 10, 60, "ETHUSDT restarted twice")
            base = f"http://127.0.0.1:{svc.http_port}"
            books = {b.symbol: b for b in await asyncio.to_thread(fetch_books, base)}
            status_ok, status_lines = await asyncio.to_thread(not_live_report, base)
            _, metrics = await _get_text(f"{base}/metrics")
            ready, _ = await _get_text(f"{base}/readyz")
            # `obm status` (by endpoints, as for Compose: this producer runs in the test's process)
            cfg = StackConfig(stack=StackSettings(state_dir=tmp_path), kafka=kafka, live=True)
            cfg.producer = cfg.producer.model_copy(update={"metrics_port": svc.http_port})
            rows = await asyncio.to_thread(status, cfg, endpoints_only=True)
            producer_row = next(row for row in rows if row.name == "producer")
            failing = (books, status_ok, status_lines, metrics, ready, eth.records, producer_row)
            await sim.inject("clear")
            await wait_until(lambda: eth.sync.live and eth.records > 20, 60, "ETHUSDT live after the fault")
            _, metrics_after = await _get_text(f"{base}/metrics")
            report_after = await asyncio.to_thread(not_live_report, base)
            return failing, metrics_after, report_after, eth.restarts, truth, svc.snapshots

    failing, metrics_after, report_after, restarts, truth, snapshots = asyncio.run(scenario())
    books, status_ok, status_lines, metrics, ready, eth_records_while_failing, producer_row = failing
    eth = books["ETHUSDT"]
    assert eth.state is BookState.FAILED and eth.restarts >= 2 and eth_records_while_failing == 0
    assert eth.reason is not None and "HTTP 500" in eth.reason
    assert books["BTCUSDT"].state is BookState.LIVE and books["BTCUSDT"].reason is None
    assert not status_ok and len(status_lines) == 1 and status_lines[0].startswith("ETHUSDT failed for ")
    assert "HTTP 500" in status_lines[0] and "restarts" in status_lines[0]
    assert not producer_row.ok and len(producer_row.notes) == 1
    assert producer_row.notes[0].startswith("ETHUSDT failed for ") and "HTTP 500" in producer_row.notes[0]
    assert (
        _metric(metrics, "obm_producer_book_state", exchange="binance", symbol="ETHUSDT", state="failed") == 1
    )
    assert (
        _metric(metrics, "obm_producer_book_state", exchange="binance", symbol="ETHUSDT", state="live") == 0
    )
    assert (
        _metric(metrics, "obm_producer_book_state", exchange="binance", symbol="BTCUSDT", state="live") == 1
    )
    assert _metric(metrics, "obm_producer_book_restarts_total", exchange="binance", symbol="ETHUSDT") >= 2
    assert ready == 503
    # after the fault: live, no line for `obm status`, the restarts counted, the book right
    assert report_after == (True, [])
    assert (
        _metric(metrics_after, "obm_producer_book_state", exchange="binance", symbol="ETHUSDT", state="live")
        == 1
    )
    assert (
        _metric(metrics_after, "obm_producer_book_restarts_total", exchange="binance", symbol="ETHUSDT")
        == restarts
    )
    assert snapshots.failures == restarts and snapshots.statuses[500] == restarts
    records = read_topic(kafka, topic_names(kafka)[0])
    assert {rec["symbol"] for _, rec in records} == set(SYMBOLS)
    assert compare_with_truth(records, truth) > 0.9 * len(records)


def test_a_symbol_delisted_while_running_stops_the_producer_with_the_reason(kafka_settings) -> None:
    kafka = isolated_kafka(kafka_settings)

    async def scenario():
        async with running(kafka, SYMBOLS, rate=40) as (sim, svc):
            await wait_until(svc.feed.is_live, 30, "books live")
            await sim.inject("delist", "ETHUSDT")
            await sim.inject("drop", "ETHUSDT")  # the gap makes the book ask for a snapshot
            await wait_until(lambda: svc.failed is not None, 30, "the producer stopping on its own")
            return svc.failed, svc.exit_code, svc.feed.book_reports(), svc.feed.symbols["ETHUSDT"].restarts

    failed, exit_code, reports, restarts = asyncio.run(scenario())
    assert failed == "ETHUSDT: binance (spot) does not know symbol ETHUSDT" and exit_code == 2
    states = {r.status.symbol: r.status for r in reports}
    assert states["ETHUSDT"].state is BookState.FAILED and restarts == 0  # permanent: not retried
    assert states["ETHUSDT"].reason == "binance (spot) does not know symbol ETHUSDT"


def _simulator(symbols: list[str]) -> tuple[subprocess.Popen[str], str, str]:
    sim = subprocess.Popen(
        [sys.executable, "-m", "producer.simulator", "--port", "0", "--symbols", ",".join(symbols)],
        cwd=REPO,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert sim.stderr is not None
    line = ""
    while "simulator ws=" not in line:
        line = sim.stderr.readline()
        assert line or sim.poll() is None, "simulator exited"
    found = re.search(r"ws=(\S+) rest=(\S+)", line)
    assert found is not None
    return sim, found.group(1), found.group(2)


@pytest.mark.parametrize("market", ["spot", "usdm"])
def test_an_unknown_symbol_is_refused_at_start_in_one_line(
    kafka_settings: KafkaSettings, market: str
) -> None:
    kafka = isolated_kafka(kafka_settings)
    sim, ws_url, rest_url = _simulator(["ETHUSDT"])
    try:
        env = dict(
            os.environ,
            OBM_KAFKA_BOOTSTRAP_SERVERS=kafka.bootstrap_servers,
            OBM_KAFKA_TOPIC_PREFIX=kafka.topic_prefix,
        )
        done = subprocess.run(
            [sys.executable, "-m", "producer", "--market", market, "--symbols", "ETHUSDT,NOSUCHCOIN"]
            + ["--ws-url", ws_url, "--rest-url", rest_url, "--metrics-port", "0"],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        sim.terminate()
        sim.wait(timeout=30)
    venue = "binance (spot)" if market == "spot" else "binance_usdm (usdm)"
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2, done.stderr
    assert len(lines) == 1 and lines[0].endswith(f"{venue} does not list symbol(s) NOSUCHCOIN"), done.stderr
    raw, dlq = topic_names(kafka)
    assert read_topic(kafka, raw) == [] and read_topic(kafka, dlq) == []


def test_the_stack_start_up_of_the_producer_fails_fast_on_the_one_line(
    kafka_settings: KafkaSettings, tmp_path: Path
) -> None:
    """What `obm up` does with the producer component: start it and wait until healthy. With a
    symbol the venue does not list, the process exits during start-up (not a start-up timeout)
    and the last line of its log, the one `obm up` shows, is the reason."""
    sim, ws_url, rest_url = _simulator(["ETHUSDT"])
    port = free_port()
    env = {
        "OBM_PRODUCER_SYMBOLS": '["ETHUSDT","NOSUCHCOIN"]',
        "OBM_PRODUCER_WS_URL": ws_url,
        "OBM_PRODUCER_REST_URL": rest_url,
        "OBM_PRODUCER_METRICS_PORT": str(port),
        "OBM_KAFKA_BOOTSTRAP_SERVERS": kafka_settings.bootstrap_servers,
    }
    stack = StackSettings(state_dir=tmp_path, start_timeout_s=120)
    producer = PythonService(
        "producer", ["producer"], stack, env, http_probe(f"http://127.0.0.1:{port}/healthz")
    )
    try:
        with pytest.raises(StartupFailed) as failed:
            producer.start()
    finally:
        producer.stop()
        sim.terminate()
        sim.wait(timeout=30)
    head, *tail = str(failed.value).splitlines()
    assert head == "producer: process exited during start-up"
    assert tail[-1].endswith(" ERROR producer.service: binance (spot) does not list symbol(s) NOSUCHCOIN")
    # what `obm up` prints: one line, with the reason
    shown = one_line(failed.value)
    assert "\n" not in shown and shown.startswith("producer: process exited during start-up")
    assert shown.endswith("binance (spot) does not list symbol(s) NOSUCHCOIN)")
