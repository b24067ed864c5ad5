"""docker-compose.yml's producers side by side (profile venues) against the embedded stack's:
the same venues, markets, default symbols (producer/venue_defaults.py) and /metrics host ports as
`obm up --exchanges binance,okx,bybit,gateio,hyperliquid`, and a simulator that lists them all."""

from __future__ import annotations

import json

import pytest
from compose_model import environment, host_ports, services

from config import ProducerSettings, StackSettings
from obm.stack.producers import producer_plans, simulator_symbols

pytestmark = pytest.mark.unit

VENUES = ["binance", "okx", "bybit", "gateio", "hyperliquid"]


def test_one_producer_per_venue_as_the_embedded_stack_runs_them() -> None:
    svcs = services()
    ports = {(p.service, p.container_port): p.host_port for p in host_ports()}
    defaults = ProducerSettings()
    plans = producer_plans(StackSettings(exchanges=VENUES), defaults)
    assert [p.name for p in plans] == [f"producer-{v}" for v in VENUES]
    for plan in plans:
        service = (
            "producer" if plan.exchange == "binance" else plan.name
        )  # Binance's is the simulated profile's
        env = environment(svcs[service])
        exchange = env.get("OBM_PRODUCER_EXCHANGE", defaults.exchange)
        market = env.get("OBM_PRODUCER_MARKET", defaults.market)
        symbols = (
            json.loads(env["OBM_PRODUCER_SYMBOLS"]) if "OBM_PRODUCER_SYMBOLS" in env else defaults.symbols
        )
        assert (exchange, market, tuple(symbols)) == (plan.exchange, plan.market, plan.symbols), service
        assert env["OBM_PRODUCER_METRICS_PORT"] == "9108", service
        assert ports[(service, 9108)] == plan.metrics_port, service
        assert svcs[service]["depends_on"]["simulator"]["condition"] == "service_healthy", service


def test_the_simulator_lists_every_venues_symbols() -> None:
    plans = producer_plans(StackSettings(exchanges=VENUES), ProducerSettings())
    listed = json.loads(environment(services()["simulator"])["OBM_SIM_SYMBOLS"])
    assert listed == simulator_symbols(plans)


def test_prometheus_scrapes_every_producer() -> None:
    import yaml
    from compose_model import REPO

    prom = yaml.safe_load((REPO / "deploy/prometheus/prometheus.yml").read_text())
    job = next(j for j in prom["scrape_configs"] if j["job_name"] == "producer")
    targets = set(job["static_configs"][0]["targets"])
    producers = {name for name in services() if name.startswith("producer")}
    assert targets == {f"{name}:9108" for name in producers}
