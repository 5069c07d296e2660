"""Closed-loop simulation: detectors → controller → sequencer → safety guard → SUMO."""

from __future__ import annotations

import dataclasses
import logging
import math
import operator
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from controllers.base import Controller, JunctionState, StageRequest
from controllers.sumo_native import VIOLATION_SOURCE, StateDecoder, is_reference, write_programs
from scenarios.layout import StateEncoder
from scenarios.metrics import summarise
from scenarios.observation import LaneReading, Observation
from scenarios.scenario import Junction, Scenario
from scenarios.session import SumoSession
from scenarios.vclass import TypeClasses, session_type_classes
from signals import Colour, SafetyGuard, Sequencer

if TYPE_CHECKING:
    from controllers.actuated_batch import ActuatedBatch
    from controllers.max_pressure_batch import MaxPressureBatch
    from controllers.sotl_batch import SotlBatch
    from scenarios.detectors import LaneDetectors

    Batch = ActuatedBatch | SotlBatch | MaxPressureBatch

log = logging.getLogger(__name__)

ControllerFactory = Callable[[Junction, Scenario], Controller]


def build_controllers(scenario: Scenario, make_controller: ControllerFactory) -> list[Controller]:
    """One controller per junction of the scenario (validates parameters before a run)."""
    return [make_controller(j, scenario) for j in scenario.junctions]


def intergreens_of(controller: Controller) -> str:
    """The intergreen mode a controller was built for (``rilsa`` unless set)."""
    return str(getattr(controller, "intergreens", "rilsa"))


