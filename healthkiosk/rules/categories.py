"""Every category the kiosk shows a word for (docs/clinical.md, "Category keys").

Blood pressure and glucose; weight (its BMI), oxygen saturation and body
temperature (the kiosk's screens for them since #17). A closed set:
:func:`healthkiosk.rules.check.check_words` checks that the kiosk has words
for each in every language, so a result screen never meets a category it
cannot name.
"""

from __future__ import annotations

from typing import Final

BLOOD_PRESSURE_CATEGORIES: Final = (
    "low",
    "normal",
    "high_normal",
    "grade_1",
    "grade_2",
    "grade_3",
)
"""In order of severity, low pressure first."""
GLUCOSE_CATEGORIES: Final = (
    "very_low",
    "normal",
    "impaired_fasting",
    "above_normal",
    "high",
    "very_high",
)
"""In order of the values they hold."""
BMI_CATEGORIES: Final = ("underweight", "normal", "overweight", "obese")
"""A weight reading's category is its BMI's (docs/clinical.md, "Body mass index")."""
SPO2_CATEGORIES: Final = ("very_low", "low", "normal")
TEMPERATURE_CATEGORIES: Final = ("normal", "low_fever", "fever", "high_fever")
CATEGORY_KEYS: Final = tuple(
    [f"blood_pressure.{c}" for c in BLOOD_PRESSURE_CATEGORIES]
    + [f"glucose.{c}" for c in GLUCOSE_CATEGORIES]
    + [f"weight.{c}" for c in BMI_CATEGORIES]
    + [f"spo2.{c}" for c in SPO2_CATEGORIES]
    + [f"temperature.{c}" for c in TEMPERATURE_CATEGORIES]
)
