"""What every settings module shares: the repository root (the stack's default folders hang off it)
and the model config that gives a class its environment prefix and reads `.env`."""

from __future__ import annotations

from pathlib import Path

from pydantic_settings import SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parents[2]


def env_config(prefix: str) -> SettingsConfigDict:
    """Read `<prefix><FIELD>` from the environment, then `.env`; variables of other classes (and
    unknown ones) are ignored, so one `.env` serves every service."""
    return SettingsConfigDict(env_prefix=prefix, env_file=".env", extra="ignore")
