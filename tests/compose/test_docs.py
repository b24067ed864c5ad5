"""The generated configuration reference and .env.example are current; the docs say what they must."""

from __future__ import annotations

import re

import pytest
from compose_model import REPO, services

from config.reference import all_setting_docs, generated_files, main
from schemas import Topic

pytestmark = pytest.mark.unit


def test_generated_configuration_files_are_up_to_date() -> None:
    for path, text in generated_files().items():
        assert path.read_text() == text, f"{path.name} is stale: run .venv/bin/python -m config.reference"
    assert main(["--check"]) == 0


def test_reference_covers_every_setting_with_its_default() -> None:
    doc = (REPO / "docs/configuration.md").read_text()
    example = (REPO / ".env.example").read_text()
    for cls in all_setting_docs():
        assert f"## {cls.name}" in doc
        for s in cls.settings:
            assert f"`{s.env}`" in doc
            assert re.search(rf"^(# )?{s.env}[=:]", example, re.M), f"{s.env} missing from .env.example"
    # descriptions come from the comments in the settings modules
    assert "Embedded broker only: the KRaft controller listener." in doc


def test_architecture_has_one_mermaid_diagram_of_the_topology() -> None:
    text = (REPO / "docs/architecture.md").read_text()
    diagrams = re.findall(r"```mermaid\n(.*?)```", text, re.S)
    assert len(diagrams) == 1
    diagram = diagrams[0]
    for topic in Topic:
        assert topic.value in diagram
    for part in (
        "metrics",
        "bars",
        "alerts",
        "sink-postgres",
        "sink-redis",
        "TimescaleDB",
        "Redis",
        "dashboard",
    ):
        assert part in diagram, part


def test_operations_runbook_covers_the_issue() -> None:
    text = (REPO / "docs/operations.md").read_text()
    for needle in (
        "docker compose up",
        "make run",
        "obm jobs redeploy",
        "obm replay",
        "--rewind-group",
        "obm tail",
        "obm topics",
        "broker outage",
        "database outage",
    ):
        assert needle in text, needle
    # every Compose service named in the runbook exists
    for name in re.findall(r"docker compose (?:stop|start|restart|logs) ([a-z-]+)", text):
        assert name in services(), name


def test_a_settings_class_left_out_of_the_registry_fails_the_reference(monkeypatch) -> None:
    """The reference lists `config.settings.SETTINGS_CLASSES`; a class added to a settings module but
    not registered there must stop the generator instead of missing from the docs."""
    from pydantic_settings import BaseSettings

    from config.reference import settings_classes
    from config.settings import kafka

    class StraySettings(BaseSettings):
        pass

    StraySettings.__module__ = kafka.__name__
    monkeypatch.setattr(kafka, "StraySettings", StraySettings, raising=False)
    with pytest.raises(LookupError, match="StraySettings"):
        settings_classes()
