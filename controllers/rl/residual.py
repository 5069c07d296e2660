"""The ``residual`` action mode: a learned correction on top of actuated control.

An :class:`~controllers.actuated.ActuatedController` runs inside and sees every second.
At a *decision point* (a stage is shown, its minimum green is over, another stage has a
call, and the choice changes the outcome) the policy picks one of :data:`ACTIONS`:

- ``follow`` (0): do what actuated decided (extend, or gap-out / max-out to the next stage);
- ``hold`` (1): keep the shown stage one more second;
- ``end`` (2): end the stage now and go to the next stage with a call.

Hard bounds stay whatever the policy says: ``hold`` is masked once the stage has run for
its green cap (actuated's maximum plus ``hold_extra_s``, never past the sequencer's
maximum), and while another stage with a call has been red for ``max_red_s`` or longer
(max-red recall). The :class:`~signals.Sequencer` still builds every transition. Seconds that
are not decision points are played by actuated alone and never shown to the learner.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from controllers.actuated import ActuatedController
from controllers.base import StageRequest
from controllers.common import GreenLimits
from scenarios.observation import Observation

ACTIONS = ("follow", "hold", "end")
FOLLOW, HOLD, END = 0, 1, 2


@dataclass(frozen=True)
class Decision:
    """What the envelope offers at one second.

    Attributes:
        base: actuated's request.
        point: whether the policy decides this second (else ``base`` is played).
        mask: valid actions (follow, hold, end).
        hold_stage: the stage ``hold`` keeps; ``end_stage``: the stage ``end`` requests.
    """

    base: StageRequest
    point: bool
    mask: tuple[bool, bool, bool]
    hold_stage: int
    end_stage: int

    def request(self, action: int) -> StageRequest:
        """The stage request of an action (a masked action falls back to ``follow``)."""
        a = int(action)
        if not 0 <= a < len(ACTIONS) or not self.mask[a] or a == FOLLOW or not self.point:
            return self.base
        if a == HOLD:
            return StageRequest(self.hold_stage, "policy: hold")
        return StageRequest(self.end_stage, "policy: end")


@dataclass
class ResidualEnvelope:
    """Actuated control plus the bounds within which a policy may correct it.

    Args:
        actuated: the actuated controller (decision interval 1 s); the envelope calls its
            ``decide`` every second.
        hold_extra_s: ``hold`` may keep a stage at most this long past actuated's maximum
            green (and never past ``cap_limits``).
        cap_limits: the sequencer's own green maxima (``GreenLimits``), if known.
    """

    actuated: ActuatedController
    hold_extra_s: float = 10.0
    cap_limits: GreenLimits | None = None

    @property
    def max_red_s(self) -> float:
        """Actuated's max-red recall time (0 = off; the envelope then uses 120 s)."""
        return self.actuated.params.max_red_s or 120.0

    def green_cap(self, stage: int) -> float:
        """The longest green ``hold`` may reach for ``stage`` now."""
        prev = self.actuated.history.previous
        cap = self.actuated.limits.max_for(prev, stage) + self.hold_extra_s
        if self.cap_limits is not None:
            cap = min(cap, self.cap_limits.max_for(prev, stage))
        return cap if math.isfinite(cap) else 120.0

    def offer(self, obs: Observation) -> Decision:
        """Run actuated on this second's observation and say what the policy may choose."""
        base = self.actuated.decide(obs)
        stage = obs.stage
        idle = Decision(base, False, (True, False, False), base.stage, base.stage)
        if stage is None:
            return idle
        act = self.actuated
        if obs.time_in_stage_s < act.limits.min_green[stage]:
            return idle
        calls = act.calls(obs.time_s)
        nxt = act.map.next_in_cycle(stage, calls)
        if nxt is None:
            return idle
        red_limit = any(calls[s] and s != stage and act.history.red_s(s, obs.time_s)
                        >= self.max_red_s for s in range(act.map.n_stages))
        can_hold = not red_limit and obs.time_in_stage_s + 1.0 < self.green_cap(stage)
        mask = (True, can_hold, True)
        outcomes = {base.stage, nxt} | ({stage} if can_hold else set())
        return Decision(base, len(outcomes) > 1, mask, stage, nxt)


def mask_array(decision: Decision | None) -> np.ndarray:
    """The action mask as a boolean array (all follow-only without a decision)."""
    if decision is None:
        return np.array([True, False, False])
    return np.asarray(decision.mask, dtype=bool)
