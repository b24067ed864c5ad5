"""Who may connect: bearer tokens from the settings (OBM_GATEWAY_TOKENS, a SecretStr), browser
origins, and the number of connections each token holds. A refusal is a close code with a reason
(protocol.CloseCode), given right after the WebSocket handshake so the client can read why."""

from __future__ import annotations

import hashlib
import hmac
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass

from config.settings import GatewaySettings
from gateway.protocol import CloseCode

ANONYMOUS = "anonymous"


@dataclass(frozen=True)
class Refusal:
    code: CloseCode
    reason: str


def token_identity(token: str) -> str:
    """A token's name in logs and limits: a short digest, never the token itself."""
    return "token-" + hashlib.sha256(token.encode()).hexdigest()[:12]


class Access:
    def __init__(self, settings: GatewaySettings) -> None:
        raw = settings.tokens.get_secret_value() if settings.tokens else ""
        self._tokens = [t.strip().encode() for t in raw.split(",") if t.strip()]
        self.profile = settings.profile
        self.allowed_origins = set(settings.allowed_origins)
        self.max_per_token = settings.max_connections_per_token
        self.connections: Counter[str] = Counter()

    @property
    def open_to_anyone(self) -> bool:
        """The local profile with no token configured: a developer's machine."""
        return self.profile == "local" and not self._tokens

    def describe(self) -> str:
        if self.open_to_anyone:
            return "local profile, no token configured: connections without a token are accepted"
        if not self._tokens:
            return f"{self.profile} profile and no token configured: every connection is refused"
        return f"{self.profile} profile, {len(self._tokens)} token(s)"

    def identify(self, headers: Mapping[str, str]) -> str | Refusal:
        """The identity a connection is counted under, or why it is refused."""
        origin = headers.get("Origin")
        if origin is not None and "*" not in self.allowed_origins and origin not in self.allowed_origins:
            return Refusal(CloseCode.ORIGIN_NOT_ALLOWED, f"origin {origin} is not allowed")
        token = _bearer(headers.get("Authorization"))
        if self.open_to_anyone:
            return ANONYMOUS
        if not self._tokens:
            return Refusal(CloseCode.UNAUTHORIZED, "no token is configured on this gateway")
        if token is None:
            return Refusal(CloseCode.UNAUTHORIZED, "missing bearer token (Authorization: Bearer <token>)")
        given = token.encode()
        if not any(hmac.compare_digest(given, known) for known in self._tokens):
            return Refusal(CloseCode.UNAUTHORIZED, "unknown token")
        return token_identity(token)

    def acquire(self, identity: str) -> Refusal | None:
        """Counts a connection of `identity`, or refuses it when the token holds its maximum."""
        if self.connections[identity] >= self.max_per_token:
            return Refusal(CloseCode.TOO_MANY_CONNECTIONS,
                           f"this token already holds {self.max_per_token} connections")  # fmt: skip
        self.connections[identity] += 1
        return None

    def release(self, identity: str) -> None:
        self.connections[identity] -= 1
        if self.connections[identity] <= 0:
            del self.connections[identity]


def _bearer(header: str | None) -> str | None:
    if not header:
        return None
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()
