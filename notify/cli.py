"""`obm notify`: alert delivery in the foreground (the embedded stack and Compose run the same
`python -m notify`)."""

from __future__ import annotations

import click


@click.command()
def notify() -> None:
    """Deliver alerts to webhooks, Slack and Telegram (docs/alerts-delivery.md); settings from OBM_NOTIFY_*."""
    from notify.__main__ import main

    raise SystemExit(main())
