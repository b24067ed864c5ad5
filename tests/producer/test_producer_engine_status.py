"""What `obm status` says a producer runs (describe_engine) is what producer.feed.choose_engine
runs, venue by venue: the compiled engine only where the venue's book engine has a compiled twin
(Binance spot and USD-M, OKX, Bybit, Hyperliquid); Binance COIN-M and Gate.io books and
partial-depth streams stay on the Python engine and the status line says so and why."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from native_engine import require_native_engine

from config import StackSettings
from obm.stack.supervisor import StackConfig, build_components
from producer import engine_choice
from producer.engine_choice import describe_engine
from producer.exchanges import EXCHANGES, resolve
from producer.feed import choose_engine

pytestmark = pytest.mark.unit
PYTHON_ONLY = {"binance_coinm", "gateio", "gateio_futures"}  # contract books without a compiled twin


def test_the_status_names_the_engine_each_venue_runs() -> None:
    require_native_engine()
    for spec in EXCHANGES.values():
        runs_compiled = choose_engine("auto", "diff", spec).__module__.startswith("producer.native")
        assert runs_compiled == (spec.id not in PYTHON_ONLY), spec.id
        said = describe_engine("auto", spec)
        venue = f"{spec.id.split('_')[0]} {spec.market}"
        assert said == ("native" if runs_compiled else f"python (no compiled engine for {venue})"), spec.id
    gateio = resolve("gateio", "futures")
    assert describe_engine("native", gateio) == (
        "python (OBM_PRODUCER_ENGINE=native; no compiled engine for gateio futures)"
    )
    assert describe_engine("native", resolve("okx", "swap")) == "native (OBM_PRODUCER_ENGINE=native)"
    assert describe_engine("python", resolve("okx", "swap")) == "python (OBM_PRODUCER_ENGINE=python)"
    assert describe_engine("auto", resolve("binance", "spot"), "partial") == "python (partial-depth stream)"


def test_obm_status_lines_of_producers_side_by_side(tmp_path: Path) -> None:
    require_native_engine()
    venues = ["binance", "binance:coinm", "okx:swap", "gateio:futures", "hyperliquid"]
    cfg = StackConfig(stack=StackSettings(state_dir=tmp_path, exchanges=venues))
    details = {c.name: c.detail for c in build_components(cfg)}
    engines = {plan.name: details[plan.name].rsplit("engine: ", 1)[1] for plan in cfg.producers()}
    assert list(engines.values()) == [
        "native",
        "python (no compiled engine for binance coinm)",
        "native",
        "python (no compiled engine for gateio futures)",
        "native",
    ], engines


def test_without_the_compiled_module_the_status_says_why(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setitem(sys.modules, "obm_book_native", None)
    monkeypatch.delitem(sys.modules, "producer.native_sync", raising=False)
    monkeypatch.delitem(sys.modules, "producer.native_stream_sync", raising=False)
    monkeypatch.setattr(engine_choice, "NATIVE_MARKER", tmp_path / "absent")
    okx = resolve("okx", "swap")
    assert describe_engine("auto", okx) == "python (obm_book_native is not installed)"
    # Asked for by name and not built: the producer cannot start, and the status says so.
    assert describe_engine("native", okx).startswith("none: ")
