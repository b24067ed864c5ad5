"""Imported first by the compiled engine's test modules: skips the module where the engine cannot be
built, fails it where it should be there (native_engine.require_native_engine)."""

from native_engine import require_native_engine

require_native_engine()