#: Why a junction rests (skips the decision, the sequencer's tick and the guard's check of
#: unchanged states in a step; see :meth:`SignalledJunction.control_step`): each junction
#: has one reason, fixed when it is created.
#: ``REST_PLAN``: its controller's plan reads only the time and holds the stage shown until
#: a known time (``held_until``, e.g. fixed time); the runner may even skip calling it
#: (:meth:`SignalledJunction.sleep`).
REST_PLAN = "plan"
#: ``REST_REPEAT``: it decides in a batch, and the step's decision repeats the stage shown
#: (or no decision is due) while the sequencer can change nothing.
REST_REPEAT = "repeat"


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
    #: for a traffic light SUMO runs itself (a reference controller): its states → groups
    decoder: StateDecoder | None = None
    _stage_of: dict[frozenset[int], int] = field(default_factory=dict, repr=False)
    _shown: int | None = None
    #: the states :meth:`watch_step` saw last (their stage is known already)
    _watched: tuple[Colour, ...] | None = field(default=None, repr=False)
    #: the sequencer's last states and their SUMO string (it returns the same tuple object
    #: while nothing changes, so an unchanged tick is not encoded again)
    _encoded: tuple[tuple[Colour, ...] | None, str] = field(default=(None, ""), repr=False)
    #: SUMO strings of the states shown so far, keyed by the ids of their colours (the
    #: members of ``Colour`` are singletons; a tuple of ints hashes without calling the
    #: enum's Python ``__hash__``): a junction cycles through a few states
    _strings: dict[tuple[int, ...], str] = field(default_factory=dict, repr=False)
    #: the controller's ``held_until`` (a plan that reads only the time, e.g. fixed time)
    _held_until: Callable[[float], float] | None = field(default=None, repr=False)
    #: why it rests: :data:`REST_PLAN` with ``held_until``, else :data:`REST_REPEAT`
    _rest_reason: str = field(default=REST_REPEAT, repr=False)
    #: resting (see :meth:`control_step`): steps left, before which time (plan), which
    #: stage shown (repeat), steps rested
    _rest: int | float = field(default=0, repr=False)
    _rest_until_s: float = field(default=0.0, repr=False)
    _rest_stage: int = field(default=-1, repr=False)
    _rested: int = field(default=0, repr=False)
    #: whether a junction deciding in a batch rests while its request repeats the stage
    #: shown (see :meth:`control_step`; off only to compare with ticking in tests)
    rest_on_repeat: bool = field(default=True, repr=False)
    #: steps a resting junction still skips without being called, and the steps it was
    #: sent to skip (see :meth:`sleep`)
    _skip: int = field(default=0, repr=False)
    _slept: int = field(default=0, repr=False)
    _slept_from_s: float = field(default=0.0, repr=False)
    _slept_step_s: float = field(default=1.0, repr=False)

    @classmethod
    def create(cls, junction: Junction, controller: Controller,
               strict: bool = False) -> SignalledJunction:
        """Wire a controller to a fresh sequencer and guard for this junction.

        The junction's signal model is the one of the controller's intergreen mode
        (``controller.intergreens``, default ``rilsa``): the one place it is chosen.
        """
        junction = junction.with_intergreens(intergreens_of(controller))
        model = junction.layout.model
        decoder = None
        if is_reference(controller):
            decoder = StateDecoder(junction.layout.link_group, len(model.groups))
        stage_of = {frozenset(model.index_of(g) for g in st.green): k
                    for k, st in enumerate(model.stages)}
        held = getattr(controller, "held_until", None)
        held = held if callable(held) else None
        return cls(junction=junction, controller=controller, sequencer=Sequencer(model),
                   guard=SafetyGuard(model, strict=strict, log_violations=decoder is None),
                   encoder=StateEncoder(junction.layout), decoder=decoder, _stage_of=stage_of,
                   _held_until=held, _rest_reason=REST_REPEAT if held is None else REST_PLAN)

    def watch_step(self, session: SumoSession) -> None:
        """A traffic light SUMO runs: map its state to groups, let the guard check it."""
        if self.decoder is None:
            return
        states = self.decoder.decode(session.signal_state(self.junction.layout.tls))
        if states is not self._watched:  # the decoder returns the same tuple while unchanged
            self._watched = states
            green = frozenset(i for i, c in enumerate(states) if c is Colour.GREEN)
            stage = self._stage_of.get(green)
            if stage is not None and stage != self._shown:
                self.stage_changes += self._shown is not None
                self._shown = stage
        self.guard.check(states)

    def observe(self, session: SumoSession, time_s: float,
                lanes: tuple[LaneReading, ...] | None = None) -> Observation:
        """Build the controller's observation (detectors only when it needs them;
        ``lanes``: its readings, read already with other junctions')."""
        seq = self.sequencer
        if lanes is None:
            lanes = (session.read_lanes(self.junction.detectors)
                     if self.controller.needs_detectors else ())
        return observation(self.junction.layout.tls, time_s, seq.current_stage,
                           seq.target_stage, seq.time_in_stage_s, seq.allowed_stages(), lanes)

    def control_step(self, session: SumoSession, time_s: float,
                     lanes: tuple[LaneReading, ...] | None = None,
                     decided: StageRequest | None = None) -> None:
        """Decide if due, advance the sequencer one tick, check it, apply it to SUMO.

        A traffic light SUMO runs itself is only watched (:meth:`watch_step`). ``lanes``:
        the readings of a decision that is due, read with other junctions'
        (:func:`read_due`); ``decided``: the controller's decision when due, made with
        other junctions' (:func:`decide_batch`).

        A junction *rests* in a step that would change nothing: it skips the decision, the
        sequencer's tick and the guard's check of unchanged states, and the sequencer and
        guard are brought level (:meth:`catch_up`) at the next step that does the work,
        with the same outcome. The rest count (``_rest``) is what
        :meth:`Sequencer.rest_ticks` allowed at the last step that did the work: the ticks
        in which the sequencer can change nothing while no other stage is asked for.
        Whether a step rests depends on the junction's rest reason (``_rest_reason``):

        - :data:`REST_PLAN`: the controller's ``held_until(time_s)`` (its decisions read
          only the time and repeat the same request before that time, e.g. fixed time):
          before that time, while the sequencer shows the requested stage;
        - :data:`REST_REPEAT`: a junction deciding in a batch (``decided`` given when
          due): when the step's decision requests the stage shown, or no decision is due
          (no request at all). :meth:`decision_state` gives the batch the sequencer's
          state as ticking would have left it.
        """
        if self._slept:
            self.wake()
        if self._rest and (time_s < self._rest_until_s if self._rest_reason is REST_PLAN
                           else decided.stage == self._rest_stage if decided is not None
                           else time_s + 1e-9 < self.next_decision_s):
            self._rest -= 1
            self._rested += 1
            if time_s + 1e-9 >= self.next_decision_s:
                self.next_decision_s = time_s + self.controller.decision_interval_s
            return
        if self.decoder is not None:
            self.watch_step(session)
            return
        seq = self.sequencer
        if self._rested:
            self.catch_up()
        if time_s + 1e-9 >= self.next_decision_s:
            request = (decided if decided is not None
                       else self.controller.decide(self.observe(session, time_s, lanes)))
            before = seq.target_stage
            outcome = seq.request(request.stage)
            if not outcome.accepted and request.stage != before:
                self.deferred_requests += 1
                log.debug("t=%.0f %s: %s", time_s, self.junction.layout.tls, outcome.reason)
            self.next_decision_s = time_s + self.controller.decision_interval_s
            if self._held_until is not None:
                self._rest_until_s = self._held_until(time_s)
                self._rest_stage = request.stage
        was = seq.current_stage
        states = seq.step()
        now = seq.current_stage
        if now is not None and now != was:
            self.stage_changes += 1
        self.guard.check(states)
        if states is not self._encoded[0]:  # else SUMO shows them already
            key = tuple(map(id, states))
            text = self._strings.get(key)
            if text is None:
                text = self._strings[key] = self.encoder.encode(states)
            self._encoded = (states, text)
            session.set_signal_state(self.junction.layout.tls, text)
        if self._held_until is not None:  # rest while the plan holds the stage shown
            self._rest = (seq.rest_ticks() if self._rest_until_s > time_s
                          and now == self._rest_stage else 0)
        elif self.rest_on_repeat and (decided is not None or self._rest):
            # rest while the batch's requests repeat the stage shown (none in a
            # transition); recounted at every step that does the work, also one without
            # a decision (a controller deciding every 2 s), or a stale count would rest
            # past a maximum green
            self._rest = seq.rest_ticks()
            self._rest_stage = -1 if now is None else now

    def sleep(self, time_s: float, step_s: float) -> int:
        """After :meth:`control_step` at ``time_s``: the number of following steps in
        which this junction certainly rests under its plan (``held_until``; see
        :meth:`control_step`), which the runner may then skip without calling it; 0 when
        it must be called every step.

        A skipped step is a rest step: ``time_s`` before the plan's hold ends (with half a
        step to spare, so that the times of the steps need not be known exactly), a rest
        count left, and a decision due every step (an interval of at most one step). The
        next call (or :meth:`wake`) counts the steps skipped as rested, as ticking them
        one by one would have."""
        if (self._held_until is None or not self._rest or self.decoder is not None
                or self.controller.decision_interval_s > step_s):
            return 0
        ahead = (self._rest_until_s - time_s) / step_s - 0.5
        steps = int(min(self._rest, ahead if math.isfinite(ahead) else 1e9)) if ahead >= 1 else 0
        self._skip = self._slept = steps
        self._slept_from_s, self._slept_step_s = time_s, step_s
        return steps

    def wake(self) -> None:
        """Count the steps skipped since :meth:`sleep` as rested (as many rest steps of
        :meth:`control_step` would: the rest count, the steps rested, the decision due
        after the last of them)."""
        skipped = self._slept - self._skip
        if skipped:
            self._rest -= skipped
            self._rested += skipped
            last = self._slept_from_s + skipped * self._slept_step_s
            self.next_decision_s = last + self.controller.decision_interval_s
        self._skip = self._slept = 0

    def decision_state(self) -> JunctionState:
        """The sequencer's stage, target and time in stage for a batch decision, as
        ticking every step would have left them (a junction resting in a batch is in a
        stage with nothing waiting: only its time in stage runs on)."""
        return _tuple_new(JunctionState, self.sequencer.decision_state(self._rested))

    def catch_up(self) -> None:
        """Advance the sequencer and guard over the steps rested (see :meth:`control_step`)."""
        if self._rested:
            self.guard.hold(self._rested)
            self.sequencer.rest(self._rested)
            self._rested = 0


