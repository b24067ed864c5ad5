"""Generates the configuration reference (docs/configuration.md) and `.env.example` from the
settings classes in config/settings/, so neither can drift from the code.

The descriptions are the comments written beside each field in its settings module (the line above it or
the end of its line) and each class's docstring: the reason a setting exists is written once,
next to the code, and shows up here. A test fails when the committed files are stale; regenerate
with

    .venv/bin/python -m config.reference          # rewrite both files
    .venv/bin/python -m config.reference --check  # exit 1 if either is out of date
"""

from __future__ import annotations

import ast
import importlib
import inspect
import io
import json
import pkgutil
import sys
import tokenize
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import SecretStr
from pydantic_settings import BaseSettings

from config import settings as settings_package
from config.settings import REPO_ROOT, SETTINGS_CLASSES

DOC_PATH = REPO_ROOT / "docs" / "configuration.md"
ENV_EXAMPLE_PATH = REPO_ROOT / ".env.example"

# Variables Compose itself needs (interpolated in docker-compose.yml), beyond the settings classes.
# A password here is for a local stack only: Compose refuses to start without one set in `.env`.
COMPOSE_VARIABLES: tuple[tuple[str, str, str], ...] = (
    (
        "COMPOSE_PROFILES",
        "simulated",
        "simulated (built-in market simulator) or live (Binance); add ,with-grafana and/or ,with-pgadmin",
    ),
    (
        "OBM_PG_PASSWORD",
        "obm-local-only",
        "TimescaleDB password for Compose (local only: change it before exposing anything)",
    ),
    ("GRAFANA_ADMIN_PASSWORD", "obm-local-only", "Grafana admin password (profile with-grafana)"),
    ("PGADMIN_DEFAULT_EMAIL", "admin@obm.local", "pgAdmin login (profile with-pgadmin)"),
    ("PGADMIN_DEFAULT_PASSWORD", "obm-local-only", "pgAdmin password (profile with-pgadmin)"),
)


@dataclass(frozen=True)
class SettingDoc:
    env: str
    type: str
    default: str
    description: str
    secret: bool


@dataclass(frozen=True)
class SettingsClassDoc:
    name: str
    prefix: str
    summary: str
    settings: tuple[SettingDoc, ...]


def settings_classes() -> list[type[BaseSettings]]:
    """The settings classes of config/settings/, in the order of `SETTINGS_CLASSES`. A class defined
    in a settings module but missing there is an error, not a silent gap in the reference."""
    defined: set[type[BaseSettings]] = set()
    for info in pkgutil.iter_modules(settings_package.__path__, prefix=f"{settings_package.__name__}."):
        module = importlib.import_module(info.name)
        defined |= {
            obj
            for obj in vars(module).values()
            if inspect.isclass(obj) and issubclass(obj, BaseSettings) and obj.__module__ == module.__name__
        }
    missing = sorted(cls.__name__ for cls in defined - set(SETTINGS_CLASSES))
    if missing:
        raise LookupError(f"settings classes missing from config.settings.SETTINGS_CLASSES: {missing}")
    return list(SETTINGS_CLASSES)


def _comments_by_line(source: str) -> dict[int, str]:
    comments = {}
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type == tokenize.COMMENT:
            comments[tok.start[0]] = tok.string.lstrip("#").strip()
    return comments


def _field_notes(cls: type[BaseSettings]) -> dict[str, tuple[str, str]]:
    """field name -> (annotation as written, description from its comments)."""
    source = inspect.getsource(sys.modules[cls.__module__])
    comments = _comments_by_line(source)
    lines = source.splitlines()
    tree = ast.parse(source)
    node = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == cls.__name__)
    notes = {}
    for stmt in node.body:
        if not (isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name)):
            continue
        above: list[str] = []
        line = stmt.lineno - 1
        while line >= 1 and lines[line - 1].strip().startswith("#"):
            above.insert(0, comments.get(line, ""))
            line -= 1
        inline = comments.get(stmt.lineno, "")
        text = " ".join(part for part in [*above, inline] if part)
        notes[stmt.target.id] = (ast.unparse(stmt.annotation), text)
    return notes


