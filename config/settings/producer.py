"""The producer side: one producer process, the market simulator it can read from, and the topic
contract every consumer checks records against."""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings

from config.settings.base import env_config


class ProducerSettings(BaseSettings):
    """One producer process: an exchange connector feeding orderbook.raw."""

    model_config = env_config("OBM_PRODUCER_")

    exchange: str = "binance"  # binance | okx | bybit (docs/producer.md, Venues)
    market: str = "spot"  # spot | usdm | coinm (binance) | swap (okx) | linear | inverse (bybit)
    symbols: list[str] = Field(default_factory=lambda: ["BTCUSDT", "ETHUSDT", "SOLUSDT"])
    depth: int = 20  # levels per side published on orderbook.raw
    stream_kind: str = "diff"  # diff (full local book) | partial (depth5/10/20 snapshots)
    # Empty means the exchange's own endpoints (live); the embedded stack points these at the simulator.
    ws_url: str = ""
    rest_url: str = ""
    metrics_port: int = 9108
    queue_max_messages: int = 100_000
    # The diff-depth hot path: native (compiled, producer/native: scripts/bootstrap.sh builds it
    # where cargo is installed), python (the reference), or auto: native when it is built, else
    # python (the producer says so once at start, and `obm status` shows it).
    engine: Literal["auto", "native", "python"] = "auto"
    # Also publish the venue's trades to trades.raw (producer/trades.py: Binance @trade/@aggTrade,
    # OKX trades, Bybit publicTrade, Gate.io spot/futures.trades, Hyperliquid trades), on the book's
    # connections. A venue without a trade stream says so. On by default: the trade bars and pairs
    # jobs of FlinkSettings.jobs read them (the dashboard's Analytics page).
    trades: bool = True
    # Circuit breaker of every connection and of the REST client (producer/circuit_breaker.py):
    # opens after this many consecutive failures (connect errors, HTTP 5xx, bans 418/429), for
    # circuit_open_base_s doubled at every opening in a row up to circuit_open_max_s, then lets
    # one probe through (its success closes it).
    circuit_failures: int = Field(default=5, ge=1)
    circuit_open_base_s: float = Field(default=1.0, gt=0)
    circuit_open_max_s: float = Field(default=300.0, gt=0)


class SimulatorSettings(BaseSettings):
    """The built-in market simulator, speaking Binance's spot WebSocket and REST on loopback."""

    model_config = env_config("OBM_SIM_")

    host: str = "127.0.0.1"
    port: int = 8765
    symbols: list[str] = Field(default_factory=lambda: ["BTCUSDT", "ETHUSDT", "SOLUSDT"])
    seed: int = 7
    updates_per_second: float = 10.0  # per symbol (Binance's diff stream is 100 ms)

    @property
    def ws_url(self) -> str:
        return f"ws://{self.host}:{self.port}"

    @property
    def rest_url(self) -> str:
        return f"http://{self.host}:{self.port}"


class ContractSettings(BaseSettings):
    """How every consumer checks records against the topic contract (schemas/conformance.py);
    records that break it go to orderbook.dlq with the reason."""

    model_config = env_config("OBM_CONTRACT_")

    # A record whose event time is more than this far ahead of the consumer's clock is rejected
    # (venue clock skew is well within it; windowing a record from tomorrow would hold its key's
    # windows open until then).
    max_future_ms: int = Field(default=300_000, ge=1_000)
    # A record older than this is rejected; 0 = the topic's retention (obm/operator/topic_policy.py).
    max_age_ms: int = Field(default=0, ge=0)
