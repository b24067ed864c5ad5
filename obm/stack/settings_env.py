"""Turns settings objects back into the environment variables they were read from, so every
child process of the stack sees exactly the configuration `obm up` resolved."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, SecretStr
from pydantic_settings import BaseSettings


def _env_value(value: Any) -> str:
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, list | dict):
        return json.dumps(_plain(value))
    return str(value)


def _plain(value: Any) -> Any:
    """Nested settings (e.g. NotifySettings.receivers) as JSON-ready values, secrets revealed:
    the child process reads them back from its environment."""
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    if isinstance(value, BaseModel):
        return {name: _plain(getattr(value, name)) for name in type(value).model_fields}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


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
