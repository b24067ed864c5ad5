"""Assembles the embedded stack from the resolved settings and runs it: start in dependency
order with progress, stop in reverse, report status. The resolved configuration is written to
the state folder so `obm status` and `obm down` address the same processes as `obm up`."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from config import (
    AlertSettings,
    DashboardSettings,
    FlinkSettings,
    GatewaySettings,
    KafkaSettings,
    MetricsJobSettings,
    PostgresSettings,
    ProducerSettings,
    RedisSettings,
    SimulatorSettings,
    SinkSettings,
    StackSettings,
)
from config.settings import NotifySettings
from obm.stack.failures import one_line, record_failure
from obm.stack.flink_cluster import FlinkCluster
from obm.stack.jobs_component import FlinkJobs
from obm.stack.kafka_broker import KafkaBroker
from obm.stack.postgres_server import PostgresServer
from obm.stack.process import pid_alive, stop_pid
from obm.stack.producers import ProducerPlan, is_producer, producer_plans, simulator_symbols
from obm.stack.redis_server import RedisServer
from obm.stack.services import PythonService, http_probe, port_probe
from obm.stack.settings_env import settings_env
from producer.book_states import not_live_report
from producer.engine_choice import describe_engine
from producer.exchanges import resolve


@dataclass
class StackConfig:
    stack: StackSettings = field(default_factory=StackSettings)
    kafka: KafkaSettings = field(default_factory=KafkaSettings)
    postgres: PostgresSettings = field(default_factory=PostgresSettings)
    redis: RedisSettings = field(default_factory=RedisSettings)
    flink: FlinkSettings = field(default_factory=FlinkSettings)
    producer: ProducerSettings = field(default_factory=ProducerSettings)
    simulator: SimulatorSettings = field(default_factory=SimulatorSettings)
    sinks: SinkSettings = field(default_factory=SinkSettings)
    dashboard: DashboardSettings = field(default_factory=DashboardSettings)
    metrics: MetricsJobSettings = field(default_factory=MetricsJobSettings)
    alerts: AlertSettings = field(default_factory=AlertSettings)
    gateway: GatewaySettings = field(default_factory=GatewaySettings)
    notify: NotifySettings = field(default_factory=NotifySettings)
    live: bool = False

    def env(self) -> dict[str, str]:
        producer = self.producer
        if not self.live:
            producer = producer.model_copy(
                update={
                    "ws_url": self.simulator.ws_url,
                    "rest_url": self.simulator.rest_url,
                    "symbols": self.simulator.symbols,
                }
            )
        return settings_env(
            self.stack, self.kafka, self.postgres, self.redis, self.flink, producer,
            self.simulated_market(), self.sinks, self.dashboard, self.metrics, self.alerts, self.gateway, self.notify,
        )  # fmt: skip

    def producers(self) -> list[ProducerPlan]:
        """The producer processes: one per StackSettings.exchanges entry, else the single one
        (watching the simulator's symbols when not live)."""
        producer = self.producer
        if not self.live and not self.stack.exchanges:
            producer = producer.model_copy(update={"symbols": self.simulator.symbols})
        return producer_plans(self.stack, producer)

    def simulated_market(self) -> SimulatorSettings:
        """The simulator's settings: with several venues it lists every producer's symbols."""
        if not self.stack.exchanges:
            return self.simulator
        return self.simulator.model_copy(update={"symbols": simulator_symbols(self.producers())})

    def save(self) -> None:
        self.stack.state_dir.mkdir(parents=True, exist_ok=True)
        (self.stack.state_dir / "stack.json").write_text(
            json.dumps({"env": self.env(), "live": self.live}, indent=2)
        )

    @classmethod
    def load_or_default(cls, stack: StackSettings) -> StackConfig:
        """The configuration of the last `obm up` in this state folder, else the defaults."""
        path = stack.state_dir / "stack.json"
        if not path.exists():
            return cls(stack=stack)
        saved: dict[str, Any] = json.loads(path.read_text())
        env: dict[str, str] = saved["env"]
        if "OBM_EXCHANGES" in env:  # chosen by `obm up --exchanges`, not only by the environment
            stack = stack.model_copy(update={"exchanges": _decode(env["OBM_EXCHANGES"])})

        def build(kind: type[Any]) -> Any:
            prefix = str(kind.model_config.get("env_prefix", "")).upper()
            fields = {k[len(prefix) :].lower(): v for k, v in env.items() if k.startswith(prefix)}
            fields = {k: v for k, v in fields.items() if k in kind.model_fields}
            return kind.model_validate({k: _decode(v) for k, v in fields.items()})

        return cls(
            stack=stack, kafka=build(KafkaSettings), postgres=build(PostgresSettings), redis=build(RedisSettings),
            flink=build(FlinkSettings), producer=build(ProducerSettings), simulator=build(SimulatorSettings),
            sinks=build(SinkSettings), dashboard=build(DashboardSettings), metrics=build(MetricsJobSettings),
            alerts=build(AlertSettings), gateway=build(GatewaySettings), notify=build(NotifySettings),
            live=bool(saved.get("live")),
        )  # fmt: skip


def _decode(value: str) -> Any:
    if value and value[0] in "[{":
        return json.loads(value)
    return value


class KafkaWithTopics:
    """The broker plus the project's topics: healthy only when every topic exists."""

    name = "kafka"

    def __init__(self, broker: KafkaBroker) -> None:
        self.broker = broker

    def start(self) -> None:
        self.broker.start()
        self.broker.ensure_topics()

    def stop(self) -> None:
        self.broker.stop()

    def healthy(self) -> bool:
        return self.broker.healthy()

    @property
    def detail(self) -> str:
        return self.broker.settings.bootstrap_servers


def build_components(cfg: StackConfig) -> list[Any]:
    env = cfg.env()
    st = cfg.stack
    pg = PostgresServer(cfg.postgres, st)
    redis = RedisServer(cfg.redis, st)
    flink = FlinkCluster(cfg.flink, st)
    comps: list[Any] = [KafkaWithTopics(KafkaBroker(cfg.kafka, st)), pg, redis, flink]
    sim = cfg.simulated_market()
    gateway_host = "127.0.0.1" if cfg.gateway.host in ("0.0.0.0", "") else cfg.gateway.host
    notify_host = "127.0.0.1" if cfg.notify.host in ("0.0.0.0", "") else cfg.notify.host
    if not cfg.live:
        comps.append(
            PythonService(
                "simulator", ["producer.simulator"], st, env,
                http_probe(f"{sim.rest_url}/api/v3/ping"), detail=f"{sim.ws_url} ({len(sim.symbols)} symbols)",
            )
        )  # fmt: skip
    several = bool(cfg.stack.exchanges)
    for plan in cfg.producers():
        venue = f"{plan.exchange} {plan.market}: {','.join(plan.symbols)}; " if several else ""
        engine = describe_engine(
            cfg.producer.engine, resolve(plan.exchange, plan.market), cfg.producer.stream_kind
        )
        comps.append(
            PythonService(
                plan.name, ["producer"], st, env, http_probe(f"{plan.metrics_url}/healthz"),
                detail=f"{plan.metrics_url}/metrics, {venue}engine: {engine}",
                extra_env=plan.env() if several else {},
            )
        )  # fmt: skip
    comps += [sink for kind in ("postgres", "redis") for sink in sink_instances(cfg, kind, env)]
    comps += [
        PythonService(
            "dashboard",
            [
                "streamlit", "run", "dashboard/app.py",
                "--server.port", str(cfg.dashboard.port), "--server.address", cfg.dashboard.host,
                "--server.headless", "true", "--browser.gatherUsageStats", "false", "--client.toolbarMode", "viewer",
            ],
            st, env,
            http_probe(f"http://{cfg.dashboard.host}:{cfg.dashboard.port}/_stcore/health"),
            detail=f"http://{cfg.dashboard.host}:{cfg.dashboard.port}",
        ),
        PythonService(
            "gateway", ["gateway"], st, env, http_probe(f"http://{gateway_host}:{cfg.gateway.port}/healthz"),
            detail=f"ws://{gateway_host}:{cfg.gateway.port} (WebSocket, /healthz, /metrics)",
        ),
        PythonService(
            "notify", ["notify"], st, env, http_probe(f"http://{notify_host}:{cfg.notify.port}/healthz"),
            detail=f"http://{notify_host}:{cfg.notify.port}/metrics ({len(cfg.notify.receivers)} receivers)",
        ),
    ]  # fmt: skip
    # Jobs last: submitting PyFlink jobs is the slowest step, and nothing else waits for it.
    comps.append(FlinkJobs(cfg.flink, cfg.kafka, st, cfg.metrics, cfg.alerts))
    return comps


def sink_instances(cfg: StackConfig, kind: str, env: dict[str, str]) -> list[PythonService]:
    """SinkSettings.<kind>_instances processes of one sink, one consumer group: `sink-<kind>`,
    then `sink-<kind>-2`, ..., each with its own /metrics port (SinkSettings.metrics_port)."""
    count = cfg.sinks.postgres_instances if kind == "postgres" else cfg.sinks.redis_instances
    port_var = f"OBM_SINK_{kind.upper()}_METRICS_PORT"
    services = []
    for i in range(count):
        port = cfg.sinks.metrics_port(kind, i)
        services.append(
            PythonService(
                f"sink-{kind}" + (f"-{i + 1}" if i else ""), ["sinks", kind], cfg.stack, env,
                port_probe("127.0.0.1", port), detail=f"http://127.0.0.1:{port}/metrics",
                extra_env={port_var: str(port)},
            )
        )  # fmt: skip
    return services


def needs_of(name: str) -> tuple[str, ...]:
    """What component `name` needs; the second and later instances of a sink (`sink-redis-2`)
    need what the first does."""
    if is_producer(name):  # producer-okx, producer-okx-swap: as the producer
        return NEEDS["producer"]
    base, _, instance = name.rpartition("-")
    return NEEDS.get(name) or (NEEDS.get(base, ()) if instance.isdigit() else ())


# What each component needs running before it starts; everything else starts at once. The
# critical path of a cold start is the Flink cluster and then the job submission, so the cluster
# starts together with the broker and the stores instead of after them.
NEEDS: dict[str, tuple[str, ...]] = {
    "producer": ("kafka", "simulator"),
    "sink-postgres": ("kafka", "postgres"),
    "sink-redis": ("kafka", "redis"),
    "dashboard": ("postgres", "redis"),
    "gateway": ("kafka", "redis"),
    "notify": ("kafka", "postgres"),
    "flink-jobs": ("kafka", "flink"),
}


def start_all(cfg: StackConfig, say: Callable[[str], None] = print) -> list[Any]:
    """Start every component as soon as what it needs is healthy (see NEEDS), with progress.

    Raises the first failure (in component order); components that need a failed one are not
    started. On KeyboardInterrupt no further component starts, the ones starting finish, and the
    interrupt propagates so the caller can stop what runs."""
    import threading
    from concurrent.futures import Future, ThreadPoolExecutor

    cfg.save()
    comps = build_components(cfg)
    names = {c.name for c in comps}
    total = len(comps)
    started = time.monotonic()
    cancelled = threading.Event()
    say_lock = threading.Lock()
    futures: dict[str, Future[None]] = {}

    def report(line: str) -> None:
        with say_lock:
            say(line)

    def run(i: int, comp: Any) -> None:
        for need in needs_of(comp.name):
            if need in futures:
                futures[need].result()  # a failed dependency fails this one too
        if cancelled.is_set():
            raise KeyboardInterrupt
        t0 = time.monotonic()
        report(f"[{i}/{total}] {comp.name:<14} starting ...")
        comp.start()
        now = time.monotonic()
        report(
            f"[{i}/{total}] {comp.name:<14} ready in {now - t0:4.1f} s (at {now - started:4.1f} s)   "
            f"{getattr(comp, 'detail', '')}"
        )

    missing = {need for c in comps for need in needs_of(c.name) if need not in names}
    missing.discard("simulator")  # absent with --live: the producer then needs only the broker
    if missing:
        raise ValueError(f"components needed but not configured: {sorted(missing)}")
    pool = ThreadPoolExecutor(max_workers=total, thread_name_prefix="obm-start")
    try:
        for i, comp in enumerate(comps, 1):
            futures[comp.name] = pool.submit(run, i, comp)
        for comp in comps:
            futures[comp.name].result()
    except BaseException:
        cancelled.set()
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown(wait=True)
    return comps


def stop_all(cfg: StackConfig, say: Callable[[str], None] = print) -> None:
    for comp in reversed(build_components(cfg)):
        try:
            comp.stop()
            say(f"stopped {comp.name}")
            for note in getattr(comp, "stop_notes", ()):
                say(f"  {note}")
        except Exception as exc:  # noqa: BLE001 - keep stopping the rest
            log = record_failure(cfg.stack.state_dir, f"stopping {comp.name}", exc)
            say(f"stopping {comp.name} failed: {one_line(exc)} (full trace in {log})")
    # Anything left with a pid file (a component renamed or disabled since `up`) goes too.
    for pid_file in sorted((cfg.stack.state_dir / "pids").glob("*.pid")):
        try:
            pid = int(pid_file.read_text().strip())
        except (OSError, ValueError):
            pid = None
        if pid is not None and pid_alive(pid):
            stop_pid(pid)
            say(f"stopped leftover {pid_file.stem} (pid {pid})")
        pid_file.unlink(missing_ok=True)


class StatusRow(NamedTuple):
    """One component in `obm status`: its health, where it is, and lines under it (e.g. one per
    Flink job). A component adds lines by having `status_report() -> (healthy, lines)`; others are
    judged by `healthy()` alone."""

    name: str
    ok: bool
    detail: str
    notes: tuple[str, ...] = ()


def status(cfg: StackConfig, *, endpoints_only: bool = False) -> list[StatusRow]:
    """Health of every component. `endpoints_only` probes the addresses alone, without looking for
    local processes: that is how the Compose stack (whose processes are containers) is checked."""
    producers = {plan.name: plan for plan in cfg.producers()}
    rows = []
    for comp in build_components(cfg):
        notes: list[str] = []
        try:
            if endpoints_only and isinstance(comp, PythonService):
                ok = comp.probe()
            elif hasattr(comp, "status_report"):
                ok, notes = comp.status_report()
            else:
                ok = comp.healthy()
            if comp.name in producers and ok:  # one line per book that is not live
                ok, notes = not_live_report(producers[comp.name].metrics_url)
        except Exception as exc:  # noqa: BLE001
            ok, notes = False, [one_line(exc)]
        rows.append(StatusRow(comp.name, ok, getattr(comp, "detail", ""), tuple(notes)))
    return rows
