"""`obm serve`: the WebSocket gateway in the foreground (the embedded stack and Compose run the
same `python -m gateway`)."""

from __future__ import annotations

import click


@click.command()
def serve() -> None:
    """Run the WebSocket gateway (docs/gateway.md); settings from OBM_GATEWAY_* and the environment."""
    from gateway.__main__ import main

    raise SystemExit(main())
