"""Producers side by side in the embedded stack (obm/stack/producers.py, StackSettings.exchanges):
which processes, with which venue, symbols and ports; the simulator's symbols; what a saved stack
remembers; and the default symbols lining the same instruments up across venues."""

from __future__ import annotations

import json

import pytest

from config import ProducerSettings, SimulatorSettings, StackSettings
from obm.stack.producers import PORT_STRIDE, producer_plans, simulator_symbols
from obm.stack.supervisor import StackConfig, build_components, needs_of
from producer.exchanges import EXCHANGES
from producer.venue_defaults import DEFAULT_MARKETS, DEFAULT_SYMBOLS, VenueChoiceError, parse_venue

pytestmark = pytest.mark.unit

VENUES = ["binance", "okx", "bybit", "gateio", "hyperliquid"]


def test_no_choice_is_the_one_producer_of_the_producer_settings() -> None:
    producer = ProducerSettings(exchange="okx", market="swap", symbols=["BTC-USDT-SWAP"], metrics_port=9300)
    (plan,) = producer_plans(StackSettings(), producer)
    assert (plan.name, plan.exchange, plan.market, plan.symbols, plan.metrics_port) == (
        "producer", "okx", "swap", ("BTC-USDT-SWAP",), 9300,
    )  # fmt: skip


def test_one_process_per_venue_with_its_defaults_and_its_own_port() -> None:
    plans = producer_plans(
        StackSettings(exchanges=[*VENUES, "okx:swap"]), ProducerSettings(metrics_port=9400)
    )
    assert [(p.name, p.exchange, p.market) for p in plans] == [
        ("producer-binance", "binance", "spot"),
        ("producer-okx-spot", "okx", "spot"),  # okx runs two markets: both named by market
        ("producer-bybit", "bybit", "spot"),
        ("producer-gateio", "gateio", "spot"),
        ("producer-hyperliquid", "hyperliquid", "perp"),
        ("producer-okx-swap", "okx", "swap"),
    ]
    assert [p.metrics_port for p in plans] == [9400 + PORT_STRIDE * i for i in range(6)]
    assert plans[5].symbols == ("BTC-USDT-SWAP", "ETH-USDT-SWAP")
    env = plans[1].env()
    assert env["OBM_PRODUCER_EXCHANGE"] == "okx" and json.loads(env["OBM_PRODUCER_SYMBOLS"]) == [
        "BTC-USDT",
        "ETH-USDT",
    ]
    assert env["OBM_PRODUCER_METRICS_PORT"] == "9420"
    # BTCUSDT serves Binance and Bybit: listed once.
    assert simulator_symbols(plans[:3]) == ["BTCUSDT", "ETHUSDT", "SOLUSDT", "BTC-USDT", "ETH-USDT"]


@pytest.mark.parametrize("entry", ["kraken", "okx:usdm", "binance:perp", "hyperliquid:swap"])
def test_unknown_venues_and_markets_are_refused_naming_what_exists(entry: str) -> None:
    with pytest.raises(VenueChoiceError, match="known"):
        parse_venue(entry)


def test_a_venue_chosen_twice_is_refused() -> None:
    with pytest.raises(ValueError, match="twice"):
        producer_plans(StackSettings(exchanges=["okx", "okx:spot"]), ProducerSettings())


def test_every_exchange_module_has_default_symbols_with_btc_on_every_venue() -> None:
    assert set(DEFAULT_SYMBOLS) == set(EXCHANGES)
    for venue in DEFAULT_MARKETS:
        market_ids = [spec.id for spec in EXCHANGES.values() if spec.id.split("_")[0] == venue]
        assert any("BTC" in s for spec_id in market_ids for s in DEFAULT_SYMBOLS[spec_id]), venue


def test_the_stack_runs_the_chosen_producers_against_a_simulator_of_all_their_symbols(tmp_path) -> None:
    cfg = StackConfig(
        stack=StackSettings(state_dir=tmp_path, exchanges=VENUES), simulator=SimulatorSettings(port=9999)
    )
    comps = {c.name: c for c in build_components(cfg)}
    assert "producer" not in comps
    for plan in cfg.producers():
        service = comps[plan.name]
        assert service.extra_env == plan.env()
        assert needs_of(plan.name) == ("kafka", "simulator")
        assert f"{plan.exchange} {plan.market}" in service.detail
    env = cfg.env()
    assert json.loads(env["OBM_SIM_SYMBOLS"]) == simulator_symbols(cfg.producers())
    assert env["OBM_PRODUCER_WS_URL"] == "ws://127.0.0.1:9999"  # every venue's protocol on the one port


def test_obm_status_and_down_see_the_producers_that_up_was_given(tmp_path) -> None:
    cfg = StackConfig(stack=StackSettings(state_dir=tmp_path, exchanges=["okx", "hyperliquid"]))
    cfg.save()
    again = StackConfig.load_or_default(StackSettings(state_dir=tmp_path))  # no OBM_EXCHANGES here
    assert [p.name for p in again.producers()] == ["producer-okx", "producer-hyperliquid"]
