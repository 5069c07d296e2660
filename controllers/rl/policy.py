"""Deployable policies: ``policy.onnx`` + ``policy.json`` run with onnxruntime only.

No torch and no pickle: the field box loads the ONNX graph and the JSON spec, encodes
detector observations with the same encoder as training, and takes the argmax.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from controllers.base import StageRequest
from controllers.rl.encoding import (
    ACTION_MODES,
    LANE_FEATURES,
    STAGE_FEATURES,
    ObservationEncoder,
    action_to_stage,
    layout_signature,
    observation_shape,
)
from controllers.rl.fallback import FallbackMonitor, FallbackParams
from controllers.rl.features import ENVELOPE_FEATURES, EnvelopeEncoder
from controllers.rl.residual import ResidualEnvelope
from scenarios.observation import JunctionInfo, Observation
from scenarios.sensing import SensingProfile
from signals.errors import PolicyError

if TYPE_CHECKING:
    from controllers.actuated import ActuatedController
    from controllers.common import GreenLimits
    from scenarios.junction import Junction

FORMAT = "ampel-policy/1"
INPUT_NAME = "obs"
OUTPUT_NAME = "scores"
#: the policy shipped with ampel (Westentor, trained by ``ampel train``)
SHIPPED_POLICY = Path(__file__).resolve().parent / "policies" / "westentor" / "policy.onnx"

_LAYOUT_KEYS = ("stages", "groups", "lanes_per_stage")
#: the detector fields each sensing profile adds to the two loops (None under the others)
SENSING_FIELDS = {"loops": (),
                  "advance": ("advance_count", "advance_occupancy"),
                  "camera": ("camera_queue", "camera_approaching", "camera_speed_mps")}

log = logging.getLogger(__name__)


def hidden_fields(policy: OnnxPolicy, run_sensing: str) -> tuple[str, ...]:
    """The detector fields of a run with ``run_sensing`` that the policy must not see.

    A policy sees the inputs of the sensing profile it was trained with (``policy.json``,
    ``observation.sensing``; ``loops`` when absent). A run with more sensors than that
    (``camera`` or ``advance`` for a ``loops`` policy) hides the extra fields from the
    policy (its inner actuated control still uses them); a run that lacks the policy's
    sensors raises a one-line :class:`PolicyError`. Only the ``envelope`` encoding reads
    these fields; the other encodings use the loops alone and accept any profile.
    """
    if policy.encoding != "envelope":
        return ()
    trained = policy.sensing
    if trained == run_sensing:
        return ()
    if trained == "loops" and run_sensing in SENSING_FIELDS:
        log.info("policy %s was trained with loops: the %s inputs are hidden from it",
                 policy.path, run_sensing)
        return SENSING_FIELDS[run_sensing]
    raise PolicyError(f"policy {policy.path} was trained with {trained} sensing and needs its "
                      f"inputs; this run has {run_sensing} sensing (run it with --sensing "
                      f"{trained}, or train a policy with --sensing {run_sensing})")


def hide(obs: Observation, fields: tuple[str, ...]) -> Observation:
    """The observation with ``fields`` of every lane reading set to None (not sensed)."""
    if not fields:
        return obs
    blank: dict[str, Any] = dict.fromkeys(fields)
    return replace(obs, lanes=tuple(replace(r, **blank) for r in obs.lanes))


@dataclass
class OnnxPolicy:
    """An exported policy: its spec and an onnxruntime session."""

    path: Path
    spec: dict
    session: Any

    @classmethod
    def load(cls, path: str | Path) -> OnnxPolicy:
        """Load ``policy.onnx`` (or its folder) and the ``policy.json`` beside it."""
        p = Path(path)
        if p.is_dir():
            p = p / "policy.onnx"
        json_path = p.with_suffix(".json")
        if not p.is_file():
            raise PolicyError(f"policy file {p} not found")
        if not json_path.is_file():
            raise PolicyError(f"policy spec {json_path} not found (expected beside {p.name})")
        try:
            spec = json.loads(json_path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise PolicyError(f"policy spec {json_path} is not valid JSON: {exc}") from None
        if spec.get("format") != FORMAT:
            raise PolicyError(f"policy spec {json_path} has format {spec.get('format')!r}, "
                              f"expected {FORMAT!r}")
        if spec.get("action", {}).get("mode") not in ACTION_MODES:
            raise PolicyError(f"policy spec {json_path}: unknown action mode")
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        try:
            session = ort.InferenceSession(str(p), options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own exception types
            raise PolicyError(f"cannot load ONNX policy {p}: {str(exc).splitlines()[0]}") from None
        return cls(path=p, spec=spec, session=session)

    @property
    def encoding(self) -> str:
        """Observation encoding the policy expects."""
        return self.spec["observation"]["encoding"]

    @property
    def action_mode(self) -> str:
        """``next-stage`` or ``keep-switch``."""
        return self.spec["action"]["mode"]

    @property
    def sensing(self) -> str:
        """Sensing profile the policy was trained with (``loops`` for older policies)."""
        return str(self.spec["observation"].get("sensing") or "loops")

    def scores(self, obs: np.ndarray) -> np.ndarray:
        """Scores for a batch of encoded observations (argmax = action)."""
        x = np.asarray(obs, dtype=np.float32)
        return self.session.run([OUTPUT_NAME], {INPUT_NAME: x})[0]

    def act_masked(self, obs: np.ndarray, mask: tuple[bool, ...]) -> int:
        """Deterministic action among the valid ones."""
        scores = np.where(np.asarray(mask, dtype=bool), self.scores(obs[None])[0], -np.inf)
        return int(np.argmax(scores))

    def act(self, obs: np.ndarray) -> int:
        """Deterministic action for one encoded observation."""
        return int(np.argmax(self.scores(obs[None])[0]))

    def check_layout(self, info: JunctionInfo, allow_other_layout: bool = False) -> None:
        """Raise a one-line ValueError unless the policy fits this junction."""
        features = {"stage": STAGE_FEATURES, "lane": LANE_FEATURES,
                    "envelope": ENVELOPE_FEATURES}.get(self.encoding, ())
        if list(self.spec["observation"]["features"]) != list(features):
            raise PolicyError(f"policy {self.path} uses observation features this ampel "
                              "version does not produce; re-export it")
        mine = layout_signature(info)
        trained = self.spec.get("junctions", [])
        if any(all(t.get(k) == mine[k] for k in _LAYOUT_KEYS) for t in trained):
            return
        if allow_other_layout and self.spec.get("shared"):
            return
        names = "; ".join(f"{t.get('junction')} (stages {', '.join(t.get('stages', []))})"
                          for t in trained) or "unknown"
        hint = (" (this shared policy can serve it with allow_other_layout=true)"
                if self.spec.get("shared") else "")
        raise PolicyError(f"policy {self.path} was trained for junction layout {names}; "
                          f"junction {info.junction} has stages {', '.join(info.stage_names)} "
                          f"and {mine['lanes']} detected lanes{hint}")


class RLController:
    """The ``rl`` controller: an ONNX policy choosing stages from detector observations."""

    name = "rl"
    needs_detectors = True

    def __init__(self, policy: OnnxPolicy, info: JunctionInfo,
                 allow_other_layout: bool = False) -> None:
        policy.check_layout(info, allow_other_layout)
        shape = observation_shape(info, policy.encoding)
        expected = policy.spec["observation"]["shape"]
        if not policy.spec.get("shared") and list(shape) != list(expected):
            raise PolicyError(f"policy {policy.path} expects observations of shape {expected}, "
                              f"junction {info.junction} gives {list(shape)}")
        self.policy = policy
        self.encoder = ObservationEncoder(info, policy.encoding)
        self.decision_interval_s = float(policy.spec["decision_interval_s"])

    def decide(self, obs: Observation) -> StageRequest:
        """Encode the detector observation and request the policy's stage."""
        action = self.policy.act(self.encoder.encode(obs))
        return StageRequest(action_to_stage(self.policy.action_mode, action, obs), "policy")


