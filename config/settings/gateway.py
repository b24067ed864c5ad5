"""The WebSocket gateway (`obm serve`)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings

from config.settings.base import env_config


class GatewaySettings(BaseSettings):
    """The WebSocket gateway (`obm serve`, docs/gateway.md): pushes books, metrics, bars and alerts
    from the topics to subscribed clients."""

    model_config = env_config("OBM_GATEWAY_")

    host: str = "127.0.0.1"
    # WebSocket, /healthz and /metrics on one port.
    port: int = 8780
    # local: when no token is configured, connections without one are accepted; production: every
    # connection needs a configured token (none configured = every connection refused).
    profile: Literal["local", "production"] = "local"
    # Bearer tokens clients present (Authorization: Bearer <token>), comma-separated.
    tokens: SecretStr | None = None
    # Browser origins allowed to connect (a client without an Origin header is not a browser and is
    # not checked); "*" allows any.
    allowed_origins: list[str] = Field(
        default_factory=lambda: ["http://127.0.0.1:8501", "http://localhost:8501"]
    )
    max_connections_per_token: int = Field(default=100, ge=1)
    max_subscriptions_per_connection: int = Field(default=100, ge=1)
    # Levels per side of the book channel (the top of orderbook.raw's levels).
    book_levels: int = Field(default=10, ge=1)
    # Messages pending per client before it is disconnected as too slow (events cannot be conflated).
    client_queue_max: int = Field(default=1_000, ge=1)
    # Pending messages beyond which a client gets only the newest update of a book or metrics key.
    conflate_above: int = Field(default=100, ge=0)
    # A send to one client blocked this long (its socket full) disconnects it as too slow.
    send_timeout_s: float = Field(default=10.0, gt=0)
    # Kernel send buffer per client socket (SO_SNDBUF; 0 = the kernel's autotuning, up to
    # net.ipv4.tcp_wmem's maximum, 4 MB on Linux): bounds memory per client and how much a stalled
    # client hides in its socket before its queue fills.
    client_send_buffer_bytes: int = Field(default=262_144, ge=0)
    # Prefix of the consumer group id; each gateway instance adds a unique suffix and commits nothing.
    group_prefix: str = "obm-gateway"
    # Redis reads of the snapshots at subscription.
    redis_timeout_s: float = 2.0
