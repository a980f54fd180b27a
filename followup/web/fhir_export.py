"""A resident's readings as a FHIR Bundle of Observations, validated with fhir.resources.

LOINC (verified): 85354-9 blood pressure panel with 8480-6 systolic and
8462-4 diastolic in mm[Hg]; 8867-4 heart rate in /min; capillary glucose by
glucometer in mmol/L 14743-9, fasting 14770-2 (the moles/volume twins of
41653-7 / 41604-0; never the serum lab codes); 29463-7 body weight in kg
with 39156-5 BMI in kg/m2 (and 8302-2 body height in m, the height the BMI
used); 59408-5 oxygen saturation in arterial blood by pulse oximetry in %
(with 8867-4 heart rate); 8310-5 body temperature in Cel, its site as the
body site. Each Observation carries the
reading UUID as its identifier; the station is an Organization (performer
beside the resident, who measured themself) and the meter a Device.

fhir.resources 8 ships R5 (default), R4B and STU3: the R4B models validate
here; Observation, Bundle, Patient, Device and Organization are the same as
R4 in every element this export uses. The ID number is not exported.
"""

from __future__ import annotations

import uuid as uuidlib
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from followup.db.models import Reading, Resident, Station
from healthkiosk.rules import RulesConfig

LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
OBS_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
INTERPRETATION = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
NS = uuidlib.UUID("6f1b1b6e-6d5c-4a7e-9a43-5f1f3c8c2b10")


def _urn(*parts: str) -> str:
    return f"urn:uuid:{uuidlib.uuid5(NS, '/'.join(parts))}"


def _code(code: str, display: str) -> dict[str, Any]:
    return {"coding": [{"system": LOINC, "code": code, "display": display}], "text": display}


def _qty(value: float, unit: str, code: str, comparator: str | None = None) -> dict[str, Any]:
    q: dict[str, Any] = {"value": value, "unit": unit, "system": UCUM, "code": code}
    if comparator:
        q["comparator"] = comparator
    return q


def _category(code: str) -> list[dict[str, Any]]:
    return [{"coding": [{"system": OBS_CATEGORY, "code": code}]}]


def _interpretation(category: str, urgent: bool) -> list[dict[str, Any]] | None:
    high = {
        "high_normal",
        "grade_1",
        "grade_2",
        "grade_3",
        "impaired_fasting",
        "above_normal",
        "high",
        "very_high",
        "overweight",
        "obese",
        "low_fever",
        "fever",
        "high_fever",
    }
    if category in ("low", "very_low", "underweight"):
        code = "LL" if urgent else "L"
    elif category in high:
        code = "HH" if urgent else "H"
    elif category == "normal":
        code = "N"
    else:
        return None
    return [{"coding": [{"system": INTERPRETATION, "code": code}]}]


