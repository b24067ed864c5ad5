"""What "auto" means for the diff-depth engine (ProducerSettings.engine): the compiled engine
(`obm_book_native`, producer/native) when it is installed, else the Python reference. A machine
without a Rust toolchain still runs the whole product, only with more CPU per frame
(docs/benchmarks.md); scripts/bootstrap.sh records why the compiled engine is missing in the
virtual environment, and the producer and `obm status` say it."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from producer.exchanges import ExchangeSpec

NATIVE_MODULE = "obm_book_native"
# Written by scripts/bootstrap.sh: "built", or why it was not built ("no Rust toolchain").
NATIVE_MARKER = Path(sys.prefix) / ".obm-native-engine"
BUILT = "built"


def native_installed() -> bool:
    try:
        importlib.import_module(NATIVE_MODULE)
    except ImportError:
        return False
    return True


def bootstrap_note() -> str | None:
    """What scripts/bootstrap.sh recorded about the compiled engine (None: it never ran here)."""
    try:
        return NATIVE_MARKER.read_text().strip() or None
    except OSError:
        return None


def resolve_engine(engine: str) -> tuple[str, str]:
    """(the engine to run, why it is not the compiled one when "auto" fell back; else "")."""
    if engine != "auto":
        return engine, ""
    if native_installed():
        return "native", ""
    note = bootstrap_note()
    return "python", note if note and note != BUILT else f"{NATIVE_MODULE} is not installed"


def describe_engine(engine: str, spec: ExchangeSpec | None = None, stream_kind: str = "diff") -> str:
    """The engine a producer with this setting runs on `spec`'s venue, in words (`obm status`).
    Read from producer.feed.choose_engine, the one place the engine is chosen, so the status
    cannot claim the compiled engine for a venue without a compiled twin (Binance COIN-M and
    Gate.io keep contract books in Python) or for partial-depth streams."""
    chosen, why = resolve_engine(engine)
    if why:
        return f"{chosen} ({why})"
    setting = "" if engine == "auto" else f"OBM_PRODUCER_ENGINE={engine}"
    if chosen == "native" and spec is not None:
        from producer.feed import choose_engine  # here: producer.feed imports this module

        try:
            runs = choose_engine(engine, stream_kind, spec)
        except ImportError as exc:  # "native" asked for and not built: the producer will not start
            return f"none: {exc}"
        if runs is choose_engine("python", stream_kind, spec):
            reason = (
                "partial-depth stream"
                if stream_kind == "partial"
                else f"no compiled engine for {spec.id.split('_')[0]} {spec.market}"
            )
            return f"python ({'; '.join(filter(None, (setting, reason)))})"
    return f"{chosen} ({setting})" if setting else chosen