def render_value(value: Any) -> str:
    """A default as it would be written in the environment (JSON for lists and dicts)."""
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Path):
        try:
            return "<repo>/" + value.relative_to(REPO_ROOT).as_posix()
        except ValueError:
            return str(value)
    if isinstance(value, list | dict):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def describe_class(cls: type[BaseSettings]) -> SettingsClassDoc:
    prefix = str(cls.model_config.get("env_prefix", ""))
    notes = _field_notes(cls)
    docs = []
    for name, field in cls.model_fields.items():
        default = field.get_default(call_default_factory=True)
        annotation, description = notes.get(name, (str(field.annotation), ""))
        docs.append(
            SettingDoc(
                env=f"{prefix}{name}".upper(),
                type=annotation,
                default=render_value(default),
                description=description,
                secret="SecretStr" in annotation,
            )
        )
    # Only the class's own docstring: an undocumented class would otherwise inherit BaseSettings'.
    summary = " ".join(inspect.cleandoc(cls.__dict__.get("__doc__") or "").split())
    return SettingsClassDoc(cls.__name__, prefix.upper(), summary, tuple(docs))


def all_setting_docs() -> list[SettingsClassDoc]:
    return [describe_class(cls) for cls in settings_classes()]


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def render_markdown(classes: list[SettingsClassDoc]) -> str:
    out = [
        "# Configuration reference",
        "",
        "<!-- Generated by `python -m config.reference` from config/settings/: do not edit by hand. -->",
        "",
        "Every service reads its settings from the environment, then from `.env` in the working directory,",
        "then these defaults. The defaults are the ports of the Compose stack, so the embedded stack",
        "(`make run`) and Compose are addressed the same way from the host. Lists and mappings are JSON",
        '(`OBM_PRODUCER_SYMBOLS=\'["BTCUSDT","ETHUSDT"]\'`). `.env.example` lists every variable below.',
        "",
    ]
    for cls in classes:
        out += [f"## {cls.name} (`{cls.prefix}*`)", ""]
        if cls.summary:
            out += [cls.summary, ""]
        out += ["| Variable | Type | Default | Description |", "|---|---|---|---|"]
        for s in cls.settings:
            default = f"`{_cell(s.default)}`" if s.default else "(unset)"
            note = s.description + (" Secret: never logged." if s.secret else "")
            out.append(f"| `{s.env}` | `{_cell(s.type)}` | {default} | {_cell(note.strip())} |")
        out.append("")
    out += [
        "## Compose-only variables",
        "",
        "Read by `docker-compose.yml` from `.env` (`OBM_PG_PASSWORD` is also the services' own setting).",
        "",
        "| Variable | Value in `.env.example` | Description |",
        "|---|---|---|",
    ]
    out += [f"| `{name}` | `{value}` | {_cell(why)} |" for name, value, why in COMPOSE_VARIABLES]
    return "\n".join(out) + "\n"


def render_env_example(classes: list[SettingsClassDoc]) -> str:
    """Every setting, commented out at its default (so copying the file changes nothing on the host),
    then the variables Compose requires, set to local-only values."""
    out = [
        "# Copy to .env and edit. Generated by `python -m config.reference` from config/settings/.",
        "#",
        "# The services read OBM_* variables from the environment and from .env; the defaults below",
        "# (commented out) address the embedded stack and Compose alike from the host. Inside Compose,",
        "# docker-compose.yml sets the in-network addresses (redpanda:29092, timescaledb, ...) itself.",
        "",
        "# --- Compose (required by docker-compose.yml; local-only values) ---",
    ]
    for name, value, why in COMPOSE_VARIABLES:
        out += [f"# {why}", f"{name}={value}"]
    for cls in classes:
        out += ["", f"# --- {cls.name} ({cls.prefix}*){': ' + cls.summary if cls.summary else ''}"]
        for s in cls.settings:
            if s.env in {name for name, _, _ in COMPOSE_VARIABLES}:
                out.append(f"# {s.env}: set in the Compose section above")
                continue
            if s.description:
                out.append(f"# {s.description}")
            out.append(f"# {s.env}={s.default}")
    return "\n".join(out) + "\n"


def generated_files() -> dict[Path, str]:
    classes = all_setting_docs()
    return {DOC_PATH: render_markdown(classes), ENV_EXAMPLE_PATH: render_env_example(classes)}


def main(argv: list[str]) -> int:
    stale = [p for p, text in generated_files().items() if not p.exists() or p.read_text() != text]
    if "--check" in argv:
        for path in stale:
            print(
                f"{path.relative_to(REPO_ROOT)} is out of date: run python -m config.reference",
                file=sys.stderr,
            )
        return 1 if stale else 0
    for path, text in generated_files().items():
        path.write_text(text)
        print(f"wrote {path.relative_to(REPO_ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
