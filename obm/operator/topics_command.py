"""`obm topics list|describe|create`: the broker's topics as the operator needs to see them.

The same view Redpanda Console gives in Compose, available on the embedded stack too (which has
no console): partitions, record counts, retention and cleanup policy, and per-partition watermarks.
"""

from __future__ import annotations

import time
from typing import Any

import click
import orjson
from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic, ResourceType

from config import KafkaSettings
from obm.operator.settings_lookup import kafka_settings_from
from obm.operator.topic_policy import contract_topic_of, full_topic_name, policy_for
from obm.operator.topic_reader import METADATA_TIMEOUT_S, client_config, slice_consumer, watermarks
from schemas import Topic
from schemas.topic_policy import partition_count

SHOWN_CONFIGS = ("retention.ms", "cleanup.policy")


def _admin(settings: KafkaSettings) -> AdminClient:
    return AdminClient(client_config(settings))


def topic_configs(admin: AdminClient, names: list[str]) -> dict[str, dict[str, str]]:
    if not names:
        return {}
    futures = admin.describe_configs([ConfigResource(ResourceType.TOPIC, n) for n in names])
    out: dict[str, dict[str, str]] = {}
    for resource, fut in futures.items():
        entries = fut.result(timeout=METADATA_TIMEOUT_S)
        out[resource.name] = {k: e.value for k, e in entries.items() if e.value is not None}
    return out


def topic_rows(settings: KafkaSettings, include_internal: bool = False) -> list[dict[str, Any]]:
    """One row per topic: partitions, records held (sum of high - low watermarks), policy."""
    admin = _admin(settings)
    md = admin.list_topics(timeout=METADATA_TIMEOUT_S)
    names = sorted(n for n in md.topics if include_internal or not n.startswith(("__", "_schemas")))
    configs = topic_configs(admin, names)
    consumer = slice_consumer(settings)
    rows = []
    try:
        for name in names:
            parts = sorted(md.topics[name].partitions)
            held = 0
            for p in parts:
                low, high = watermarks(consumer, name, p)
                held += max(0, high - low)
            contract = contract_topic_of(name, settings)
            cfg = configs.get(name, {})
            rows.append(
                {
                    "topic": name,
                    "partitions": len(parts),
                    "records": held,
                    "retention.ms": cfg.get("retention.ms"),
                    "cleanup.policy": cfg.get("cleanup.policy"),
                    "schema": contract.value if contract else None,
                }
            )
    finally:
        consumer.close()
    return rows