class ResidualRLController:
    """The ``rl`` controller for ``residual`` policies: actuated control inside its
    envelope, corrected by the policy at decision points, handed back to actuated
    while the inputs are implausible (:class:`FallbackMonitor`).

    ``run_metrics()`` reports the fallback share (seconds under fallback / seconds run)
    and how often the policy deviated from actuated at its decision points.
    """

    name = "rl"
    needs_detectors = True
    decision_interval_s = 1.0

    def __init__(self, policy: OnnxPolicy, info: JunctionInfo, actuated: ActuatedController,
                 cap_limits: Any = None, fallback: FallbackParams | None = None,
                 allow_other_layout: bool = False, sensing: str | None = None) -> None:
        policy.check_layout(info, allow_other_layout)
        #: detector fields hidden from the policy (sensors it was not trained with)
        self.hidden = hidden_fields(policy, sensing or policy.sensing)
        if policy.spec["decision_interval_s"] != 1:
            raise PolicyError(f"policy {policy.path}: residual policies decide every second")
        self.policy = policy
        hold_extra = float(policy.spec.get("envelope", {}).get("hold_extra_s", 10.0))
        self.envelope = ResidualEnvelope(actuated, hold_extra, cap_limits)
        self.features = EnvelopeEncoder(info, self.envelope.max_red_s)
        self.monitor = FallbackMonitor(info, fallback or FallbackParams())
        self.decisions = 0
        self.deviations = 0
        self.last_reason = ""

    def decide(self, obs: Observation) -> StageRequest:
        """Actuated's request, or the policy's correction at a decision point."""
        decision = self.envelope.offer(obs)
        seen = hide(obs, self.hidden)
        x = self.features.encode(seen, self.envelope.actuated)
        if self.monitor.check(seen, self.features, self.envelope.actuated):
            self.last_reason = f"fallback: {self.monitor.reason}"
            return StageRequest(decision.base.stage, self.last_reason)
        if not decision.point:
            self.last_reason = decision.base.reason
            return decision.base
        action = self.policy.act_masked(x, decision.mask)
        self.decisions += 1
        request = decision.request(action)
        self.deviations += request.stage != decision.base.stage
        self.last_reason = request.reason
        return request

    def run_metrics(self) -> dict[str, float]:
        """Fallback share and deviation share of the run so far (for the summary)."""
        return {"rl_fallback_share": round(self.monitor.share, 4),
                "rl_deviation_share": round(self.deviations / max(self.decisions, 1), 4)}


