"""Which rule set classified a reading: its name and its digest.

The digest is the SHA-256 of the canonical JSON of the validated rules (every
key with its value, defaults included, keys sorted, no spaces; ``name`` left
out), so two rule sets with the same digest classify every reading the same
way, however their files were written. Readings carry it (``hk.reading/1``
``classification.rules``); the doctor's side keeps the rule sets it holds
(:func:`held_rule_sets`) and refuses to give a station any other.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from healthkiosk.rules.config import RulesConfig, load_rules


@dataclass(frozen=True, slots=True)
class RuleSetId:
    name: str
    digest: str

    @property
    def short(self) -> str:
        """The first 12 hex digits, for people."""
        return self.digest[:12]

    def as_dict(self) -> dict[str, str]:
        return {"name": self.name, "digest": self.digest}


def canonical_json(rules: RulesConfig) -> str:
    data = rules.model_dump(mode="json", exclude={"name"})
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def rules_digest(rules: RulesConfig) -> str:
    """SHA-256 (hex) of :func:`canonical_json`."""
    return hashlib.sha256(canonical_json(rules).encode("utf-8")).hexdigest()


def rules_name(rules: RulesConfig) -> str:
    return rules.name or rules.blood_pressure.profile


def rule_set_id(rules: RulesConfig) -> RuleSetId:
    return RuleSetId(rules_name(rules), rules_digest(rules))


def held_rule_sets(
    own: Mapping[str, Any] | None, named: Mapping[str, Mapping[str, Any]] | None = None
) -> dict[str, RuleSetId]:
    """The rule sets the doctor's side holds, by digest: its own ``[rules]`` and
    each ``[followup.rule_sets.<name>]`` (a whole ``[rules]`` table; ``<name>``
    is its name unless it sets one). Every one is checked (:func:`load_rules`:
    a problem raises, naming ``followup.rule_sets.<name>...``)."""
    held: dict[str, RuleSetId] = {}
    mine = rule_set_id(load_rules(own))
    held[mine.digest] = mine
    for label, table in (named or {}).items():
        rules = load_rules(table, prefix=f"followup.rule_sets.{label}")
        rid = RuleSetId(rules.name or label, rules_digest(rules))
        held.setdefault(rid.digest, rid)
    return held
