"""Click commands `produce`, `simulate` and `record`; the lead mounts them as `obm produce`,
`obm simulate`, `obm record`, and `python -m producer` / `python -m producer.simulator` run the
first two. Options mirror the settings classes; an option left out keeps the environment's value
(OBM_PRODUCER_*, OBM_KAFKA_*, OBM_SIM_*)."""

from __future__ import annotations

import asyncio
import sys
from typing import Any

import click

from config import KafkaSettings, ProducerSettings, SimulatorSettings
from obm.runtime.logs import configure_logging
from obm.runtime.signals import run_until_signalled
from producer.exchanges import EXCHANGES

# Every market some registered exchange module serves.
MARKETS = sorted({spec.market for spec in EXCHANGES.values()})


def _symbols(value: str | None) -> list[str] | None:
    return [s.strip().upper() for s in value.split(",") if s.strip()] if value else None


def _given(**kwargs: Any) -> dict[str, Any]:
    return {k: v for k, v in kwargs.items() if v is not None}


@click.command("produce")
@click.option("--exchange", help="exchange id (binance, binance_coinm, ...)")
@click.option("--market", type=click.Choice(MARKETS))
@click.option("--symbols", help="comma-separated, e.g. BTCUSDT,ETHUSDT")
@click.option("--depth", type=int, help="levels per side on orderbook.raw")
@click.option("--stream-kind", type=click.Choice(["diff", "partial"]))
@click.option("--ws-url", help="WebSocket base (empty: the exchange; the simulator's ws://host:port)")
@click.option("--rest-url", help="REST base (empty: the exchange)")
@click.option("--metrics-port", type=int, help="port of /healthz, /readyz, /metrics (0: any free port)")
@click.option("--queue-max-messages", type=int)
@click.option("--bootstrap-servers", help="Kafka bootstrap servers")
@click.option("--topic-prefix", help="prefix of the topic names")
@click.option("--raw-topic", help="override the orderbook.raw topic name")
@click.option("--dlq-topic", help="override the orderbook.dlq topic name")
@click.option("--streams-per-connection", type=int, default=200, show_default=True)
@click.option("--partial-depth", type=click.Choice(["5", "10", "20"]), default="20", show_default=True)
@click.option("--idle-timeout", type=float, default=30.0, show_default=True, help="seconds without a frame")
@click.option(
    "--validate-every",
    type=int,
    default=100,
    show_default=True,
    help="schema-check one record in N (and every first record after a sync)",
)
@click.option("--log-level", default="INFO", show_default=True)
def produce(
    exchange: str | None,
    market: str | None,
    symbols: str | None,
    depth: int | None,
    stream_kind: str | None,
    ws_url: str | None,
    rest_url: str | None,
    metrics_port: int | None,
    queue_max_messages: int | None,
    bootstrap_servers: str | None,
    topic_prefix: str | None,
    raw_topic: str | None,
    dlq_topic: str | None,
    streams_per_connection: int,
    partial_depth: str,
    idle_timeout: float,
    validate_every: int,
    log_level: str,
) -> None:
    """Keep exchange-correct books and publish them to orderbook.raw (until SIGTERM/SIGINT)."""
    from producer.connection import ConnectionTuning
    from producer.service import ProducerOptions, run_producer

    configure_logging(log_level.upper())
    settings = ProducerSettings(
        **_given(
            exchange=exchange,
            market=market,
            symbols=_symbols(symbols),
            depth=depth,
            stream_kind=stream_kind,
            ws_url=ws_url,
            rest_url=rest_url,
            metrics_port=metrics_port,
            queue_max_messages=queue_max_messages,
        )
    )
    kafka = KafkaSettings(**_given(bootstrap_servers=bootstrap_servers, topic_prefix=topic_prefix))
    options = ProducerOptions(
        raw_topic=raw_topic,
        dlq_topic=dlq_topic,
        streams_per_connection=streams_per_connection,
        partial_depth=int(partial_depth),
        validate_every=validate_every,
        tuning=ConnectionTuning(idle_timeout_s=idle_timeout),
    )
    sys.exit(run_producer(settings, kafka, options))


