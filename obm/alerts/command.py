"""`obm alerts evaluate` and `obm alerts calibrate`: the alert rules measured on real books
(docs/alerts.md). Inputs: captures (`obm record`), the simulator's market model, or a stored range
of processed records from PostgreSQL."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from config import AlertSettings, PostgresSettings
from notify.silence_cli import silence


def _records(
    captures: tuple[str, ...], exchange: str, market: str, simulate: float, symbols: tuple[str, ...],
    start: datetime | None, end: datetime | None,
) -> list[dict[str, Any]]:  # fmt: skip
    """Processed records of every input given."""
    from obm.alerts.books import capture_records, simulated_records
    from obm.alerts.features import processed_records

    if not captures and not simulate and start is None:
        raise click.UsageError("give --capture, --simulate-minutes or --from/--to (stored history)")
    raws: list[dict[str, Any]] = []
    for path in captures:
        if not Path(path).exists():
            raise click.BadParameter(f"{path} does not exist", param_hint="--capture")
        raws += capture_records(path, exchange, market)
    if simulate:
        raws += simulated_records(list(symbols) or ["BTCUSDT", "ETHUSDT"], simulate * 60)
    records = processed_records(raws)
    if start is not None:
        from obm.alerts.stored import stored_records

        if end is None:
            raise click.UsageError("--from needs --to")
        utc = [d if d.tzinfo else d.replace(tzinfo=UTC) for d in (start, end)]  # naive = UTC
        records += stored_records(PostgresSettings(), utc[0], utc[1], list(symbols) or None)
    if not records:
        raise click.ClickException("no book records in the input")
    return records


def _inputs(fn):  # noqa: ANN001, ANN202
    options = [
        click.option("--capture", "captures", multiple=True, help="a capture file (obm record format)"),
        click.option("--exchange", default="binance", show_default=True, help="venue of the captures"),
        click.option("--market", default="spot", show_default=True, help="market of the captures"),
        click.option(
            "--simulate-minutes", "simulate", type=float, default=0.0, help="minutes of simulated books"
        ),
        click.option("--symbol", "symbols", multiple=True, help="symbols (simulator, stored history)"),
        click.option(
            "--from", "start", type=click.DateTime(), default=None, help="stored history from (UTC)"
        ),
        click.option("--to", "end", type=click.DateTime(), default=None, help="stored history to (UTC)"),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


def _hits(trial) -> str:  # noqa: ANN001
    m5, m30 = trial.moves[5_000], trial.moves[30_000]
    return f"[{m5.hits}/{m5.nonzero}, {m30.hits}/{m30.nonzero}]" if trial.alerts else ""


@click.group()
def alerts() -> None:
    """The alert rules measured and calibrated on captures, the simulator or stored history;
    silences of their delivery."""


@alerts.command()
@_inputs
@click.option(
    "--profile", type=click.Choice(["seed", "adaptive"]), default=None, help="default: OBM_ALERT_PROFILE"
)
@click.option(
    "--json", "json_path", type=click.Path(dir_okay=False), default=None, help="also write the numbers"
)
def evaluate(profile: str | None, json_path: str | None, **inputs: Any) -> None:
    """Per rule and symbol: alerts per hour, time in condition, forward mid moves vs baselines."""
    from obm.alerts.evaluation import evaluate as run
    from obm.alerts.tables import report_tables

    settings = AlertSettings()
    name = profile or settings.profile
    reports = run(_records(**inputs), settings, name)
    click.echo(report_tables(reports, name))
    if json_path:
        Path(json_path).write_text(json.dumps([r.as_dict() for r in reports], indent=1))


@alerts.command()
@_inputs
@click.option("--target-per-hour", type=float, default=12.0, show_default=True, help="per symbol, all rules")
def calibrate(target_per_hour: float, **inputs: Any) -> None:
    """Propose per-symbol thresholds of the adaptive profile for a target alert rate."""
    from obm.alerts.calibration import propose

    records = _records(**inputs)
    overrides, found = propose(records, AlertSettings(), target_per_hour)
    for key, per_rule in found.items():
        hours = next(iter(per_rule.values()))[0].hours
        click.echo(
            f"## {key}: {hours * 60:.1f} min; one alert = {1 / hours:.1f} per hour" if hours else f"## {key}"
        )
        for rule, rows in per_rule.items():
            click.echo(f"  {rule}: threshold -> alerts [hits/nonzero moves at 5 s, 30 s]")
            click.echo("    " + ", ".join(f"{r.value:g} -> {r.alerts} {_hits(r)}" for r in rows))
        if hours < 3:
            click.echo("  less than 3 hours of history: the proposal is a floor, not a calibration")
    click.echo("\nOBM_ALERT_ADAPTIVE_OVERRIDES=" + json.dumps(overrides, separators=(",", ":")))


# `obm alerts silence`: silences of alert delivery, beside the notifier that applies them.
alerts.add_command(silence)