def _table(rows: list[dict[str, Any]], columns: list[str]) -> str:
    cells = [[("-" if r.get(c) is None else str(r.get(c))) for c in columns] for r in rows]
    widths = [max([len(c)] + [len(row[i]) for row in cells]) for i, c in enumerate(columns)]
    lines = ["  ".join(c.upper().ljust(w) for c, w in zip(columns, widths, strict=True))]
    lines += ["  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)) for row in cells]
    return "\n".join(line.rstrip() for line in lines)


@click.group("topics")
def topics() -> None:
    """List, describe and create the broker's topics."""


@topics.command("list")
@click.option(
    "--all", "include_internal", is_flag=True, help="Include internal topics (__consumer_offsets, ...)."
)
@click.option("--output", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.pass_context
def list_topics(ctx: click.Context, include_internal: bool, output: str) -> None:
    """Topics with partitions, records held, retention and the schema that applies."""
    settings = kafka_settings_from(ctx)
    try:
        rows = topic_rows(settings, include_internal)
    except KafkaException as exc:
        raise click.ClickException(f"kafka at {settings.bootstrap_servers}: {exc}") from None
    if output == "json":
        click.echo(orjson.dumps(rows).decode())
    else:
        cols = ["topic", "partitions", "records", "retention.ms", "cleanup.policy", "schema"]
        click.echo(_table(rows, cols))


def describe_topic(settings: KafkaSettings, name: str) -> dict[str, Any]:
    admin = _admin(settings)
    # All topics, not list_topics(name): asking for one name may auto-create it on some brokers.
    md = admin.list_topics(timeout=METADATA_TIMEOUT_S)
    meta = md.topics.get(name)
    if meta is None or meta.error is not None:
        raise click.ClickException(f"topic {name!r} does not exist")
    consumer = slice_consumer(settings)
    parts = []
    try:
        for p in sorted(meta.partitions):
            pm = meta.partitions[p]
            low, high = watermarks(consumer, name, p)
            parts.append(
                {
                    "partition": p,
                    "leader": pm.leader,
                    "replicas": list(pm.replicas),
                    "isr": list(pm.isrs),
                    "low": low,
                    "high": high,
                    "records": max(0, high - low),
                }
            )
    finally:
        consumer.close()
    contract = contract_topic_of(name, settings)
    return {
        "topic": name,
        "schema": contract.value if contract else None,
        "partitions": parts,
        "configs": topic_configs(admin, [name]).get(name, {}),
    }


@topics.command("describe")
@click.argument("topic")
@click.option("--output", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.pass_context
def describe(ctx: click.Context, topic: str, output: str) -> None:
    """Partitions (leader, replicas, watermarks) and the main configuration of TOPIC."""
    settings = kafka_settings_from(ctx)
    try:
        info = describe_topic(settings, full_topic_name(topic, settings))
    except KafkaException as exc:
        raise click.ClickException(f"kafka: {exc}") from None
    if output == "json":
        click.echo(orjson.dumps(info).decode())
        return
    click.echo(f"topic   {info['topic']}")
    click.echo(f"schema  {info['schema'] or '- (not a contract topic)'}")
    for key in SHOWN_CONFIGS + ("min.insync.replicas", "max.message.bytes", "compression.type"):
        if key in info["configs"]:
            click.echo(f"{key}  {info['configs'][key]}")
    click.echo(
        _table(info["partitions"], ["partition", "leader", "replicas", "isr", "low", "high", "records"])
    )


def create_topics(
    settings: KafkaSettings, names: list[str], partitions: int | None, extra_configs: dict[str, str]
) -> dict[str, str]:
    """Create absent topics with their policy; returns name -> 'created' | 'exists'."""
    admin = _admin(settings)
    existing = set(admin.list_topics(timeout=METADATA_TIMEOUT_S).topics)
    result = {n: "exists" for n in names if n in existing}
    new = []
    for name in (n for n in names if n not in existing):
        policy = policy_for(name, settings)
        topic = contract_topic_of(name, settings)
        count = partitions or (partition_count(topic, settings) if topic else settings.partitions)
        configs = {**(policy.configs() if policy else {}), **extra_configs}
        new.append(
            NewTopic(
                name, num_partitions=count, replication_factor=settings.replication_factor, config=configs
            )
        )
    if new:
        for name, fut in admin.create_topics(new, operation_timeout=30).items():
            try:
                fut.result()
                result[name] = "created"
            except KafkaException as exc:
                if exc.args[0].name() != "TOPIC_ALREADY_EXISTS":
                    raise click.ClickException(f"creating {name}: {exc.args[0].str()}") from None
                result[name] = "exists"
    _wait_for_leaders(admin, [n for n, state in result.items() if state == "created"])
    return result


def _wait_for_leaders(admin: AdminClient, names: list[str], patience_s: float = 15.0) -> None:
    """Return once every partition of `names` has a leader, so the next command can use them."""
    deadline = time.monotonic() + patience_s
    while names and time.monotonic() < deadline:
        md = admin.list_topics(timeout=METADATA_TIMEOUT_S)
        ready = [
            n
            for n in names
            if n in md.topics
            and md.topics[n].partitions
            and all(pm.leader >= 0 for pm in md.topics[n].partitions.values())
        ]
        if len(ready) == len(names):
            return
        time.sleep(0.2)


def _parse_config(values: tuple[str, ...]) -> dict[str, str]:
    out = {}
    for item in values:
        if "=" not in item:
            raise click.BadParameter(f"{item!r}: expected KEY=VALUE", param_hint="--config")
        k, v = item.split("=", 1)
        out[k.strip()] = v.strip()
    return out


@topics.command("create")
@click.argument("names", nargs=-1)
@click.option(
    "--partitions", type=click.IntRange(min=1), default=None, help="Override the policy's partitions."
)
@click.option("--config", "configs", multiple=True, help="Extra topic config KEY=VALUE (repeatable).")
@click.pass_context
def create(
    ctx: click.Context, names: tuple[str, ...], partitions: int | None, configs: tuple[str, ...]
) -> None:
    """Create NAMES (default: every topic of the contract) if absent.

    Contract topics get their partitions, retention and cleanup policy from
    obm/operator/topic_policy.py, the same values as the Compose topic-init service.
    """
    settings = kafka_settings_from(ctx)
    wanted = [full_topic_name(n, settings) for n in names] or [
        full_topic_name(t.value, settings) for t in Topic
    ]
    try:
        result = create_topics(settings, wanted, partitions, _parse_config(configs))
    except KafkaException as exc:
        raise click.ClickException(f"kafka at {settings.bootstrap_servers}: {exc}") from None
    for name in wanted:
        policy = policy_for(name, settings)
        if result[name] == "exists":
            note = "left as it is"
        elif policy is not None:
            note = f"retention {policy.retention_ms // 3_600_000} h, {policy.cleanup_policy}"
        else:
            note = "broker defaults"
        click.echo(f"{result[name]:8} {name}  ({note})")