def residual_controller(policy: OnnxPolicy, junction: Junction, actuated: ActuatedController,
                        limits: GreenLimits, params: dict,
                        allow_other_layout: bool = False,
                        sensing: SensingProfile | None = None) -> ResidualRLController:
    """Build the residual ``rl`` controller for a junction around ``actuated`` (with the
    sequencer's green ``limits``) for a run with the sensing profile ``sensing`` (see
    :func:`hidden_fields`); ``fallback: false`` disables the fallback, ``fallback_hold_s``
    sets how long it holds.

    When the policy sees a camera, its queue between the loops is the camera's count of
    halting vehicles in view, so the fallback's plausibility bound on it is what the view
    holds (:func:`camera_queue_bound`) instead of the 12 the 35 m between the loops support.
    """
    on = str(params.get("fallback", "true")).lower() in ("1", "true", "yes")
    try:
        hold = float(params.get("fallback_hold_s", 120.0))
    except (TypeError, ValueError):
        raise PolicyError(f"rl parameter 'fallback_hold_s': not a number: "
                          f"{params.get('fallback_hold_s')!r}") from None
    fallback = FallbackParams(enabled=on, hold_s=hold)
    if sensing is not None and sensing.camera and policy.sensing == "camera":
        fallback = replace(fallback, queue_between_veh=max(
            fallback.queue_between_veh, camera_queue_bound(sensing.camera_range_m)))
    return ResidualRLController(policy, junction.info, actuated, limits, fallback,
                                allow_other_layout, sensing.name if sensing else None)


#: the shortest space a standing vehicle takes in a queue (a car 5 m + 2.5 m gap is 7.5 m;
#: small cars and motorcycles less)
MIN_QUEUE_SPACING_M = 5.0


def camera_queue_bound(camera_range_m: float) -> float:
    """The most halting vehicles a lane's camera view of ``camera_range_m`` can hold."""
    return camera_range_m / MIN_QUEUE_SPACING_M
