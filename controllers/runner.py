"""Closed-loop simulation: detectors → controller → sequencer → safety guard → SUMO."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from controllers.base import Controller
from scenarios.layout import StateEncoder
from scenarios.metrics import summarise
from scenarios.observation import Observation
from scenarios.scenario import Junction, Scenario
from scenarios.session import SumoSession
from signals import SafetyGuard, Sequencer

log = logging.getLogger(__name__)

ControllerFactory = Callable[[Junction, Scenario], Controller]


def build_controllers(scenario: Scenario, make_controller: ControllerFactory) -> list[Controller]:
    """One controller per junction of the scenario (validates parameters before a run)."""
    return [make_controller(j, scenario) for j in scenario.junctions]


@dataclass
class SignalledJunction:
    """One junction under control: its controller, sequencer, guard and SUMO encoder."""

    junction: Junction
    controller: Controller
    sequencer: Sequencer
    guard: SafetyGuard
    encoder: StateEncoder
    next_decision_s: float = 0.0
    deferred_requests: int = 0
    stage_changes: int = 0

    @classmethod
    def create(cls, junction: Junction, controller: Controller,
               strict: bool = False) -> SignalledJunction:
        """Wire a controller to a fresh sequencer and guard for this junction."""
        model = junction.layout.model
        return cls(junction=junction, controller=controller, sequencer=Sequencer(model),
                   guard=SafetyGuard(model, strict=strict),
                   encoder=StateEncoder(junction.layout))

    def observe(self, session: SumoSession, time_s: float) -> Observation:
        """Build the controller's observation (detectors only when it needs them)."""
        seq = self.sequencer
        lanes = (session.read_lanes(self.junction.detectors)
                 if self.controller.needs_detectors else ())
        return Observation(junction=self.junction.layout.tls, time_s=time_s,
                           stage=seq.current_stage, target_stage=seq.target_stage,
                           time_in_stage_s=seq.time_in_stage_s,
                           allowed=seq.allowed_stages(), lanes=lanes)

    def control_step(self, session: SumoSession, time_s: float) -> None:
        """Decide if due, advance the sequencer one tick, check it, apply it to SUMO."""
        if time_s + 1e-9 >= self.next_decision_s:
            request = self.controller.decide(self.observe(session, time_s))
            before = self.sequencer.target_stage
            outcome = self.sequencer.request(request.stage)
            if not outcome.accepted and request.stage != before:
                self.deferred_requests += 1
                log.debug("t=%.0f %s: %s", time_s, self.junction.layout.tls, outcome.reason)
            self.next_decision_s = time_s + self.controller.decision_interval_s
        was = self.sequencer.current_stage
        states = self.sequencer.step()
        if self.sequencer.current_stage is not None and self.sequencer.current_stage != was:
            self.stage_changes += 1
        self.guard.check(states)
        session.set_signal_state(self.junction.layout.tls, self.encoder.encode(states))


@dataclass
class RunResult:
    """Metrics of one closed-loop run."""

    metrics: dict[str, float | int]
    safety_violations: int
    deferred_requests: int
    stage_changes: int
    wall_s: float
    violation_messages: list[str] = field(default_factory=list)
    queues: QueueSeries | None = None
    tripinfo: Path | None = None


@dataclass
class QueueSeries:
    """Halting motor vehicles per junction approach, sampled every ``interval_s`` seconds.

    ``counts[junction][approach]`` is a list aligned with ``times_s`` (seconds from the
    scenario's begin); an approach is an incoming edge, its lanes summed.
    """

    interval_s: float
    times_s: list[float] = field(default_factory=list)
    counts: dict[str, dict[str, list[int]]] = field(default_factory=dict)


def approach_lanes(scenario: Scenario) -> dict[str, dict[str, tuple[str, ...]]]:
    """Detected motor-vehicle lanes per junction and approach edge (sorted, deterministic)."""
    out: dict[str, dict[str, tuple[str, ...]]] = {}
    for j in scenario.junctions:
        by_edge: dict[str, list[str]] = {}
        for lane in j.info.lanes:
            if not lane.is_bicycle:
                by_edge.setdefault(scenario.net.lanes[lane.lane].edge, []).append(lane.lane)
        out[j.info.junction] = {e: tuple(sorted(ls)) for e, ls in sorted(by_edge.items())}
    return out


def _sample_queues(session: SumoSession, lanes: dict[str, dict[str, tuple[str, ...]]],
                   series: QueueSeries, time_s: float) -> None:
    series.times_s.append(time_s)
    for junction, edges in lanes.items():
        row = series.counts.setdefault(junction, {})
        for edge, edge_lanes in edges.items():
            row.setdefault(edge, []).append(sum(session.halting_vehicles(edge_lanes)))


def run_closed_loop(
    scenario: Scenario,
    controllers: list[Controller],
    seed: int,
    duration_s: float,
    out_dir: Path,
    demand_scale: float = 1.0,
    gui: bool = False,
    on_step: Callable[[float], None] | None = None,
    queue_sample_s: float | None = None,
) -> RunResult:
    """Run one simulation, one controller per junction; outputs go to ``out_dir``.

    With ``queue_sample_s``, the halting vehicles on every approach are sampled from SUMO
    every that many simulated seconds (``RunResult.queues``).
    """
    if len(controllers) != len(scenario.junctions):
        raise ValueError(f"{len(controllers)} controllers for {len(scenario.junctions)} junctions")
    started = time.perf_counter()
    session = scenario.session(seed, duration_s, out_dir, demand_scale, gui)
    junctions = [SignalledJunction.create(j, c)
                 for j, c in zip(scenario.junctions, controllers, strict=True)]
    queues = QueueSeries(queue_sample_s) if queue_sample_s else None
    lanes = approach_lanes(scenario) if queues is not None else {}
    next_sample_s = queue_sample_s or 0.0
    with session:
        t = session.time_s
        while t < session.end_s - 1e-9:
            for sj in junctions:
                sj.control_step(session, t - session.begin_s)
            session.step()
            t = session.time_s
            if on_step is not None:
                on_step(t - session.begin_s)
            if queues is not None and t - session.begin_s + 1e-9 >= next_sample_s:
                _sample_queues(session, lanes, queues, t - session.begin_s)
                next_sample_s += queues.interval_s
    metrics = summarise(session.files.tripinfo, session.files.statistics)
    extra = [c.run_metrics() for c in controllers if hasattr(c, "run_metrics")]
    for key in sorted({k for e in extra for k in e}):  # e.g. the rl fallback share
        metrics[key] = sum(e.get(key, 0.0) for e in extra) / len(extra)
    violations = [v for sj in junctions for v in sj.guard.violations]
    return RunResult(
        metrics=metrics,
        safety_violations=len(violations),
        deferred_requests=sum(sj.deferred_requests for sj in junctions),
        stage_changes=sum(sj.stage_changes for sj in junctions),
        wall_s=time.perf_counter() - started,
        violation_messages=[v.message for v in violations[:20]],
        queues=queues,
        tripinfo=session.files.tripinfo,
    )
