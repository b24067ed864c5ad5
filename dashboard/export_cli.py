"""`obm export`: stored trades, trade bars or pair analytics of one symbol or pair and a time range
to a CSV or Parquet file, the same rows and file format as the Analytics page's Export tab (whole stored
rows, exact numerics; times in UTC), for scripts and for ranges too large for a browser download."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import click

from config import PostgresSettings
from dashboard.analytics_store import EXPORT_PAIRS, EXPORT_TRADES, TRADE_BAR_INTERVALS, AnalyticsStore
from dashboard.export_files import file_name, to_bytes
from dashboard.history_store import HistoryUnavailable
from dashboard.time_window import TimeWindow

TABLES = ("trades", "trade_bars", "pair_analytics")
FORMAT_NAMES = {"csv": "CSV", "parquet": "Parquet"}


def _ms(value: datetime) -> int:
    """click's DateTime is naive: the times are UTC, as everywhere in the monitor."""
    return int(value.replace(tzinfo=value.tzinfo or UTC).timestamp() * 1000)


@click.command("export")
@click.option("--table", type=click.Choice(TABLES), required=True, help="What to export.")
@click.option(
    "--key", required=True, help="exchange:SYMBOL for trades and trade_bars, y/x pair id for pair_analytics."
)
@click.option("--interval", type=click.Choice(TRADE_BAR_INTERVALS), default="1m", show_default=True,
              help="Bar interval (trade_bars only).")  # fmt: skip
@click.option("--from", "start", type=click.DateTime(), required=True, help="Start, UTC (inclusive).")
@click.option("--to", "end", type=click.DateTime(), required=True, help="End, UTC (exclusive).")
@click.option("--format", "fmt", type=click.Choice(list(FORMAT_NAMES)), default="csv", show_default=True)
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path),
              help="File to write (default: a descriptive name in the current directory).")  # fmt: skip
@click.option("--max-rows", type=click.IntRange(min=1), default=10_000_000, show_default=True)
def export(
    table: str,
    key: str,
    interval: str,
    start: datetime,
    end: datetime,
    fmt: str,
    output: Path | None,
    max_rows: int,
) -> None:
    """Export stored trades, trade bars or pair analytics for a time range as CSV or Parquet."""
    if end <= start:
        raise click.BadParameter("--to must be after --from", param_hint="--to")
    kind = {"trades": EXPORT_TRADES, "trade_bars": f"trade bars {interval}", "pair_analytics": EXPORT_PAIRS}[
        table
    ]
    window = TimeWindow(_ms(start), _ms(end))
    store = AnalyticsStore(PostgresSettings(), connect_timeout_s=10)
    try:
        frame = store.export_rows(kind, key, window, max_rows)
    except (HistoryUnavailable, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        store.close()
    if len(frame) > max_rows:
        raise click.ClickException(f"more than {max_rows:,} rows: narrow the range or raise --max-rows")
    if frame.empty:
        raise click.ClickException(f"no {kind} of {key} between {window.start} and {window.end}")
    name = FORMAT_NAMES[fmt]
    path = output or Path(file_name(kind, key.replace("/", "_"), window.start_ms, window.end_ms, name))
    path.write_bytes(to_bytes(frame, name))
    click.echo(f"{len(frame):,} rows -> {path}")
