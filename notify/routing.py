"""Which receivers an alert goes to, and which group it joins there. Pure logic: the intake calls
`route` for each alert and stores one row per (alert, receiver) with the group key and the timing
of the route that matched."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any

from config.notify_routes import NotifyRoute
from config.settings import NotifySettings
from schemas.topics import KEY_SEPARATOR, record_key


def symbol_matches(pattern: str, exchange: str, symbol: str) -> bool:
    """A pattern with the key separator matches `exchange:symbol` (`binance:BTC*`, `*:ETHUSDT`);
    one without it matches the symbol on any venue (`BTC*`)."""
    if KEY_SEPARATOR in pattern:
        return fnmatchcase(record_key(exchange, symbol), pattern)
    return fnmatchcase(symbol, pattern)


def _any(patterns: Iterable[str], value: str) -> bool:
    return any(fnmatchcase(value, p) for p in patterns)


def route_matches(route: NotifyRoute, alert: Mapping[str, Any]) -> bool:
    """Empty lists match everything."""
    if route.severities and alert["severity"] not in route.severities:
        return False
    if route.types and not _any(route.types, alert["alert_type"]):
        return False
    return not route.symbols or any(
        symbol_matches(p, alert["exchange"], alert["symbol"]) for p in route.symbols
    )


@dataclass(frozen=True)
class Destination:
    """One receiver an alert goes to: its group there and the timing of the route that sent it."""

    receiver: str
    route: int  # index in NotifySettings.routes (-1: the implicit route of no routes configured)
    group_key: str
    group_window_s: float
    repeat_interval_s: float


def group_key(receiver: str, fields: Iterable[str], alert: Mapping[str, Any]) -> str:
    """`receiver|field=value|...`: equal for alerts that go out together."""
    return "|".join([receiver, *(f"{f}={alert[f]}" for f in fields)])


class Router:
    def __init__(self, settings: NotifySettings) -> None:
        self.settings = settings
        names = [r.name for r in settings.receivers]
        if len(set(names)) != len(names):
            raise ValueError(f"OBM_NOTIFY_RECEIVERS: receiver names must be unique, got {names}")
        unknown = sorted({r.receiver for r in settings.routes} - set(names))
        if unknown:
            raise ValueError(f"OBM_NOTIFY_ROUTES names receivers that are not configured: {unknown}")
        default = NotifyRoute(receiver="")
        self._routes: list[tuple[int, NotifyRoute]] = (
            list(enumerate(settings.routes))
            if settings.routes
            else [(-1, default.model_copy(update={"receiver": n, "continue_matching": True})) for n in names]
        )

    def route(self, alert: Mapping[str, Any]) -> list[Destination]:
        """The receivers of `alert`, each once (the first matching route to a receiver decides its
        group), in route order; stops after a matching route without `continue`."""
        out: dict[str, Destination] = {}
        for index, route in self._routes:
            if not route_matches(route, alert):
                continue
            if route.receiver not in out:
                out[route.receiver] = Destination(
                    receiver=route.receiver,
                    route=index,
                    group_key=group_key(route.receiver, route.group_by, alert),
                    group_window_s=self._or(route.group_window_s, self.settings.group_window_s),
                    repeat_interval_s=self._or(route.repeat_interval_s, self.settings.repeat_interval_s),
                )
            if not route.continue_matching:
                break
        return list(out.values())

    @staticmethod
    def _or(value: float | None, default: float) -> float:
        return default if value is None else value
