"""The Compose file and the Dockerfiles as data, for the static checks (there is no Docker engine
on the project's machines, so the tests read the files the way Compose and BuildKit would)."""

from __future__ import annotations

import fnmatch
import re
import shlex
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO / "docker-compose.yml"
INTERPOLATION = re.compile(r"\$\{([A-Z0-9_]+)(?::?[-?][^}]*)?\}")


@cache
def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(COMPOSE_FILE.read_text())
    return data


def services() -> dict[str, dict[str, Any]]:
    return compose()["services"]


def is_one_shot(svc: dict[str, Any]) -> bool:
    return svc.get("restart") == "no"


def environment(svc: dict[str, Any]) -> dict[str, str]:
    env = svc.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {k: "" if v is None else str(v) for k, v in env.items()}


def command_argv(svc: dict[str, Any]) -> list[str]:
    cmd = svc.get("command")
    if cmd is None:
        return []
    return shlex.split(cmd) if isinstance(cmd, str) else [str(c) for c in cmd]


def interpolated_names(text: str) -> set[str]:
    return set(INTERPOLATION.findall(text))


def required_names(text: str) -> set[str]:
    """Variables written ${NAME:?message}: Compose refuses to start without them."""
    return set(re.findall(r"\$\{([A-Z0-9_]+):\?", text))


@dataclass(frozen=True)
class HostPort:
    service: str
    host_ip: str
    host_port: int
    container_port: int


def host_ports() -> list[HostPort]:
    out = []
    for name, svc in services().items():
        for spec in svc.get("ports", []):
            parts = str(spec).split(":")
            if len(parts) != 3:
                raise AssertionError(f"{name}: port {spec!r} must be IP:HOST:CONTAINER")
            out.append(HostPort(name, parts[0], int(parts[1]), int(parts[2].split("/")[0])))
    return out


@dataclass(frozen=True)
class Instruction:
    keyword: str
    args: str


def dockerfile_instructions(path: Path) -> list[Instruction]:
    """Instructions with line continuations joined and comments dropped."""
    lines, current = [], ""
    for raw in path.read_text().splitlines():
        stripped = raw.strip()
        if not current and (not stripped or stripped.startswith("#")):
            continue
        if stripped.endswith("\\"):
            current += stripped[:-1] + " "
            continue
        lines.append(current + stripped)
        current = ""
    out = []
    for line in lines:
        keyword, _, args = line.partition(" ")
        out.append(Instruction(keyword.upper(), args.strip()))
    return out


def dockerignore_allows(ignore_file: Path, relpath: str) -> bool:
    """Whether a path survives a .dockerignore (last matching pattern wins; `!` re-includes)."""
    allowed = True
    for raw in ignore_file.read_text().splitlines():
        pattern = raw.strip()
        if not pattern or pattern.startswith("#"):
            continue
        negate = pattern.startswith("!")
        pattern = pattern.lstrip("!").rstrip("/")
        if pattern == "**" or fnmatch.fnmatch(relpath, pattern) or relpath.startswith(pattern + "/"):
            allowed = negate
        elif pattern.startswith("**/") and fnmatch.fnmatch(relpath.rsplit("/", 1)[-1], pattern[3:]):
            allowed = negate
    return allowed
