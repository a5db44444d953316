"""Floats on the wire: JSON has no NaN or infinity, so they travel as strings JavaScript's
``Number()`` reads ("NaN", "Infinity", "-Infinity")."""

from __future__ import annotations

import math


def encode_float(value: float | None) -> float | str | None:
    if value is None:
        return "NaN"
    if math.isfinite(value):
        return value
    if math.isnan(value):
        return "NaN"
    return "Infinity" if value > 0 else "-Infinity"


def decode_float(value: float | str | None) -> float:
    if value is None:
        return math.nan
    if isinstance(value, str):
        return float(value.replace("Infinity", "inf"))
    return float(value)
