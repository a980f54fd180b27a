"""Staged rollouts of a signed release: the decisions, without the transport.

A rollout offers one release to the fleet group by group (by default 5 %,
25 %, 70 % of the stations), moving on only when a stage's success rate
reaches ``success_threshold``, and stopping the whole rollout as soon as a
stage's failures pass ``error_threshold`` — without waiting for the rest of
the stage. An administrator can pause, resume or abort it.

Everything here is pure: :func:`plan` makes a :class:`Rollout`, and
:func:`record`, :func:`pause`, :func:`resume`, :func:`abort` return a new one.
:func:`targets` says which stations should be offered the release now. The
MQTT link (publishing update commands, collecting each station's
``installed`` / ``rolled_back`` / ``refused`` result) and the fleet page drive
it; :mod:`followup.rollout.store` persists it.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum


class RolloutState(StrEnum):
    RUNNING = "running"
    PAUSED = "paused"
    COMPLETED = "completed"
    STOPPED = "stopped"
    """Stopped by the thresholds; ``reason`` says which."""
    ABORTED = "aborted"


SUCCESS = "installed"
"""The one station outcome that counts as success (the updater's Result.outcome)."""


@dataclass(frozen=True, slots=True)
class Policy:
    stages: tuple[float, ...] = (0.05, 0.25, 0.70)
    """Fractions of the fleet per stage, in order; they must add up to 1."""
    success_threshold: float = 0.95
    """A finished stage needs at least this share of successes to move on."""
    error_threshold: float = 0.10
    """More than this share of a stage failing stops the rollout at once."""

    def __post_init__(self) -> None:
        if not self.stages or any(f <= 0 for f in self.stages):
            raise ValueError("stages must be positive fractions")
        if not math.isclose(sum(self.stages), 1.0, abs_tol=1e-9):
            raise ValueError(f"stages must add up to 1, not {sum(self.stages)}")
        if not 0 < self.success_threshold <= 1 or not 0 <= self.error_threshold < 1:
            raise ValueError("thresholds must be fractions")


@dataclass(frozen=True, slots=True)
class Rollout:
    release: int
    version: str
    policy: Policy
    stages: tuple[tuple[str, ...], ...]
    current: int = 0
    state: RolloutState = RolloutState.RUNNING
    results: Mapping[str, str] = field(default_factory=dict)
    reason: str = ""

    def stage_counts(self, index: int) -> tuple[int, int, int]:
        """(successes, failures, still waiting) of stage ``index``."""
        ok = failed = 0
        for station in self.stages[index]:
            outcome = self.results.get(station)
            if outcome == SUCCESS:
                ok += 1
            elif outcome is not None:
                failed += 1
        return ok, failed, len(self.stages[index]) - ok - failed


def _spread_key(release: int, station: str) -> str:
    # A different, stable order per release: no station is always the guinea pig.
    return hashlib.sha256(f"{release}:{station}".encode()).hexdigest()


def plan(
    *,
    release: int,
    version: str,
    stations: Iterable[str],
    policy: Policy | None = None,
    canaries: Iterable[str] = (),
) -> Rollout:
    """Split the stations into stages; ``canaries`` (if any) go first."""
    policy = policy or Policy()
    all_stations = sorted(set(stations))
    if not all_stations:
        raise ValueError("a rollout needs at least one station")
    canary = [s for s in dict.fromkeys(canaries) if s in all_stations]
    rest = sorted(
        (s for s in all_stations if s not in canary), key=lambda s: _spread_key(release, s)
    )
    ordered = canary + rest
    n = len(ordered)
    bounds: list[int] = []
    cumulative = 0.0
    for i, fraction in enumerate(policy.stages):
        cumulative += fraction
        end = n if i == len(policy.stages) - 1 else max(1, math.ceil(round(n * cumulative, 9)))
        bounds.append(max(end, bounds[-1] if bounds else 0))
    stages: list[tuple[str, ...]] = []
    start = 0
    for end in bounds:
        if end > start:
            stages.append(tuple(ordered[start:end]))
        start = max(start, end)
    return Rollout(release=release, version=version, policy=policy, stages=tuple(stages))


def targets(rollout: Rollout) -> tuple[str, ...]:
    """Stations to offer the release to now: the running stage's, without a result yet."""
    if rollout.state is not RolloutState.RUNNING:
        return ()
    return tuple(s for s in rollout.stages[rollout.current] if s not in rollout.results)


def record(rollout: Rollout, station: str, outcome: str) -> Rollout:
    """A station's result; the rollout moves on, stops or waits accordingly.

    Results of stations outside the stages reached so far are ignored (a station
    must not update before its stage), and a station's first result stands.
    """
    reached = {s for stage in rollout.stages[: rollout.current + 1] for s in stage}
    if station not in reached or station in rollout.results:
        return rollout
    updated = replace(rollout, results={**rollout.results, station: outcome})
    if updated.state is RolloutState.RUNNING:
        return _evaluate(updated)
    return updated


def _evaluate(r: Rollout) -> Rollout:
    index = r.current
    ok, failed, waiting = r.stage_counts(index)
    size = len(r.stages[index])
    if failed / size > r.policy.error_threshold:
        return replace(
            r,
            state=RolloutState.STOPPED,
            reason=f"stage {index + 1}: {failed} of {size} stations failed "
            f"({failed / size:.0%} > error threshold {r.policy.error_threshold:.0%})",
        )
    if waiting:
        return r
    if ok / size < r.policy.success_threshold:
        return replace(
            r,
            state=RolloutState.STOPPED,
            reason=f"stage {index + 1}: {ok} of {size} succeeded "
            f"({ok / size:.0%} < success threshold {r.policy.success_threshold:.0%})",
        )
    if index + 1 == len(r.stages):
        return replace(r, state=RolloutState.COMPLETED, reason="every stage passed")
    return _evaluate(replace(r, current=index + 1))


def pause(rollout: Rollout, reason: str = "paused by an administrator") -> Rollout:
    if rollout.state is not RolloutState.RUNNING:
        return rollout
    return replace(rollout, state=RolloutState.PAUSED, reason=reason)


def resume(rollout: Rollout) -> Rollout:
    if rollout.state is not RolloutState.PAUSED:
        return rollout
    return _evaluate(replace(rollout, state=RolloutState.RUNNING, reason=""))


def abort(rollout: Rollout, reason: str = "aborted by an administrator") -> Rollout:
    if rollout.state in (RolloutState.COMPLETED, RolloutState.ABORTED):
        return rollout
    return replace(rollout, state=RolloutState.ABORTED, reason=reason)