def readings_bundle(
    resident: Resident,
    readings: Sequence[Reading],
    stations: dict[str, Station],
    *,
    rules: RulesConfig,
    now: datetime,
) -> dict[str, Any]:
    """The Bundle as JSON-ready dict (validated: raises if it is not valid FHIR)."""
    patient_ref = _urn("patient", resident.id_hash)
    entries: list[dict[str, Any]] = [
        {
            "fullUrl": patient_ref,
            "resource": {
                "resourceType": "Patient",
                "identifier": [
                    {"system": "urn:healthkiosk:resident-id-hash", "value": resident.id_hash}
                ],
                **({"name": [{"text": resident.name}]} if resident.name else {}),
                "gender": {"male": "male", "female": "female"}.get(resident.sex, "unknown"),
                **({"birthDate": resident.birth_date.isoformat()} if resident.birth_date else {}),
            },
        }
    ]
    org_refs: dict[str, str] = {}
    device_refs: dict[tuple[str, str, str], str] = {}
    for r in readings:
        if r.kind == "device_event":
            continue  # a value the rules refused is not an observation (the page shows it)
        if r.station_id not in org_refs:
            ref = _urn("station", r.station_id)
            org_refs[r.station_id] = ref
            st = stations.get(r.station_id)
            entries.append(
                {
                    "fullUrl": ref,
                    "resource": {
                        "resourceType": "Organization",
                        "identifier": [
                            {"system": "urn:healthkiosk:station", "value": r.station_id}
                        ],
                        "name": (st.name if st and st.name else r.station_id),
                    },
                }
            )
        key = (r.station_id, r.device_model, r.device_serial)
        if key not in device_refs:
            ref = _urn("device", *key)
            device_refs[key] = ref
            dev: dict[str, Any] = {
                "resourceType": "Device",
                "deviceName": [{"name": r.device_model or "unknown", "type": "model-name"}],
                "owner": {"reference": org_refs[r.station_id]},
            }
            if r.device_serial:
                dev["serialNumber"] = r.device_serial
            entries.append({"fullUrl": ref, "resource": dev})
        entries.extend(
            _observations(r, patient_ref, org_refs[r.station_id], device_refs[key], rules)
        )
    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "timestamp": now.isoformat(),
        "entry": entries,
    }
    from fhir.resources.R4B.bundle import Bundle

    Bundle.model_validate(bundle)
    return bundle


def _observations(
    r: Reading, patient: str, org: str, device: str, rules: RulesConfig
) -> list[dict[str, Any]]:
    base: dict[str, Any] = {
        "resourceType": "Observation",
        "status": "final",
        "identifier": [{"system": "urn:ietf:rfc:3986", "value": f"urn:uuid:{r.uuid}"}],
        "subject": {"reference": patient},
        "effectiveDateTime": r.measured_at.isoformat(),
        "issued": r.received_at.isoformat(),
        "performer": [{"reference": patient}, {"reference": org}],
        "device": {"reference": device},
    }
    # the doctor's side's meaning where it classified the reading (docs/clinical.md, "One meaning")
    if r.server_category is not None and r.server_urgent is not None:
        interp = _interpretation(r.server_category, r.server_urgent)
    else:
        interp = _interpretation(r.category, r.urgent)
    if interp:
        base["interpretation"] = interp
    out: list[dict[str, Any]] = []
    if r.kind in ("weight", "spo2", "temperature"):
        return _vital_observations(r, base)
    if r.kind == "blood_pressure":
        bp = {
            **base,
            "category": _category("vital-signs"),
            "code": _code("85354-9", "Blood pressure panel with all children optional"),
            "component": [
                {
                    "code": _code("8480-6", "Systolic blood pressure"),
                    "valueQuantity": _qty(r.systolic_mmhg or 0, "mmHg", "mm[Hg]"),
                },
                {
                    "code": _code("8462-4", "Diastolic blood pressure"),
                    "valueQuantity": _qty(r.diastolic_mmhg or 0, "mmHg", "mm[Hg]"),
                },
            ],
        }
        if r.irregular_pulse:
            bp["note"] = [{"text": "irregular pulse detected by the monitor"}]
        out.append({"fullUrl": f"urn:uuid:{r.uuid}", "resource": bp})
        if r.pulse_bpm is not None:
            pulse = {
                **base,
                "identifier": [{"system": "urn:healthkiosk:reading-pulse", "value": r.uuid}],
                "category": _category("vital-signs"),
                "code": _code("8867-4", "Heart rate"),
                "valueQuantity": _qty(r.pulse_bpm, "beats/minute", "/min"),
                "derivedFrom": [{"reference": f"urn:uuid:{r.uuid}"}],
            }
            pulse.pop("interpretation", None)
            out.append({"fullUrl": _urn("pulse", r.uuid), "resource": pulse})
        return out
    fasting = r.meal_context == "fasting"
    code = (
        _code("14770-2", "Fasting glucose [Moles/volume] in Capillary blood by Glucometer")
        if fasting
        else _code("14743-9", "Glucose [Moles/volume] in Capillary blood by Glucometer")
    )
    if r.out_of_range == "LO":
        value = _qty(rules.glucose.plausible[0], "mmol/L", "mmol/L", "<")
    elif r.out_of_range == "HI":
        value = _qty(rules.glucose.plausible[1], "mmol/L", "mmol/L", ">")
    else:
        value = _qty(r.glucose_mmol_per_l or 0.0, "mmol/L", "mmol/L")
    obs = {**base, "category": _category("laboratory"), "code": code, "valueQuantity": value}
    if r.meal_context and not fasting:
        obs["note"] = [{"text": f"meal context: {r.meal_context}"}]
    out.append({"fullUrl": f"urn:uuid:{r.uuid}", "resource": obs})
    return out


