"""Who may connect and how much: tokens by profile, origins, connections per token, subscriptions
per connection; each refusal a close code with a reason (protocol.CloseCode)."""

from __future__ import annotations

import pytest
from conftest import GatewayTestEnv
from gateway_client import TestClient
from pydantic import SecretStr
from websockets.exceptions import ConnectionClosed

from gateway.protocol import CloseCode

pytestmark = pytest.mark.integration


def closed_with(client: TestClient) -> tuple[int, str]:
    with pytest.raises(ConnectionClosed) as closed:
        client.recv(timeout_s=30)
    assert closed.value.rcvd is not None, "the gateway closed without a close frame"
    return closed.value.rcvd.code, closed.value.rcvd.reason


def test_production_without_any_configured_token_refuses_everyone(
    gw_env: GatewayTestEnv, start_gateway
) -> None:  # type: ignore[no-untyped-def]
    gw = start_gateway(profile="production")
    for token in (None, "anything"):
        code, reason = closed_with(TestClient(gw.url, token=token))
        assert code == CloseCode.UNAUTHORIZED and "no token is configured" in reason
    assert gw.metrics.value("obm_gateway_disconnects_total", reason="unauthorized") == 2


def test_tokens_are_required_once_configured(gw_env: GatewayTestEnv, start_gateway) -> None:  # type: ignore[no-untyped-def]
    gw = start_gateway(profile="production", tokens=SecretStr("alpha,beta"))
    code, reason = closed_with(TestClient(gw.url))
    assert code == CloseCode.UNAUTHORIZED and "missing bearer token" in reason
    code, reason = closed_with(TestClient(gw.url, token="gamma"))
    assert code == CloseCode.UNAUTHORIZED and reason == "unknown token"
    ok = TestClient(gw.url, token="beta")
    assert ok.request("subscribe", "alerts", ["*"])["type"] == "subscribed"
    code, reason = closed_with(TestClient(gw.url, token="beta", origin="https://elsewhere.example"))
    assert code == CloseCode.ORIGIN_NOT_ALLOWED and "elsewhere.example" in reason
    browser = TestClient(gw.url, token="beta", origin="http://localhost:8501")
    assert browser.request("subscribe", "alerts", ["*"])["type"] == "subscribed"
    # the local profile with a token configured asks for it too
    local = start_gateway(profile="local", tokens=SecretStr("alpha"))
    assert closed_with(TestClient(local.url))[0] == CloseCode.UNAUTHORIZED


def test_connections_per_token_and_subscriptions_per_connection(
    gw_env: GatewayTestEnv, start_gateway
) -> None:  # type: ignore[no-untyped-def]
    gw = start_gateway(
        tokens=SecretStr("alpha,beta"), max_connections_per_token=2, max_subscriptions_per_connection=2
    )
    first, second = TestClient(gw.url, token="alpha"), TestClient(gw.url, token="alpha")
    first.request("subscribe", "book", ["*"])
    second.request("subscribe", "book", ["*"])
    code, reason = closed_with(TestClient(gw.url, token="alpha"))
    assert code == CloseCode.TOO_MANY_CONNECTIONS and "2 connections" in reason
    other = TestClient(gw.url, token="beta")  # another token has its own count
    assert other.request("subscribe", "book", ["a:B1", "a:B2"])["type"] == "subscribed"
    refused = other.request("subscribe", "metrics", ["*"], request_id=2)
    assert refused["type"] == "error" and refused["code"] == "too_many_subscriptions"
    assert other.request("subscribe", "book", ["a:B1"], request_id=3)["type"] == "subscribed"  # already held
    first.close()
    third = TestClient(gw.url, token="alpha")  # a closed connection frees its place
    assert third.request("subscribe", "alerts", ["*"])["type"] == "subscribed"
    bad = third.request("subscribe", "trades", ["*"], request_id=4)
    assert bad["type"] == "error" and bad["code"] == "bad_channel"
