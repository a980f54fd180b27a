"""The text keys of each kind of reading (:mod:`kiosk.app.texts`): its name,
unit and category words, in one place for the screens and the slip."""

from __future__ import annotations

from typing import Final

TEXT_KIND: Final = {
    "blood_pressure": "bp",
    "glucose": "glucose",
    "weight": "weight",
    "spo2": "spo2",
    "temperature": "temperature",
}
"""The reading kind → the word its text keys use."""


def name_key(kind: str) -> str:
    """``choose.bp``, ``choose.weight``...: what is measured, in words."""
    return f"choose.{TEXT_KIND[kind]}"


def unit_key(kind: str) -> str:
    """``result.bp_unit``, ``result.weight_unit``..."""
    return f"result.{TEXT_KIND[kind]}_unit"


def category_key(kind: str, category: str) -> str:
    """``cat.bp.grade_3``, ``cat.weight.overweight``..."""
    return f"cat.{TEXT_KIND[kind]}.{category}"
