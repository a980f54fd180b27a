"""Clinical rules: the one module that knows thresholds (docs/clinical.md).

The kiosk's result screen and the doctor's follow-up list both classify with
this module, so the two never disagree. Every threshold is configuration
(:class:`RulesConfig`, the ``[rules]`` table); nothing else in the code
holds a clinical number.
"""

from healthkiosk.readings import round_tenth
from healthkiosk.rules.categories import CATEGORY_KEYS
from healthkiosk.rules.check import check_rules, check_words
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
    Problem,
    RulesConfig,
    RulesError,
    load_rules,
)
from healthkiosk.rules.ruleset import (
    RuleSetId,
    held_rule_sets,
    rule_set_id,
    rules_digest,
    rules_name,
)
from healthkiosk.rules.vitals import (
    check_bmi_plausible,
    check_height_plausible,
    check_spo2_plausible,
    check_temperature_plausible,
    check_weight_plausible,
    classify_bmi,
    classify_spo2,
    classify_temperature,
    classify_weight,
)
from healthkiosk.rules.vitals_config import BmiRules, Spo2Rules, TemperatureRules

__all__ = [
    "CATEGORY_KEYS",
    "BloodPressureRules",
    "BmiRules",
    "Classification",
    "FollowupRules",
    "GlucoseRules",
    "MeasurementProtocol",
    "Problem",
    "RuleSetId",
    "RulesConfig",
    "RulesError",
    "Spo2Rules",
    "TemperatureRules",
    "average_blood_pressure",
    "check_blood_pressure_plausible",
    "check_bmi_plausible",
    "check_glucose_plausible",
    "check_height_plausible",
    "check_rules",
    "check_spo2_plausible",
    "check_temperature_plausible",
    "check_weight_plausible",
    "check_words",
    "classify_blood_pressure",
    "classify_bmi",
    "classify_glucose",
    "classify_glucose_out_of_range",
    "classify_spo2",
    "classify_temperature",
    "classify_weight",
    "held_rule_sets",
    "load_rules",
    "needs_third_measurement",
    "round_half_up",
    "round_tenth",
    "rule_set_id",
    "rules_digest",
    "rules_name",
]
