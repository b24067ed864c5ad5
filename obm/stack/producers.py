"""The producers of the embedded stack: one process per venue/market (StackSettings.exchanges,
`obm up --exchanges`), or the single producer of ProducerSettings when none is chosen.

Each producer is `python -m producer` with its own exchange, market, symbols and /metrics port in
its environment; the simulator (one process, every venue's protocol on one port) lists the union
of their symbols, since a venue's protocol serves only the symbols named like that venue's."""

from __future__ import annotations

from dataclasses import dataclass

import orjson

from config import ProducerSettings, StackSettings
from producer.venue_defaults import default_symbols, parse_venue

# Producer i (0-based) serves /metrics on ProducerSettings.metrics_port + PORT_STRIDE * i: clear
# of the sinks' ports (9110, 9111 and every second port after them) for a few instances each.
PORT_STRIDE = 20


@dataclass(frozen=True)
class ProducerPlan:
    """One producer process: the component name (`producer` alone, else `producer-<venue>` and
    `-<market>` when the venue runs more than one market), what it watches and its port."""

    name: str
    exchange: str
    market: str
    symbols: tuple[str, ...]
    metrics_port: int

    def env(self) -> dict[str, str]:
        return {
            "OBM_PRODUCER_EXCHANGE": self.exchange,
            "OBM_PRODUCER_MARKET": self.market,
            "OBM_PRODUCER_SYMBOLS": orjson.dumps(list(self.symbols)).decode(),
            "OBM_PRODUCER_METRICS_PORT": str(self.metrics_port),
        }

    @property
    def metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.metrics_port}"


def producer_plans(stack: StackSettings, producer: ProducerSettings) -> list[ProducerPlan]:
    if not stack.exchanges:
        return [
            ProducerPlan(
                "producer", producer.exchange, producer.market, tuple(producer.symbols), producer.metrics_port
            )
        ]
    chosen = [parse_venue(entry) for entry in stack.exchanges]
    if len(set(chosen)) != len(chosen):
        raise ValueError(f"a venue/market is chosen twice: {stack.exchanges}")
    venues = [venue for venue, _ in chosen]
    plans = []
    for i, (venue, market) in enumerate(chosen):
        name = f"producer-{venue}" + (f"-{market}" if venues.count(venue) > 1 else "")
        port = producer.metrics_port + PORT_STRIDE * i
        plans.append(ProducerPlan(name, venue, market, tuple(default_symbols(venue, market)), port))
    return plans


def simulator_symbols(plans: list[ProducerPlan]) -> list[str]:
    """Every symbol any producer watches, once, in order (BTCUSDT serves Binance and Bybit)."""
    return list(dict.fromkeys(s for plan in plans for s in plan.symbols))


def is_producer(name: str) -> bool:
    return name == "producer" or name.startswith("producer-")
