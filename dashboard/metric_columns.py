"""Which orderbook.processed columns the pages show, and with which thresholds, per symbol.

The columns follow the settings the jobs run with: the imbalance a symbol's alerts watch
(AlertSettings.imbalance_level, per-symbol overrides included), the multi-level OFI the metrics job
publishes (MetricsJobSettings.ofi_levels), and the level of the bars' imbalance_mean
(MetricsJobSettings.baseline_imbalance_level), the imbalance levels a user may pick
(MetricsJobSettings.imbalance_levels), the depth bands (MetricsJobSettings.depth_pcts) and the
single-column metrics (weighted imbalance, VTOB ratio, imbalance velocity). `check` holds them against the topic's schema and
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


def depth_bps(pct: float) -> int:
    """A band of `pct` % of mid in basis points, as the metrics job names it
    (flink_jobs.metrics.depth_suffix: 0.1 % -> `…_10bps`; a test holds the two equal)."""
    return round(pct * 100)


@dataclass(frozen=True)
class DepthBand:
    """The three columns of one depth band: size within `bps` of mid per side, and whether the
    published levels reached the band (false: the depth is only a lower bound)."""

    bps: int

    @property
    def bid(self) -> str:
        return f"depth_bid_{self.bps}bps"

    @property
    def ask(self) -> str:
        return f"depth_ask_{self.bps}bps"

    @property
    def complete(self) -> str:
        return f"depth_complete_{self.bps}bps"


WEIGHTED_IMBALANCE = "weighted_imbalance"
VTOB_RATIO = "vtob_ratio"
IMBALANCE_VELOCITY = "imbalance_velocity"


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
    def imbalance_levels(self) -> list[int]:
        """The top-N imbalances the metrics job publishes: the levels a user may pick."""
        return sorted(self.metrics.imbalance_levels)

    @property
    def depth_bands(self) -> list[DepthBand]:
        return [DepthBand(depth_bps(pct)) for pct in sorted(self.metrics.depth_pcts)]

    @property
    def velocity_level(self) -> int:
        """The top-N imbalance whose change `imbalance_velocity` measures (the job's baseline level)."""
        return self.metrics.baseline_imbalance_level

    def velocity_threshold(self, symbol: str) -> float:
        """|velocity| per second at which `symbol` raises velocity_spike (override included)."""
        return float(self.thresholds(symbol)["velocity_threshold"])

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
        for level in levels:
            if imbalance_column(level) not in published:
                raise ValueError(
                    f"OBM_METRICS_IMBALANCE_LEVELS={levels}: {imbalance_column(level)} is not in the schema"
                )
        for band in self.depth_bands:
            missing = [c for c in (band.bid, band.ask, band.complete) if c not in published]
            if missing:
                raise ValueError(
                    f"OBM_METRICS_DEPTH_PCTS={self.metrics.depth_pcts}: {missing} not in the schema"
                )
        for column in (WEIGHTED_IMBALANCE, VTOB_RATIO, IMBALANCE_VELOCITY):
            if column not in published:
                raise ValueError(f"{column} is not in the orderbook.processed schema")
