"""Clinical rules: the one module that knows thresholds (docs/clinical.md).

The kiosk's result screen and the doctor's follow-up list both classify with
this module, so the two never disagree. Every threshold is configuration
(:class:`RulesConfig`, the ``[rules]`` table); nothing else in the code
holds a clinical number.
"""

from healthkiosk.rules.classify import (
    Classification,
    average_blood_pressure,
    check_blood_pressure_plausible,
    check_glucose_plausible,
    classify_blood_pressure,
    classify_glucose,
    classify_glucose_out_of_range,
    needs_third_measurement,
    round_half_up,
)
from healthkiosk.rules.config import (
    BloodPressureRules,
    FollowupRules,
    GlucoseRules,
    MeasurementProtocol,
    RulesConfig,
    load_rules,
)

__all__ = [
    "BloodPressureRules",
    "Classification",
    "FollowupRules",
    "GlucoseRules",
    "MeasurementProtocol",
    "RulesConfig",
    "average_blood_pressure",
    "check_blood_pressure_plausible",
    "check_glucose_plausible",
    "classify_blood_pressure",
    "classify_glucose",
    "classify_glucose_out_of_range",
    "load_rules",
    "needs_third_measurement",
    "round_half_up",
]