#: with this many junctions reading detectors, the due ones are read in one pass
BATCH_MIN_JUNCTIONS = 2


def read_due(session: SumoSession, sensing: list[SignalledJunction], time_s: float
             ) -> dict[int, tuple[LaneReading, ...]]:
    """The readings of every junction whose decision is due at ``time_s``, read in one
    pass (:meth:`SumoSession.read_lanes_many`), by ``id`` of the junction."""
    due = [sj for sj in sensing if time_s + 1e-9 >= sj.next_decision_s]
    if not due:
        return {}
    readings = session.read_lanes_many([sj.junction.detectors for sj in due])
    return dict(zip(map(id, due), readings, strict=True))


def batch_for(session: SumoSession, sensing: list[SignalledJunction]) -> Batch | None:
    """One batch deciding for all these junctions, when one covers their controllers and
    detectors (else None: each decides for itself). The batches
    (:mod:`controllers.batch`) read no bus counts and no stop-line occupancies, and the
    upstream loops' occupancies only if they say so (``reads_upstream_occupancy``)."""
    controllers = [sj.controller for sj in sensing]
    if (len(sensing) < BATCH_MIN_JUNCTIONS
            or not session.can_read_arrays([sj.junction.detectors for sj in sensing])):
        return None
    from controllers.actuated_batch import ActuatedBatch  # only for runs that use them
    from controllers.max_pressure_batch import MaxPressureBatch
    from controllers.sotl_batch import SotlBatch

    kinds: tuple[type[Batch], ...] = (ActuatedBatch, SotlBatch, MaxPressureBatch)
    for kind in kinds:
        if kind.supports(controllers, session.step_length_s):
            return kind(controllers)  # type: ignore[arg-type]  # checked by supports
    return None


