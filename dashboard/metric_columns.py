"""Which orderbook.processed columns the pages show, and with which thresholds, per symbol.

The columns follow the settings the jobs run with: the imbalance a symbol's alerts watch
(AlertSettings.imbalance_level, per-symbol overrides included), the multi-level OFI the metrics job
publishes (MetricsJobSettings.ofi_levels), and the level of the bars' imbalance_mean
(MetricsJobSettings.baseline_imbalance_level). `check` holds them against the topic's schema and
the levels the metrics job publishes, so a setting that names a column nobody writes is said once,
at start, instead of showing an empty column or silently another level.
"""

from __future__ import annotations

from dataclasses import dataclass

from config import AlertSettings, MetricsJobSettings
from schemas import Topic, load_schema


def imbalance_column(level: int) -> str:
    return f"imbalance_{level}"


def ofi_column(levels: int) -> str:
    return f"ofi_{levels}"


@dataclass(frozen=True)
class MetricColumns:
    alerts: AlertSettings
    metrics: MetricsJobSettings

    def thresholds(self, symbol: str) -> dict[str, float]:
        """The alert settings in force for `symbol` (defaults with its override applied)."""
        return self.alerts.for_symbol(symbol)

    def imbalance_level(self, symbol: str) -> int:
        return int(self.thresholds(symbol)["imbalance_level"])

    def imbalance(self, symbol: str) -> str:
        """The imbalance column shown for `symbol`: the one its alerts watch."""
        return imbalance_column(self.imbalance_level(symbol))

    @property
    def ofi(self) -> str:
        return ofi_column(self.metrics.ofi_levels)

    @property
    def bars_imbalance_level(self) -> int:
        """The top-N imbalance the bars' imbalance_mean/min/max summarise (the bars job's choice)."""
        return self.metrics.baseline_imbalance_level

    def check(self) -> None:
        """Raises ValueError naming the setting when a column the pages would read is not in the
        orderbook.processed schema or not published by the metrics job."""
        published = set(load_schema(Topic.PROCESSED)["properties"])
        levels = self.metrics.imbalance_levels
        for symbol in ("", *self.alerts.overrides):
            level = self.thresholds(symbol)["imbalance_level"]
            where = f" (override of {symbol})" if symbol else ""
            if (
                level != int(level)
                or int(level) not in levels
                or imbalance_column(int(level)) not in published
            ):
                raise ValueError(
                    f"imbalance_level {level:g}{where} names a column the metrics job does not publish: "
                    f"it publishes imbalance_N for N in {levels} (OBM_METRICS_IMBALANCE_LEVELS)"
                )
        if self.ofi not in published:
            raise ValueError(
                f"OBM_METRICS_OFI_LEVELS={self.metrics.ofi_levels}: {self.ofi} is not in the schema"
            )
