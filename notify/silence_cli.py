"""`obm alerts silence`: mute alerts by symbol pattern, type and severity until a time, list the
silences, remove one. The notifier applies them when a group of alerts would go out
(docs/alerts-delivery.md#silences)."""

from __future__ import annotations

import getpass
import re
from datetime import UTC, datetime, timedelta

import click
import psycopg

from config import PostgresSettings
from notify import silences
from notify.silences import Silence

_DURATION = re.compile(r"^(\d+(?:\.\d+)?)([smhd])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> timedelta:
    """`90s`, `15m`, `2h`, `1.5d`."""
    m = _DURATION.match(text.strip())
    if not m:
        raise click.BadParameter(
            f"{text!r}: a number and one of s, m, h, d (e.g. 30m, 2h)", param_hint="--for"
        )
    return timedelta(seconds=float(m.group(1)) * _UNITS[m.group(2)])


def parse_until(text: str, now: datetime) -> datetime:
    """An ISO time (UTC when it names no zone), e.g. 2026-12-06T08:00 or 2026-12-06T08:00+01:00."""
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        raise click.BadParameter(f"{text!r} is not an ISO time", param_hint="--until") from None
    when = when if when.tzinfo else when.replace(tzinfo=UTC)
    if when <= now:
        raise click.BadParameter(f"{text} is not in the future", param_hint="--until")
    return when


def _connect() -> psycopg.Connection:
    try:
        return psycopg.connect(PostgresSettings().conninfo(), connect_timeout=5, autocommit=True)
    except psycopg.OperationalError as exc:
        raise click.ClickException(f"cannot reach PostgreSQL (OBM_PG_*): {exc}") from None


def _row(s: Silence) -> str:
    ends = s.removed_at or s.ends_at
    state = "removed" if s.removed_at else ("active" if s.active(datetime.now(UTC)) else "ended")
    return (f"{s.id}  {state:<7}  symbols={s.symbols}  type={s.alert_type}  severity={s.severity}  "
            f"until {ends:%Y-%m-%d %H:%M:%S}Z  by {s.created_by}" + (f"  ({s.comment})" if s.comment else ""))  # fmt: skip


@click.group(invoke_without_command=True)
@click.option("--symbol", "symbols", default="*", show_default=True,
              help="exchange:symbol or symbol pattern (binance:BTCUSDT, *:ETH*, BTC*)")  # fmt: skip
@click.option("--type", "alert_type", default="*", show_default=True, help="alert type or pattern")
@click.option("--severity", default="*", show_default=True, help="low, medium, high or a pattern")
@click.option("--for", "duration", default=None, help="how long, e.g. 30m, 2h, 1d")
@click.option("--until", default=None, help="until an ISO time (UTC unless it says), e.g. 2026-12-06T08:00")
@click.option("--comment", default="", help="why (shown in the list)")
@click.pass_context
def silence(ctx: click.Context, symbols: str, alert_type: str, severity: str, duration: str | None,
            until: str | None, comment: str) -> None:  # fmt: skip
    """Silence alerts until a time: `obm alerts silence --symbol binance:BTCUSDT --type spread_widening
    --for 2h`. `obm alerts silence list` shows them, `obm alerts silence remove ID` ends one."""
    if ctx.invoked_subcommand is not None:
        return
    if (duration is None) == (until is None):
        raise click.UsageError("give exactly one of --for and --until")
    now = datetime.now(UTC)
    ends = now + parse_duration(duration) if duration else parse_until(until or "", now)
    try:
        s = silences.new_silence(symbols, alert_type, severity, now, ends, getpass.getuser(), comment)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    with _connect() as conn:
        silences.add(conn, s)
    click.echo(f"silenced: {_row(s)}")


@silence.command("list")
@click.option("--all", "include_ended", is_flag=True, help="also the ended and removed ones")
def list_silences(include_ended: bool) -> None:
    """Active silences (all of them with --all)."""
    with _connect() as conn:
        found = silences.listed(conn, datetime.now(UTC), include_ended=include_ended)
    for s in found:
        click.echo(_row(s))
    if not found:
        click.echo("no silences")


@silence.command("remove")
@click.argument("silence_id")
def remove_silence(silence_id: str) -> None:
    """End a silence now (it stays listed with --all)."""
    with _connect() as conn:
        if not silences.remove(conn, silence_id, datetime.now(UTC)):
            raise click.ClickException(f"no active silence {silence_id} (`obm alerts silence list`)")
    click.echo(f"removed {silence_id}")