def decide_batch(session: SumoSession, sensing: list[SignalledJunction], batch: Batch,
                 time_s: float, groups: list[tuple[LaneDetectors, ...]] | None = None
                 ) -> list[StageRequest] | None:
    """Every sensing junction's decision at ``time_s`` when they are due (all at once:
    one batch decides at one interval), in ``sensing`` order; else None. ``groups``: the
    junctions' detectors (looked up when not given)."""
    due = time_s + 1e-9
    times = list(map(_next_decision, sensing))
    if due < max(times):  # not all due: none may be
        if due >= min(times):
            raise RuntimeError(f"t={time_s:g}: the junctions of one batch are not due "
                               "together")
        return None
    # SignalledJunction.decision_state of each, inlined (one call less per junction)
    new, state_type = _tuple_new, JunctionState
    states = [new(state_type, sj.sequencer.decision_state(sj._rested)) for sj in sensing]
    # upstream occupancies only for a batch that reads them (max-pressure's spill-back)
    lanes = session.read_lane_arrays(
        groups if groups is not None else [sj.junction.detectors for sj in sensing],
        occupancy=False, buses=False,
        upstream_occupancy=getattr(batch, "reads_upstream_occupancy", False))
    return batch.decide(time_s, states, lanes)


_next_decision = operator.attrgetter("next_decision_s")
_new_object = object.__new__
#: builds a NamedTuple from a tuple of its fields without its Python ``__new__``
_tuple_new = tuple.__new__
_set_attribute = object.__setattr__


