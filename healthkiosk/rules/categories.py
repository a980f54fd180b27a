"""Every category the kiosk shows a word for (docs/clinical.md, "Category keys").

Blood pressure and glucose; BMI, oxygen saturation and temperature (which the
rules classify since #17) join when the kiosk shows them. A closed set:
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
CATEGORY_KEYS: Final = tuple(
    [f"blood_pressure.{c}" for c in BLOOD_PRESSURE_CATEGORIES]
    + [f"glucose.{c}" for c in GLUCOSE_CATEGORIES]
)
