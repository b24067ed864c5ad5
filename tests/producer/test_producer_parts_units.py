"""Unit tests of the pure parts: exchange registry, frame parsing, weight limiter and backoff,
capture format, market model."""

from __future__ import annotations

import asyncio
import importlib
import pkgutil
import random
from pathlib import Path

import pytest

import producer.exchanges as exchanges
from producer.capture import CaptureWriter, load_capture
from producer.exchanges import EXCHANGES, BadFrame, UnknownExchange, binance_spot, binance_usdm, resolve
from producer.ratelimit import WeightLimiter, full_jitter
from producer.simulator.market_model import SymbolModel

pytestmark = pytest.mark.unit
CAPTURE = Path(__file__).resolve().parents[3] / "shared" / "data" / "binance-spot-ethusdt-20240808.txt.gz"


def test_every_exchange_module_is_registered() -> None:
    modules = [m.name for m in pkgutil.iter_modules(exchanges.__path__) if m.name != "spec"]
    assert modules, "no exchange modules found"
    for name in modules:
        module = importlib.import_module(f"producer.exchanges.{name}")
        spec = getattr(module, "EXCHANGE", None)
        assert spec is not None, f"producer.exchanges.{name} declares no EXCHANGE"
        assert EXCHANGES.get(spec.id) is spec, f"producer.exchanges.{name} is not in the registry"


def test_resolve_maps_settings_to_modules() -> None:
    assert resolve("binance", "spot") is binance_spot.EXCHANGE
    assert resolve("binance", "usdm") is binance_usdm.EXCHANGE
    assert resolve("binance_usdm", "usdm").id == "binance_usdm"
    with pytest.raises(UnknownExchange, match="kraken"):
        resolve("kraken", "spot")


def _diff(**over):
    data = {"e": "depthUpdate", "E": 1, "s": "ETHUSDT", "U": 5, "u": 7, "b": [["1.5", "2"]], "a": []}
    data.update(over)
    return data


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        ({k: v for k, v in _diff().items() if k != "u"}, "missing field 'u'"),
        (_diff(U="5"), "field 'U' is not a non-negative integer"),
        (_diff(U=9), "U 9 > u 7"),
        (_diff(e="trade"), "not a depthUpdate"),
        (_diff(b=[["1.5", "NaN"]]), "not a decimal number"),
        (_diff(a=[["1.5", "-1"]]), "negative size"),
        (_diff(b="oops"), "expected a list"),
    ],
)
def test_spot_parse_rejects_with_a_reason(data, reason) -> None:
    with pytest.raises(BadFrame, match=reason):
        binance_spot.parse_diff(data, 0)


def test_futures_parse_needs_pu_and_transaction_time() -> None:
    with pytest.raises(BadFrame, match="'pu'"):
        binance_usdm.parse_diff(_diff(T=2), 0)
    ev = binance_usdm.parse_diff(_diff(T=2, pu=4), 0)
    assert (ev.prev_final_id, ev.transaction_time) == (4, 2)


def test_full_jitter_is_bounded_by_cap_and_exponential_bound() -> None:
    rng = random.Random(1)
    for attempt in range(12):
        for _ in range(50):
            assert 0 <= full_jitter(attempt, 0.5, 30.0, rng) <= min(30.0, 0.5 * 2**attempt)


class FakeTime:
    def __init__(self) -> None:
        self.now = 1_000_020.0  # 20 s into a minute
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_weight_limiter_spreads_requests_over_minutes() -> None:
    t = FakeTime()
    limiter = WeightLimiter(6000, safety=0.8, clock=t.clock, sleep=t.sleep)

    async def many():
        for _ in range(200):  # 200 snapshots of weight 50 = 10000 > 4800 per minute
            await limiter.acquire(50)

    asyncio.run(many())
    assert len(t.slept) == 2 and limiter.waits == 2
    assert t.now >= 1_000_020.0 + 100  # two minute boundaries crossed


def test_weight_limiter_trusts_the_server_header() -> None:
    t = FakeTime()
    limiter = WeightLimiter(6000, safety=0.8, clock=t.clock, sleep=t.sleep)
    limiter.observe_used_weight("4790")
    asyncio.run(limiter.acquire(50))
    assert t.slept  # 4790 + 50 > 4800: waited for the next minute


def test_429_blocks_for_retry_after_and_418_backs_off_hard() -> None:
    t = FakeTime()
    limiter = WeightLimiter(6000, clock=t.clock, sleep=t.sleep)
    assert limiter.on_rate_limited(429, "7") == 7.0
    asyncio.run(limiter.acquire(1))
    assert t.slept == [7.0]
    assert limiter.on_rate_limited(418, "3") == 120.0
    assert limiter.on_rate_limited(418, None) == 240.0
    assert (limiter.rate_limited, limiter.banned) == (1, 2)


@pytest.mark.usefixtures("capture_path")  # fails, never skips, when the capture is missing
def test_load_shared_capture() -> None:
    cap = load_capture(CAPTURE)
    kinds = {}
    for f in cap.frames:
        kind = f.stream.split("@", 1)[1] if f.stream else "snapshot"
        kinds[kind] = kinds.get(kind, 0) + 1
    assert kinds == {"depth@100ms": 3434, "bookTicker": 24077, "trade": 6106, "snapshot": 1}
    assert cap.snapshot_indices("ETHUSDT") == [5]
    assert cap.frames[5].final_id == 35346513512


