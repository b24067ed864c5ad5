"""Turns settings objects back into the environment variables they were read from, so every
child process of the stack sees exactly the configuration `obm up` resolved."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import SecretStr
from pydantic_settings import BaseSettings


def _env_value(value: Any) -> str:
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, list | dict):
        return json.dumps(value)
    return str(value)


def settings_env(*settings: BaseSettings) -> dict[str, str]:
    env: dict[str, str] = {}
    for obj in settings:
        prefix = str(obj.model_config.get("env_prefix", ""))
        for name in type(obj).model_fields:
            value = getattr(obj, name)
            if value is None:
                continue
            env[f"{prefix}{name}".upper()] = _env_value(value)
    return env
