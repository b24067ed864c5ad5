"""`obm`: the one command-line tool in front of everything a user does with the monitor.

Subcommands are loaded on demand (LazyGroup) so `obm status` does not pay for importing PyFlink,
and each part of the system keeps its own commands beside its code."""

from __future__ import annotations

import importlib
import signal
import sys
import time
from typing import Any

import click

from config import StackSettings
from obm.stack.failures import one_line, record_failure
from obm.stack.supervisor import StackConfig, start_all, status, stop_all

LAZY_COMMANDS = {
    "produce": "producer.cli:produce",
    "simulate": "producer.cli:simulate",
    "record": "producer.cli:record",
    "jobs": "flink_jobs.cli:jobs",
    "sink": "sinks.cli:sink",
    "topics": "obm.operator:topics",
    "tail": "obm.operator:tail",
    "replay": "obm.operator:replay",
    "dlq": "obm.operator:dlq",
    "notify": "notify.cli:notify",
    "serve": "gateway.cli:serve",
    "alerts": "obm.alerts.command:alerts",
    "export": "dashboard.export_cli:export",
    "rules": "rules.cli:rules",
}


def _unavailable(name: str, exc: Exception) -> click.Command:
    """A command whose module cannot be imported says why, instead of breaking all of `obm`."""

    def fail() -> None:
        raise click.ClickException(f"`obm {name}` is unavailable: {exc}")

    return click.Command(name, callback=fail, help=f"(unavailable: {exc})")


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted([*super().list_commands(ctx), *LAZY_COMMANDS])

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in LAZY_COMMANDS:
            module, attr = LAZY_COMMANDS[name].split(":")
            try:
                cmd: click.Command = getattr(importlib.import_module(module), attr)
            except (ImportError, AttributeError) as exc:
                return _unavailable(name, exc)
            return cmd
        return super().get_command(ctx, name)


@click.group(cls=LazyGroup)
def main() -> None:
    """Real-time order book monitor."""


@main.command()
@click.option("--live", is_flag=True, help="Connect the producer to Binance itself instead of the simulator.")
@click.option("--symbols", help="Comma-separated symbols, e.g. BTCUSDT,ETHUSDT (default from settings).")
@click.option(
    "--exchanges",
    help="Producers side by side, one per venue[:market], e.g. binance,okx,bybit,gateio,hyperliquid or "
    "okx:swap (each with its venue's default symbols; default from settings, OBM_EXCHANGES).",
)
@click.option("--foreground/--detach", default=False, help="Stay attached; Ctrl-C stops the whole stack.")
def up(live: bool, symbols: str | None, exchanges: str | None, foreground: bool) -> None:
    """Start the embedded stack: Kafka, PostgreSQL, Redis, Flink, simulator, producer, jobs, sinks, dashboard, gateway."""
    cfg = StackConfig(live=live)
    if exchanges:
        cfg.stack = cfg.stack.model_copy(update={"exchanges": [e for e in exchanges.split(",") if e.strip()]})
    if symbols and cfg.stack.exchanges:
        raise click.UsageError(
            "--symbols names the one producer's symbols; with --exchanges each venue has its own"
        )
    try:
        cfg.producers()
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc
    if symbols:
        chosen = [s.strip().upper() for s in symbols.split(",") if s.strip()]
        cfg.producer = cfg.producer.model_copy(update={"symbols": chosen})
        cfg.simulator = cfg.simulator.model_copy(update={"symbols": chosen})
    click.echo(f"state folder: {cfg.stack.state_dir}  (logs in {cfg.stack.state_dir / 'logs'})")
    stopping = False

    def on_signal(signum: int, _frame: Any) -> None:
        nonlocal stopping
        if stopping:
            return
        stopping = True
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_signal)
    # Explicitly, since a parent that started us in the background may have set SIGINT to ignore.
    signal.signal(signal.SIGINT, on_signal)
    try:
        comps = start_all(cfg, click.echo)
    except KeyboardInterrupt:
        click.echo("interrupted: stopping what was started")
        stop_all(cfg, click.echo)
        sys.exit(130)
    except Exception as exc:
        log = record_failure(cfg.stack.state_dir, "obm up: start-up failed", exc)
        click.secho(f"start-up failed: {one_line(exc)}", fg="red", err=True)
        click.echo(
            f"full trace in {log}; stopping what was started (logs stay in the state folder)", err=True
        )
        stop_all(cfg, click.echo)
        sys.exit(1)
    click.secho(
        f"\nall components healthy. Dashboard: http://{cfg.dashboard.host}:{cfg.dashboard.port}  "
        f"Flink UI: http://{cfg.flink.jobmanager}",
        fg="green",
    )
    if not foreground:
        click.echo("`obm status` shows health, `obm down` stops everything.")
        return
    click.echo("Ctrl-C stops the stack.")
    try:
        while True:
            time.sleep(5)
            for comp in comps:
                proc = getattr(comp, "process", None)
                if callable(proc) and hasattr(comp, "module_args") and not proc().running():
                    click.secho(f"{comp.name} exited; restarting (log: {proc().log_file})", fg="yellow")
                    try:
                        comp.start()
                    except Exception as exc:  # noqa: BLE001
                        record_failure(cfg.stack.state_dir, f"restarting {comp.name}", exc)
                        click.secho(f"{comp.name} restart failed: {one_line(exc)}", fg="red")
    except KeyboardInterrupt:
        click.echo("\nstopping the stack ...")
        stop_all(cfg, click.echo)


@main.command()
def down() -> None:
    """Stop every component of the embedded stack (Flink jobs with a savepoint)."""
    stop_all(StackConfig.load_or_default(StackSettings()), click.echo)


@main.command("status")
@click.option(
    "--compose",
    is_flag=True,
    help="Check the Compose stack: probe every service at its configured address (no local processes).",
)
def status_cmd(compose: bool) -> None:
    """Health of every component; exit code 1 when any is unhealthy."""
    if compose:
        # Compose publishes the services on loopback at the settings' default ports. The simulator
        # is internal to the Compose network (its own healthcheck covers it), so it is not listed.
        rows = status(StackConfig(live=True), endpoints_only=True)
    else:
        rows = status(StackConfig.load_or_default(StackSettings()))
    width = max(len(r.name) for r in rows)
    for row in rows:
        mark = click.style("healthy  ", fg="green") if row.ok else click.style("DOWN     ", fg="red")
        click.echo(f"{row.name:<{width}}  {mark}{row.detail}")
        for note in row.notes:
            click.echo(f"{'':<{width}}    {note}")
    sys.exit(0 if all(row.ok for row in rows) else 1)


if __name__ == "__main__":
    main()
