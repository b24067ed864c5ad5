"""The receivers and routes of alert delivery (NotifySettings.receivers / .routes in
config/settings/notify.py, read as JSON lists from the environment; docs/alerts-delivery.md)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

Severity = Literal["low", "medium", "high"]
GroupField = Literal["alert_type", "severity", "exchange", "market", "symbol"]


def _default_group_by() -> list[GroupField]:
    return ["alert_type", "exchange", "symbol"]


class NotifyReceiver(BaseModel):
    """One place alerts are delivered to. `url` and `token` are secrets: a Slack webhook URL is
    its own credential."""

    name: str = Field(min_length=1)
    # webhook: the notification as JSON; slack: {"text", "blocks"}; telegram: sendMessage.
    kind: Literal["webhook", "slack", "telegram"]
    # webhook and slack: the URL posted to; telegram: the Bot API base, e.g. https://api.telegram.org.
    url: SecretStr
    # telegram only: the bot token (the request goes to <url>/bot<token>/sendMessage) and the chat.
    token: SecretStr | None = None
    chat_id: str | None = None

    @model_validator(mode="after")
    def _telegram_needs_chat(self) -> NotifyReceiver:
        if self.kind == "telegram" and (self.token is None or not self.chat_id):
            raise ValueError(f"receiver {self.name}: a telegram receiver needs token and chat_id")
        return self


class NotifyRoute(BaseModel):
    """Which alerts go to a receiver. Empty lists match everything; patterns are shell-style
    (`*`, `?`): a symbol pattern with a `:` matches `exchange:symbol`, without one the symbol alone."""

    model_config = ConfigDict(populate_by_name=True)

    receiver: str
    severities: list[Severity] = Field(default_factory=list)
    types: list[str] = Field(default_factory=list)
    symbols: list[str] = Field(default_factory=list)
    # Alerts with equal values of these fields form one group: one message per group window.
    group_by: list[GroupField] = Field(default_factory=_default_group_by)
    # None: NotifySettings.group_window_s / repeat_interval_s.
    group_window_s: float | None = Field(default=None, ge=0)
    repeat_interval_s: float | None = Field(default=None, ge=0)
    # false: the first matching route takes the alert; true: later routes are tried too.
    continue_matching: bool = Field(default=False, alias="continue")
