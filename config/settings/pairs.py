"""The pairs job: which pairs, over what window."""

from __future__ import annotations

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings

from config.settings.base import env_config


class PairSettings(BaseSettings):
    """The pairs job (trades.bars 1 s closes -> pairs.analytics): which pairs, over what window,
    how stale a forward-filled close may be, and how often the ADF test runs (docs/metrics.md).
    Pairs as JSON, y then x, e.g. OBM_PAIRS_PAIRS='["binance:ETHUSDT/binance:BTCUSDT"]'."""

    model_config = env_config("OBM_PAIRS_")

    pairs: list[str] = Field(default_factory=lambda: ["binance:ETHUSDT/binance:BTCUSDT"])
    # Points (seconds) in the rolling window of the hedge ratio, spread, z-score and correlation.
    window_s: int = Field(default=300, ge=10)
    # No record before the window has this many points (a β of 3 points means nothing).
    min_points: int = Field(default=30, ge=10)
    # A leg's last close is carried forward at most this long; staler, the series breaks.
    fill_max_age_ms: int = Field(default=5_000, ge=0)
    # The ADF test of the spread runs every this many seconds per pair (pairs staggered)...
    adf_every_s: int = Field(default=10, ge=1)
    # ...over the spread's last this many points.
    adf_points: int = Field(default=300, ge=10)
    # Pair records one call of the job's Python operator computes at most: after a jump of the
    # watermark (a backlog, a restart) the seconds behind it are computed in slices of this many,
    # each call's output leaving as it ends, not in one call of minutes (flink_jobs/pairs.py).
    max_records_per_call: int = Field(default=2_000, ge=1)
    # A pair whose start found one leg behind the others (its partition read late) computes only
    # as far as both legs' bars have come; when its lagging leg brings nothing new for this long
    # (wall time), the leg is quiet, not late, and the pair follows the watermark again with
    # forward fills (flink_jobs/pairs.step_pair). Twice the sources' default idle timeout.
    catch_up_release_ms: int = Field(default=10_000, ge=0)

    @field_validator("pairs")
    @classmethod
    def _pairs_parse(cls, value: list[str]) -> list[str]:
        from flink_jobs.pair_analytics import PairSpec

        ids = [PairSpec.parse(text).pair_id for text in value]
        if len(set(ids)) != len(ids):
            raise ValueError(f"a pair is configured twice: {value}")
        return ids

    @model_validator(mode="after")
    def _window_fits(self) -> PairSettings:
        if self.min_points > self.window_s or self.adf_points > self.window_s:
            raise ValueError("min_points and adf_points must not exceed window_s")
        return self