@click.command("simulate")
@click.option("--host")
@click.option("--port", type=int, help="0: any free port (printed at start)")
@click.option("--symbols", help="comma-separated (model source)")
@click.option("--seed", type=int)
@click.option("--updates-per-second", type=float, help="per symbol; 0 = as fast as possible")
@click.option(
    "--replay",
    "replay_path",
    type=click.Path(exists=True, dir_okay=False),
    help="replay this capture instead of running the market model",
)
@click.option("--speed", type=float, default=1.0, show_default=True, help="replay speed; 0 = maximum")
@click.option("--close-at-end", is_flag=True, help="close connections when the replay ends")
@click.option(
    "--tls-cert",
    type=click.Path(exists=True, dir_okay=False),
    help="PEM certificate: serve wss:// and https:// (with --tls-key)",
)
@click.option("--tls-key", type=click.Path(exists=True, dir_okay=False), help="PEM private key of --tls-cert")
@click.option("--log-level", default="INFO", show_default=True)
def simulate(
    host: str | None,
    port: int | None,
    symbols: str | None,
    seed: int | None,
    updates_per_second: float | None,
    replay_path: str | None,
    speed: float,
    close_at_end: bool,
    tls_cert: str | None,
    tls_key: str | None,
    log_level: str,
) -> None:
    """Serve Binance spot's WebSocket and REST on loopback from a market model or a capture."""
    from producer.simulator import ReplayOptions, Simulator

    configure_logging(log_level.upper())
    settings = SimulatorSettings(
        **_given(
            host=host, port=port, symbols=_symbols(symbols), seed=seed, updates_per_second=updates_per_second
        )
    )
    replay = ReplayOptions(replay_path, speed=speed, close_at_end=close_at_end) if replay_path else None
    if (tls_cert is None) != (tls_key is None):
        raise click.UsageError("--tls-cert and --tls-key go together")
    tls = (tls_cert, tls_key) if tls_cert and tls_key else None

    async def serve(stop: asyncio.Event) -> None:
        sim = Simulator(settings, replay, tls=tls)
        await sim.start()
        click.echo(f"simulator ws={sim.ws_url} rest={sim.rest_url}", err=True)
        await stop.wait()
        await sim.stop()

    run_until_signalled(serve)


@click.command("record")
@click.option("--output", "-o", required=True, help="capture file (.gz compresses)")
@click.option("--symbols", required=True, help="comma-separated")
@click.option("--exchange", default="binance", show_default=True)
@click.option(
    "--market",
    type=click.Choice(MARKETS),
    default="spot",
    show_default=True,
    help="with --exchange: binance spot|usdm|coinm, okx spot|swap, bybit spot|linear|inverse, "
    "gateio spot|futures, hyperliquid perp|spot",
)
@click.option("--ws-url", default="", help="WebSocket base (empty: the exchange)")
@click.option("--rest-url", default="", help="REST base (empty: the exchange)")
@click.option("--channels", default="depth,bookTicker,trade", show_default=True, help="Binance only")
@click.option("--duration", type=float, help="seconds to record (default: until Ctrl-C)")
@click.option("--max-frames", type=int)
@click.option("--log-level", default="INFO", show_default=True)
def record(
    output: str,
    symbols: str,
    exchange: str,
    market: str,
    ws_url: str,
    rest_url: str,
    channels: str,
    duration: float | None,
    max_frames: int | None,
    log_level: str,
) -> None:
    """Write raw frames and REST snapshots with receive times (`<ns> <json>` lines), from any venue."""
    from producer.recorder import RecordOptions, open_recorder

    configure_logging(log_level.upper())
    options = RecordOptions(
        output=output,
        symbols=_symbols(symbols) or [],
        exchange=exchange,
        market=market,
        ws_url=ws_url,
        rest_url=rest_url,
        channels=[c.strip() for c in channels.split(",") if c.strip()],
        duration_s=duration,
        max_frames=max_frames,
    )

    frames = run_until_signalled(open_recorder(options).run)
    click.echo(f"recorded {frames} frames to {output}", err=True)
