"""Turns an exported frame into the bytes of a CSV or Parquet file. Times are written as UTC
ISO-8601 in CSV and as timestamp[us, UTC] in Parquet, so a reader in any timezone gets the same
instants back; JSON objects (an alert's context) as JSON text in both."""

from __future__ import annotations

import io

import orjson
import pandas as pd

FORMATS = {"CSV": ("csv", "text/csv"), "Parquet": ("parquet", "application/vnd.apache.parquet")}


def file_name(kind: str, key: str, start_ms: int, end_ms: int, fmt: str) -> str:
    """e.g. obm_bars-1s_binance-BTCUSDT_20240808T1200Z_20240808T1300Z.csv"""
    ext = FORMATS[fmt][0]

    def stamp(ms: int) -> str:
        return pd.Timestamp(ms, unit="ms", tz="UTC").strftime("%Y%m%dT%H%MZ")

    safe_kind = kind.replace(" ", "-")
    return f"obm_{safe_kind}_{key.replace(':', '-')}_{stamp(start_ms)}_{stamp(end_ms)}.{ext}"


def _objects_as_json(frame: pd.DataFrame) -> pd.DataFrame:
    """JSON objects (a jsonb column such as an alert's context) as JSON text: CSV would write
    Python's repr, Parquet would guess a struct from whichever keys the first rows have."""
    nested = [c for c in frame.columns if frame[c].dtype == object and frame[c].map(_is_object).any()]
    if not nested:
        return frame
    out = frame.copy()
    for c in nested:
        out[c] = out[c].map(lambda v: orjson.dumps(v).decode() if _is_object(v) else v)
    return out


def _is_object(value: object) -> bool:
    return isinstance(value, dict)


def to_bytes(frame: pd.DataFrame, fmt: str) -> bytes:
    frame = _objects_as_json(frame)
    if fmt == "CSV":
        return frame.to_csv(index=False, date_format="%Y-%m-%dT%H:%M:%S.%fZ").encode()
    if fmt == "Parquet":
        buffer = io.BytesIO()
        frame.to_parquet(buffer, index=False, engine="pyarrow", compression="zstd")
        return buffer.getvalue()
    raise ValueError(f"unknown export format {fmt!r}")
