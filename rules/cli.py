"""`obm rules`: list, add, edit, enable, disable and delete user alert rules, show their history,
publish them again. Each change is validated, stored with its history in PostgreSQL and published
to rules.changes, where the running rules job picks it up within seconds (docs/rules.md)."""

from __future__ import annotations

import getpass
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import click
import psycopg

from config import KafkaSettings, PostgresSettings
from rules.catalogue import DEFAULT_SOURCE, RULE_SOURCES
from rules.model import CONDITIONS, SEVERITIES, RuleInvalid
from rules.publish import KafkaPublisher, NotPublished
from rules.store import RuleNotFound, RulesStore, StoredRule


@contextmanager
def open_store() -> Iterator[RulesStore]:
    with psycopg.connect(PostgresSettings().conninfo(), autocommit=True, connect_timeout=10) as conn:
        yield RulesStore(conn, KafkaPublisher(KafkaSettings()))


def _run(change: Callable[[RulesStore], Any]) -> Any:
    """A store call whose refusals become messages a user can act on (exit code 1)."""
    try:
        with open_store() as store:
            return change(store)
    except RuleInvalid as exc:
        lines = "\n".join(f"  {field}: {why}" for field, why in exc.problems.items())
        raise click.ClickException(f"the rule was not stored:\n{lines}") from None
    except (RuleNotFound, NotPublished) as exc:
        raise click.ClickException(str(exc)) from None


def _line(s: StoredRule) -> str:
    r = s.rule
    state = "deleted" if s.deleted else ("enabled" if r.enabled else "disabled")
    return (
        f"{r.rule_id:>4}  v{r.version:<3} {state:<9} {r.severity:<6} {r.name}: {r.describe()}, "
        f"cooldown {r.cooldown_ms} ms  ({s.changed_by}, {s.changed_at:%Y-%m-%d %H:%M:%S})"
    )


def _changed(s: StoredRule) -> None:
    click.echo(_line(s))


def _fields(**options: Any) -> dict[str, Any]:
    return {k: v for k, v in options.items() if v is not None}


by_option = click.option(
    "--by", default=getpass.getuser, show_default="your login", help="Who makes the change."
)


def rule_options(required: bool) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    def wrap(f: Callable[..., Any]) -> Callable[..., Any]:
        for decorator in reversed([
            click.option("--name", required=required),
            click.option("--source", type=click.Choice([s.name for s in RULE_SOURCES]),
                         help=f"Where the metric comes from (default {DEFAULT_SOURCE})."),
            click.option("--metric", required=required,
                         help="A numeric field of the source, e.g. spread_bps, close (trades.bars:1m), zscore."),
            click.option("--scope", help="all (default), exchange:symbol with * and ? (binance:ETH*), a symbol, "
                         "or for pairs.analytics y/x (binance:ETHUSDT/binance:BTCUSDT)."),
            click.option("--condition", required=required, help=f"One of: {', '.join(CONDITIONS)}."),
            click.option("--threshold", required=required),
            click.option("--min-duration", "min_duration_ms", help="How long it must hold, e.g. 2s (default 0)."),
            click.option("--cooldown", "cooldown_ms", help="Quiet time after an alert, e.g. 1m (default 1m)."),
            click.option("--severity", help=f"One of: {', '.join(SEVERITIES)} (default medium)."),
        ]):  # fmt: skip
            f = decorator(f)
        return f

    return wrap


@click.group()
def rules() -> None:
    """User alert rules, applied by the running rules job without a redeploy."""


@rules.command()
@click.option("--source", type=click.Choice([s.name for s in RULE_SOURCES]), help="One source only.")
def metrics(source: str | None) -> None:
    """The sources a rule may watch and the metrics of each (from the topic schemas)."""
    for src in RULE_SOURCES:
        if source in (None, src.name):
            scope = "pair scope y/x" if src.pairs else "symbol scope"
            click.echo(f"{src.name} ({scope}): {', '.join(src.metrics)}")


@rules.command("list")
@click.option("--all", "include_deleted", is_flag=True, help="Include deleted rules.")
def list_cmd(include_deleted: bool) -> None:
    """The rules, one a line."""
    for stored in _run(lambda s: s.listed(include_deleted=include_deleted)):
        click.echo(_line(stored))


@rules.command()
@rule_options(required=True)
@click.option("--disabled", is_flag=True, help="Store it switched off.")
@by_option
def add(disabled: bool, by: str, **options: Any) -> None:
    """Add a rule, e.g. --name 'wide ETH' --metric spread_bps --scope 'binance:ETH*' --condition '>' --threshold 5."""
    _changed(_run(lambda s: s.add({**_fields(**options), "enabled": not disabled}, by)))


@rules.command()
@click.argument("rule_id", type=int)
@rule_options(required=False)
@by_option
def edit(rule_id: int, by: str, **options: Any) -> None:
    """Change the given fields of a rule."""
    changes = _fields(**options)
    if not changes:
        raise click.UsageError("say what to change, e.g. --threshold 6")
    _changed(_run(lambda s: s.edit(rule_id, changes, by)))


@rules.command()
@click.argument("rule_id", type=int)
@by_option
def enable(rule_id: int, by: str) -> None:
    """Switch a rule on."""
    _changed(_run(lambda s: s.set_enabled(rule_id, True, by)))


@rules.command()
@click.argument("rule_id", type=int)
@by_option
def disable(rule_id: int, by: str) -> None:
    """Switch a rule off (kept, with its history)."""
    _changed(_run(lambda s: s.set_enabled(rule_id, False, by)))


@rules.command()
@click.argument("rule_id", type=int)
@by_option
def delete(rule_id: int, by: str) -> None:
    """Delete a rule (its history stays)."""
    _changed(_run(lambda s: s.delete(rule_id, by)))


@rules.command()
@click.argument("rule_id", type=int, required=False)
def history(rule_id: int | None) -> None:
    """Who changed which rule, when, and to what."""
    for row in _run(lambda s: s.history(rule_id)):
        r = row["rule"]
        click.echo(
            f"{row['changed_at']:%Y-%m-%d %H:%M:%S}  rule {row['rule_id']} v{row['version']} {row['action']:<7} "
            f"by {row['changed_by']}: {r['metric']} {r['condition']} {r['threshold']:g} on {r['scope']}"
        )


@rules.command()
def publish() -> None:
    """Send every rule to rules.changes again (after `stored, but ... did not take the change`)."""
    click.echo(f"published {_run(lambda s: s.publish_all())} rules")
