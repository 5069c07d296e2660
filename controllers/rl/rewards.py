"""Rewards for training, computed from SUMO ground truth on a junction's approach lanes.

Only training reads ground truth (through ``SumoSession.lane_traffic``); policies observe
detectors. Motor-vehicle lanes only (HBS rates junctions by motor-vehicle delay). Every
reward covers one decision interval and is divided by :data:`REWARD_SCALE` (100), so a
reward of -1 means 100 vehicle-seconds (or, for pressure, 100 vehicles):

- ``delay``: minus the time lost on the approach lanes, ``sum vehicles * (1 - v/v_max)``
  per tick. Summed over an episode it is the approach part of SUMO's ``timeLoss`` that the
  evaluation reports, so this reward optimises the headline metric directly.
- ``queue``: minus the halting vehicles (speed < 0.1 m/s) per tick; summed over an episode
  it is the total time spent standing at the junction.
- ``waiting``: minus the growth of the accumulated waiting time of the vehicles on the
  approach lanes during the interval (sumo-rl's "diff-waiting-time"); can be positive when
  long-waiting vehicles leave.
- ``backlog``: minus (approach delay rate + halting vehicles on the approaches + vehicles
  waiting to enter the network) per tick, divided by :data:`BACKLOG_SCALE` (1000) instead
  of 100 (the ``residual`` mode's reward: per-second sums over long episodes). Vehicles
  that cannot enter are counted, so a controller cannot push its queue out of the network.
- ``total``: minus (approach delay rate + vehicles waiting to enter the network) per tick,
  divided by 100: the per-second growth of the reported total delay (``timeLoss`` on the
  approaches plus the insertion backlog); the cost the rollout labels compare
  (:mod:`controllers.rl.rollout_labels`).
- ``pressure``: minus |vehicles on approach lanes - vehicles on the lanes they feed| at the
  end of the interval (max-pressure's quantity; from the intersection's point of view).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from scenarios.observation import JunctionInfo
from scenarios.session import SumoSession
from signals.errors import ConfigError

REWARDS = ("delay", "queue", "waiting", "pressure", "backlog", "total")
REWARD_SCALE = 100.0
BACKLOG_SCALE = 1000.0


def check_reward(name: str) -> str:
    """Validate a reward name."""
    if name not in REWARDS:
        raise ConfigError(f"unknown reward {name!r} (known: {', '.join(REWARDS)})")
    return name


@dataclass
class RewardMeter:
    """Accumulates one junction's reward tick by tick within a decision interval."""

    info: JunctionInfo
    name: str = "delay"
    _lanes: tuple[str, ...] = field(init=False, repr=False)
    _outgoing: tuple[str, ...] = field(init=False, repr=False)
    _acc: float = field(default=0.0, init=False, repr=False)
    _last_waiting: float = field(default=0.0, init=False, repr=False)

    def __post_init__(self) -> None:
        check_reward(self.name)
        self._lanes = tuple(ln.lane for ln in self.info.lanes if not ln.is_bicycle)
        approach = set(self._lanes)
        out = {o for ln in self.info.lanes if not ln.is_bicycle for o in ln.outgoing}
        self._outgoing = tuple(sorted(out - approach))

    @property
    def per_tick(self) -> bool:
        """Whether :meth:`tick` must be called every simulation step."""
        return self.name in ("delay", "queue", "backlog", "total")

    def reset(self) -> None:
        """Start a new episode."""
        self._acc = 0.0
        self._last_waiting = 0.0

    def tick(self, session: SumoSession) -> None:
        """Add one simulation step's delay or queue."""
        if self.name == "delay":
            self._acc += session.delay_rate(self._lanes)
        elif self.name == "backlog":
            self._acc += (session.delay_rate(self._lanes)
                          + sum(session.halting_vehicles(self._lanes))
                          + session.pending_vehicles()) * (REWARD_SCALE / BACKLOG_SCALE)
        elif self.name == "total":
            self._acc += session.delay_rate(self._lanes) + session.pending_vehicles()
        else:
            self._acc += sum(session.halting_vehicles(self._lanes))

    def collect(self, session: SumoSession) -> float:
        """The reward of the interval that just ended (resets the accumulator)."""
        if self.name == "waiting":
            waiting = sum(t[2] for t in session.lane_traffic(self._lanes))
            value = -(waiting - self._last_waiting)
            self._last_waiting = waiting
        elif self.name == "pressure":
            inc = sum(t[0] for t in session.lane_traffic(self._lanes))
            out = sum(t[0] for t in session.lane_traffic(self._outgoing))
            value = -abs(inc - out)
        else:
            value = -self._acc
        self._acc = 0.0
        return value / REWARD_SCALE


@dataclass
class NetworkCostMeter:
    """The ``total`` reward over several junctions' approach lanes at once: per second,
    the approach delay rate on ``lanes`` plus the vehicles waiting to enter the network
    (counted once, not once per junction); divided by :data:`REWARD_SCALE` on collection.
    With one junction's lanes it equals that junction's ``total`` :class:`RewardMeter`."""

    lanes: tuple[str, ...]
    _acc: float = field(default=0.0, init=False, repr=False)

    per_tick = True

    def tick(self, session: SumoSession) -> None:
        """Add one simulation step's cost."""
        self._acc += session.delay_rate(self.lanes) + session.pending_vehicles()

    def collect(self, session: SumoSession) -> float:
        """Minus the cost of the interval that just ended / 100 (resets the sum)."""
        value = -self._acc
        self._acc = 0.0
        return value / REWARD_SCALE
