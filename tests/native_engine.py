"""The compiled engine's tests need its module. Where it cannot be built (no Rust toolchain: cargo
is not installed, and scripts/bootstrap.sh recorded that it did not build it) they are skipped,
saying why, and the Python engine is tested alone; anywhere else a missing module fails them, so a
build that went missing never passes as "not available"."""

from __future__ import annotations

import importlib
import shutil
from pathlib import Path
from types import ModuleType

import pytest

from producer.engine_choice import BUILT, NATIVE_MODULE, bootstrap_note


def cargo_installed() -> bool:
    return shutil.which("cargo") is not None or (Path.home() / ".cargo" / "bin" / "cargo").exists()


def require_native_engine() -> ModuleType:
    """The compiled engine's module; call it at the top of a test module."""
    try:
        return importlib.import_module(NATIVE_MODULE)
    except ImportError as exc:
        missing = exc
    note = bootstrap_note()
    if not cargo_installed() and note not in (BUILT, None):
        pytest.skip(f"the compiled engine cannot be built on this machine ({note}); the Python engine is "
                    "tested alone", allow_module_level=True)  # fmt: skip
    where = "cargo is installed" if cargo_installed() else f"scripts/bootstrap.sh recorded {note!r}"
    pytest.fail(f"{NATIVE_MODULE} is not installed although {where}: run scripts/bootstrap.sh ({missing})",
                pytrace=False)  # fmt: skip
