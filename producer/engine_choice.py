"""What "auto" means for the diff-depth engine (ProducerSettings.engine): the compiled engine
(`obm_book_native`, producer/native) when it is installed, else the Python reference. A machine
without a Rust toolchain still runs the whole product, only with more CPU per frame
(docs/benchmarks.md); scripts/bootstrap.sh records why the compiled engine is missing in the
virtual environment, and the producer and `obm status` say it."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

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


def describe_engine(engine: str) -> str:
    """The engine a producer with this setting runs, in words (`obm status`)."""
    chosen, why = resolve_engine(engine)
    if why:
        return f"{chosen} ({why})"
    return chosen if engine == "auto" else f"{chosen} (OBM_PRODUCER_ENGINE={engine})"