def _derived(r: Reading, base: dict[str, Any], part: str) -> dict[str, Any]:
    """A second Observation of one reading (its own identifier, derived from the first)."""
    obs = {
        **base,
        "identifier": [{"system": f"urn:healthkiosk:reading-{part}", "value": r.uuid}],
        "derivedFrom": [{"reference": f"urn:uuid:{r.uuid}"}],
    }
    obs.pop("interpretation", None)
    return obs


def _vital_observations(r: Reading, base: dict[str, Any]) -> list[dict[str, Any]]:
    """Weight (with BMI and height), SpO2 (with heart rate), body temperature.

    The classification (the BMI's band for a weight) is the interpretation of
    the BMI, the SpO2 and the temperature; the weight, height and heart rate
    carry none."""
    vital = _category("vital-signs")
    out: list[dict[str, Any]] = []
    if r.kind == "weight":
        weight = {**base, "category": vital, "code": _code("29463-7", "Body weight"),
                  "valueQuantity": _qty(r.weight_kg or 0.0, "kg", "kg")}  # fmt: skip
        weight.pop("interpretation", None)
        out.append({"fullUrl": f"urn:uuid:{r.uuid}", "resource": weight})
        bmi = {**_derived(r, base, "bmi"), "category": vital,
               "code": _code("39156-5", "Body mass index (BMI) [Ratio]"),
               "valueQuantity": _qty(r.bmi or 0.0, "kg/m2", "kg/m2")}  # fmt: skip
        if "interpretation" in base:
            bmi["interpretation"] = base["interpretation"]
        out.append({"fullUrl": _urn("bmi", r.uuid), "resource": bmi})
        if r.height_m is not None:
            height = {**_derived(r, base, "height"), "category": vital,
                      "code": _code("8302-2", "Body height"),
                      "valueQuantity": _qty(r.height_m, "m", "m")}  # fmt: skip
            out.append({"fullUrl": _urn("height", r.uuid), "resource": height})
        return out
    if r.kind == "spo2":
        spo2 = {**base, "category": vital,
                "code": _code("59408-5",
                              "Oxygen saturation in Arterial blood by Pulse oximetry"),
                "valueQuantity": _qty(r.spo2_percent or 0, "%", "%")}  # fmt: skip
        out.append({"fullUrl": f"urn:uuid:{r.uuid}", "resource": spo2})
        if r.pulse_bpm is not None:
            pulse = {**_derived(r, base, "pulse"), "category": vital,
                     "code": _code("8867-4", "Heart rate"),
                     "valueQuantity": _qty(r.pulse_bpm, "beats/minute", "/min")}  # fmt: skip
            out.append({"fullUrl": _urn("pulse", r.uuid), "resource": pulse})
        return out
    temp = {**base, "category": vital, "code": _code("8310-5", "Body temperature"),
            "valueQuantity": _qty(r.temperature_c or 0.0, "Cel", "Cel")}  # fmt: skip
    if r.temperature_site:
        temp["bodySite"] = {"text": r.temperature_site.replace("_", " ")}
    out.append({"fullUrl": f"urn:uuid:{r.uuid}", "resource": temp})
    return out
