"""Alert delivery (`obm notify`)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings

from config.notify_routes import NotifyReceiver, NotifyRoute
from config.settings.base import env_config


class NotifySettings(BaseSettings):
    """Alert delivery (`obm notify`, docs/alerts-delivery.md): orderbook.alerts to webhooks, Slack
    and Telegram, with routing, grouping, repeat, silences and retries; every attempt recorded in
    PostgreSQL. Receivers and routes are JSON lists, e.g.
    OBM_NOTIFY_RECEIVERS='[{"name": "desk", "kind": "slack", "url": "https://hooks.slack.com/..."}]'."""

    model_config = env_config("OBM_NOTIFY_")

    host: str = "127.0.0.1"
    # /healthz and /metrics.
    port: int = 9112
    # The consumer group: offsets are committed once the alerts are recorded in PostgreSQL.
    group: str = "obm-notify"
    # Static group membership (group.instance.id): a notifier restarted after a crash takes its
    # partitions back at once instead of after the broker's session timeout. Give each instance its
    # own id; empty = dynamic membership.
    instance_id: str = ""
    # Where alerts go: a JSON list of {name, kind (webhook | slack | telegram), url, token, chat_id}
    # (config/notify_routes.py); url and token are secrets.
    receivers: list[NotifyReceiver] = Field(default_factory=list)
    # Evaluated in order; none configured = every alert to every receiver.
    routes: list[NotifyRoute] = Field(default_factory=list)
    # Alerts of one group arriving within this window after its first one go out in one message.
    group_window_s: float = Field(default=30.0, ge=0)
    # After a message, further alerts of the same group (the condition goes on) wait this long and
    # then go out together in one message.
    repeat_interval_s: float = Field(default=3_600.0, ge=0)
    # Attempts per message before it is recorded as failed (5xx, 429, timeouts and connection
    # errors are retried; other 4xx answers are not).
    max_attempts: int = Field(default=5, ge=1)
    # Exponential backoff between attempts: initial, doubled each time, capped (also caps Retry-After).
    backoff_initial_s: float = Field(default=1.0, gt=0)
    backoff_max_s: float = Field(default=300.0, gt=0)
    # One HTTP request to a receiver.
    timeout_s: float = Field(default=10.0, gt=0)
    # Requests in flight to one receiver at a time; a 429's Retry-After pauses the whole receiver
    # (chat services limit messages per second per webhook or chat).
    max_in_flight_per_receiver: int = Field(default=1, ge=1)
    # How often due groups are looked for.
    tick_s: float = Field(default=1.0, gt=0)