def test_capture_writer_round_trip(tmp_path) -> None:
    path = tmp_path / "c.txt.gz"
    w = CaptureWriter(path)
    w.write(1, b'{"stream":"btcusdt@depth@100ms","data":{"e":"depthUpdate","s":"BTCUSDT","U":1,"u":2}}')
    w.write_snapshot(2, b'{"lastUpdateId":2,"bids":[],"asks":[]}', "BTCUSDT")
    w.write(3, '{"stream":"ethusdt@depth@100ms","data":{"e":"depthUpdate","s":"ETHUSDT","U":1,"u":2}}')
    w.close()
    cap = load_capture(path)
    assert [f.receive_ns for f in cap.frames] == [1, 2, 3]
    assert cap.snapshot_indices("BTCUSDT") == [1] and cap.symbols == {"BTCUSDT", "ETHUSDT"}


def test_market_model_is_deterministic_and_never_crossed() -> None:
    a, b = SymbolModel("ETHUSDT", seed=3), SymbolModel("ETHUSDT", seed=3)
    other = SymbolModel("ETHUSDT", seed=4)
    seq_a = [a.step() for _ in range(300)]
    assert seq_a == [b.step() for _ in range(300)]
    assert seq_a != [other.step() for _ in range(300)]
    assert not a.book.is_crossed()


def test_market_model_swings_imbalance_and_blows_out_spreads() -> None:
    model = SymbolModel("BTCUSDT", seed=7)
    imbalances, spreads, regimes = [], [], set()
    for _ in range(4000):
        first, final, _, _ = model.step()
        assert first <= final and not model.book.is_crossed()
        regimes.add(model.regime)
        bids = sum(s for _, s in model.book.levels("bids", 5))
        asks = sum(s for _, s in model.book.levels("asks", 5))
        imbalances.append((bids - asks) / (bids + asks))
        spreads.append((model.book.best_ask()[0] - model.book.best_bid()[0]) // model.info.tick)
    assert regimes == {"calm", "bid_pressure", "ask_pressure", "thin"}
    assert max(imbalances) > 0.5 and min(imbalances) < -0.5
    assert min(spreads) == 1 and max(spreads) >= 5


class LoopbackFeed:
    """A peer on a real socket pair, paced by the same event loop (like the simulator in the
    integration tests): every `every_s` it sends one byte, and a loop reader counts each arrival as
    a frame of the connection under test."""

    def __init__(self, conn, every_s: float) -> None:  # noqa: ANN001 - StreamConnection
        import socket

        self.conn = conn
        self.every_s = every_s
        self.ours, self.theirs = socket.socketpair()
        self.ours.setblocking(False)
        self.sending = True

    def _on_readable(self) -> None:
        if self.ours.recv(4096):
            self.conn.frames += 1

    async def run(self) -> None:
        asyncio.get_running_loop().add_reader(self.ours.fileno(), self._on_readable)
        while True:
            await asyncio.sleep(self.every_s)
            if self.sending:
                self.theirs.send(b"x")

    def close(self) -> None:
        asyncio.get_running_loop().remove_reader(self.ours.fileno())
        self.ours.close()
        self.theirs.close()


class FakeSocket:
    def __init__(self) -> None:
        self.closed = False

    async def close(self) -> None:
        self.closed = True


def test_idle_watchdog_ignores_a_starved_process_and_fires_on_real_silence() -> None:
    """A process starved for longer than the idle timeout (here: the loop blocked) saw no frame
    meanwhile, but neither could its peer in the same loop send one: the first frames after the
    starvation must be counted before the watchdog decides. Silence while the loop runs fires."""
    import time

    from producer.connection import ConnectionTuning, StreamConnection

    async def wait_for(predicate) -> None:  # noqa: ANN001
        while not predicate():
            await asyncio.sleep(0.005)

    async def scenario() -> tuple[tuple[str | None, bool], str | None]:
        conn = StreamConnection(
            "t", "ws://unused", lambda raw, ns: None, ConnectionTuning(idle_timeout_s=1.0, heartbeat_s=None)
        )
        peer = LoopbackFeed(conn, every_s=0.01)
        ws = FakeSocket()
        peer_task = asyncio.create_task(peer.run())
        watchdog = asyncio.create_task(conn._watch(ws, time.monotonic()))  # type: ignore[arg-type]
        try:
            await wait_for(lambda: conn.frames >= 20)
            # Quiet peer until the watchdog has looked once more: it has then seen the last frame,
            # so the starvation below is all it could call silence.
            peer.sending = False
            checks = conn.idle_checks
            await wait_for(lambda: conn.idle_checks >= checks + 2)
            peer.sending = True
            time.sleep(1.5)  # CPU starvation: longer than the idle timeout, the loop does not run
            frames_after = conn.frames + 20
            await wait_for(lambda: conn.frames >= frames_after or ws.closed)
            after_starvation = (conn._close_reason, ws.closed)
            peer.sending = False  # real silence from here on
            await asyncio.wait_for(watchdog, 20)
            return after_starvation, conn._close_reason
        finally:
            peer_task.cancel()
            peer.close()

    after_starvation, final_reason = asyncio.run(scenario())
    assert after_starvation == (None, False)
    assert final_reason == "idle"
