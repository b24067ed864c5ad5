"""The `sink` click command, mounted by the `obm` CLI as `obm sink postgres|redis`."""

from __future__ import annotations

import click

from sinks.launch import SINK_KINDS, run_sink


@click.command("sink")
@click.argument("kind", type=click.Choice(SINK_KINDS))
def sink(kind: str) -> None:
    """Run the PostgreSQL or the Redis sink until SIGTERM/Ctrl-C (settings from OBM_* variables)."""
    raise SystemExit(run_sink(kind))
