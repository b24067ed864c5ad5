"""Pure shaping of the book-shape metrics (weighted imbalance, VTOB ratio, depth bands, imbalance
velocity) into the symbol view's cards and the overview's optional columns: no I/O, no Streamlit.

Columns come from `MetricColumns` (checked against the schema), labels and help texts from
`metric_help`. A depth whose band the published levels did not reach (`depth_complete_<N>bps`
false) is marked as a lower bound: '≥' on a card, a marked cell in the overview.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from dashboard.formatting import format_signed, is_missing
from dashboard.metric_columns import (
    IMBALANCE_VELOCITY,
    VTOB_RATIO,
    WEIGHTED_IMBALANCE,
    DepthBand,
    MetricColumns,
    imbalance_column,
)
from dashboard.metric_help import metric_help
from dashboard.tables import Card

LOWER_BOUND = "≥ lower bound"


def format_size(value: Any) -> str:
    return "—" if is_missing(value) else f"{float(value):,.4g}"


def format_ratio(value: Any) -> str:
    return "—" if is_missing(value) else f"{float(value):.3f}"


def is_lower_bound(record: Mapping[str, Any], band: DepthBand) -> bool:
    """True when the band's depth is only a lower bound (the flag false). A missing flag (no
    value) is not a claim either way."""
    return record.get(band.complete) is False


def flow_cards(latest: Mapping[str, Any] | None, columns: MetricColumns, symbol: str) -> list[Card]:
    """Weighted imbalance, VTOB ratio and imbalance velocity (with the velocity_spike threshold in
    force for `symbol` in its label) of the latest record."""
    record = latest or {}
    metrics = columns.metrics
    weighted = metric_help("weighted_imbalance", metrics)
    vtob = metric_help("vtob_ratio", metrics)
    velocity = metric_help("imbalance_velocity", metrics)
    threshold = columns.velocity_threshold(symbol)
    value = record.get(IMBALANCE_VELOCITY)
    over = value is not None and not is_missing(value) and abs(float(value)) >= threshold
    return [
        Card(weighted.label, format_signed(record.get(WEIGHTED_IMBALANCE)), None, weighted.help),
        Card(
            vtob.label,
            format_ratio(record.get(VTOB_RATIO)),
            None,
            vtob.help,
        ),
        Card(
            velocity.label,
            format_signed(value) + (" ⚠" if over else ""),
            f"alert at ±{threshold:g}",
            f"{velocity.help}. velocity_spike fires at |velocity| ≥ {threshold:g} per second"
            + (" (reached now)" if over else ""),
            note=True,
        ),
    ]


def depth_cards(latest: Mapping[str, Any] | None, columns: MetricColumns) -> list[Card]:
    """One card per depth band: 'bid / ask' size within the band, noted '≥ lower bound' when the
    published levels end inside it (the flag is per band, for both sides together)."""
    record = latest or {}
    cards = []
    for band in columns.depth_bands:
        text = metric_help("depth", columns.metrics, bps=band.bps)
        bound = is_lower_bound(record, band)
        value = f"{format_size(record.get(band.bid))} / {format_size(record.get(band.ask))}"
        note = (
            "Now a lower bound: the published levels end inside the band."
            if bound
            else "Complete: the published levels reach past the band on both sides."
        )
        cards.append(
            Card(
                text.label,
                value,
                LOWER_BOUND if bound else None,
                f"bid / ask: {text.help}. {note}",
                note=True,
            )
        )
    return cards


def overview_options(columns: MetricColumns) -> dict[str, str]:
    """Optional overview columns: header -> processed column."""
    options = {
        metric_help("imbalance", columns.metrics, level=n).label: imbalance_column(n)
        for n in columns.imbalance_levels
    }
    options[metric_help("weighted_imbalance", columns.metrics).label] = WEIGHTED_IMBALANCE
    options[metric_help("vtob_ratio", columns.metrics).label] = VTOB_RATIO
    options[metric_help("imbalance_velocity", columns.metrics).label] = IMBALANCE_VELOCITY
    for band in columns.depth_bands:
        label = metric_help("depth", columns.metrics, bps=band.bps).label
        options[f"Bid {label.lower()}"] = band.bid
        options[f"Ask {label.lower()}"] = band.ask
    return options


def overview_help(columns: MetricColumns) -> dict[str, str]:
    """Header -> help text of every optional column."""
    helps = {
        metric_help("imbalance", columns.metrics, level=n).label: metric_help(
            "imbalance", columns.metrics, level=n
        ).help
        for n in columns.imbalance_levels
    }
    for name in ("weighted_imbalance", "vtob_ratio", "imbalance_velocity"):
        text = metric_help(name, columns.metrics)
        helps[text.label] = text.help
    for band in columns.depth_bands:
        text = metric_help("depth", columns.metrics, bps=band.bps)
        for side in ("Bid", "Ask"):
            helps[f"{side} {text.label.lower()}"] = f"{side.lower()} side; {text.help} (marked cell)"
    return helps


def overview_extras(
    records: Sequence[Mapping[str, Any] | None], chosen: Sequence[str], columns: MetricColumns
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The chosen optional columns for `records` (one per overview row, in row order) as floats,
    and a frame of the same shape that is True where a depth is only a lower bound."""
    options = overview_options(columns)
    bands = {c: band for band in columns.depth_bands for c in (band.bid, band.ask)}
    values: dict[str, list[Any]] = {label: [] for label in chosen}
    bounds: dict[str, list[bool]] = {label: [] for label in chosen}
    for record in records:
        row = record or {}
        for label in chosen:
            column = options[label]
            values[label].append(row.get(column))
            band = bands.get(column)
            bounds[label].append(band is not None and is_lower_bound(row, band))
    frame = pd.DataFrame(values, columns=list(chosen), dtype="float64")
    return frame, pd.DataFrame(bounds, columns=list(chosen), dtype=bool)


def with_imbalance_of(bars: pd.DataFrame, stored: pd.DataFrame, column: str) -> pd.DataFrame:
    """The series frame with its imbalance mean/min/max taken from the stored metrics' `column`
    (aggregated as `<column>_mean/_min/_max` into the same buckets) instead of the bars' level;
    mid and the rest stay the bars'. Buckets present in only one of the two keep what they have."""
    renamed = stored[[f"{column}_{s}" for s in ("mean", "min", "max")]].rename(
        columns=lambda c: "imbalance_" + c.rsplit("_", 1)[1]
    )
    kept = bars.drop(columns=["imbalance_mean", "imbalance_min", "imbalance_max"], errors="ignore")
    if kept.empty:
        return renamed.rename_axis("time")
    return kept.join(renamed, how="outer").rename_axis("time")