def observation(junction: str, time_s: float, stage: int | None, target_stage: int | None,
                time_in_stage_s: float, allowed: tuple[bool, ...],
                lanes: tuple[LaneReading, ...]) -> Observation:
    """``Observation(...)`` built without the frozen dataclass's ``__init__`` (an equal
    object at a third of the cost: every junction builds one per decision; checked
    against the constructor in ``tests/controllers/test_runner_fast.py``)."""
    obs = _new_object(Observation)
    _set_attribute(obs, "__dict__", {
        "junction": junction, "time_s": time_s, "stage": stage, "target_stage": target_stage,
        "time_in_stage_s": time_in_stage_s, "allowed": allowed, "lanes": lanes})
    return obs


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
    #: vType id -> vehicle class of the run's files (the one vehicle classification)
    vehicle_types: TypeClasses | None = None
    #: intergreen mode of the run's signal models (``rilsa`` or ``program``)
    intergreens: str = "rilsa"
    #: whether SUMO ran the lights itself (a reference controller): violations are SUMO's
    reference: bool = False
    #: one line per traffic light whose transitions are longer than its SUMO program's
    notes: list[str] = field(default_factory=list)

    def record(self) -> dict[str, Any]:
        """The run's fields every summary and run file carries besides the metrics."""
        out: dict[str, Any] = {"intergreens": self.intergreens}
        if self.reference:
            out["safety_violations_source"] = VIOLATION_SOURCE
        if self.notes:
            out["notes"] = list(self.notes)
        return out


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
    skip_resting: bool = True,
) -> RunResult:
    """Run one simulation, one controller per junction; outputs go to ``out_dir``.

    With ``queue_sample_s``, the halting vehicles on every approach are sampled from SUMO
    every that many simulated seconds (``RunResult.queues``). ``skip_resting``: junctions
    resting under a plan (fixed time) are not called in the steps they rest
    (:meth:`SignalledJunction.sleep`; off only to compare with calling them in tests).
    """
    if len(controllers) != len(scenario.junctions):
        raise ValueError(f"{len(controllers)} controllers for {len(scenario.junctions)} junctions")
    started = time.perf_counter()
    session = scenario.session(seed, duration_s, out_dir, demand_scale, gui)
    programs = write_programs(controllers, out_dir / "sumo-programs.add.xml")
    if programs is not None:  # loaded last: SUMO starts with the switched programs
        session = dataclasses.replace(session, files=dataclasses.replace(
            session.files, additional=(*session.files.additional, programs)))
    types = session_type_classes(session)  # an unknown vClass fails before SUMO starts
    junctions = [SignalledJunction.create(j, c)
                 for j, c in zip(scenario.junctions, controllers, strict=True)]
    notes = transition_notes(junctions)
    for line in notes:
        log.info("%s", line)
    queues = QueueSeries(queue_sample_s) if queue_sample_s else None
    lanes = approach_lanes(scenario) if queues is not None else {}
    next_sample_s = queue_sample_s or 0.0
    sensing = [sj for sj in junctions if sj.decoder is None and sj.controller.needs_detectors]
    batched = len(sensing) >= BATCH_MIN_JUNCTIONS
    with session:
        batch = batch_for(session, sensing)
        groups = [sj.junction.detectors for sj in sensing]
        others = len(sensing) != len(junctions)  # junctions outside the batch, if any
        # junctions resting under a plan skip whole steps (SignalledJunction.sleep)
        sleepers = skip_resting and any(sj._held_until is not None for sj in junctions)
        step_s = session.step_length_s
        t = session.time_s
        while t < session.end_s - 1e-9:
            now = t - session.begin_s
            if batch is not None:
                decided = decide_batch(session, sensing, batch, now, groups)
                if decided is None:
                    for sj in junctions:
                        sj.control_step(session, now)
                elif others:
                    by_id = dict(zip(map(id, sensing), decided, strict=True))
                    for sj in junctions:
                        sj.control_step(session, now, decided=by_id.get(id(sj)))
                else:  # every junction decides in the batch
                    for sj, request in zip(junctions, decided, strict=True):
                        sj.control_step(session, now, decided=request)
            elif batched:
                read = read_due(session, sensing, now)
                for sj in junctions:
                    sj.control_step(session, now, read.get(id(sj)))
            elif sleepers:
                for sj in junctions:
                    if sj._skip:  # resting under its plan: counted when it wakes
                        sj._skip -= 1
                        continue
                    sj.control_step(session, now)
                    sj.sleep(now, step_s)
            else:
                for sj in junctions:
                    sj.control_step(session, now)
            session.step()
            t = session.time_s
            if on_step is not None:
                on_step(t - session.begin_s)
            if queues is not None and t - session.begin_s + 1e-9 >= next_sample_s:
                _sample_queues(session, lanes, queues, t - session.begin_s)
                next_sample_s += queues.interval_s
    for sj in junctions:
        sj.wake()
        sj.catch_up()
    metrics = summarise(session.files.tripinfo, session.files.statistics, types)
    extra = [c.run_metrics() for c in controllers if hasattr(c, "run_metrics")]
    for key in sorted({k for e in extra for k in e}):  # e.g. the rl fallback share
        metrics[key] = sum(e.get(key, 0.0) for e in extra) / len(extra)
    violations = [v for sj in junctions for v in sj.guard.violations]
    if violations and any(sj.decoder is not None for sj in junctions):
        log.info("%d departures from ampel's safety rules: %s", len(violations),
                 VIOLATION_SOURCE)
    return RunResult(
        metrics=metrics,
        safety_violations=len(violations),
        deferred_requests=sum(sj.deferred_requests for sj in junctions),
        stage_changes=sum(sj.stage_changes for sj in junctions),
        wall_s=time.perf_counter() - started,
        violation_messages=[v.message for v in violations[:20]],
        queues=queues,
        tripinfo=session.files.tripinfo,
        vehicle_types=types,
        intergreens=intergreens_of(controllers[0]) if controllers else "rilsa",
        reference=any(is_reference(c) for c in controllers),
        notes=notes,
    )


def transition_notes(junctions: list[SignalledJunction]) -> list[str]:
    """One line per traffic light whose model transitions are longer than its program's
    (ampel controllers only; SUMO's own run the program as it is)."""
    out = []
    for sj in junctions:
        extra = sj.junction.lengthened_s
        if sj.decoder is None and extra > 0.05:
            out.append(f"traffic light {sj.junction.tls}: transitions lengthened by {extra:g} s "
                       f"per cycle ({sj.junction.intergreens} intergreens; taken from the "
                       "greens, the cycle is kept)")
    return out
