"""The simulation core under both environments: one SUMO session, every junction driven
through ``SignalledJunction.control_step`` (the same path as ``ampel run``), agents'
actions entering as stage requests of an :class:`ActionController`."""

from __future__ import annotations

import dataclasses
import logging
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from controllers.base import StageRequest
from controllers.rl.config import TRAIN_SEED_MAX, TRAIN_SEED_MIN, EnvConfig
from controllers.rl.encoding import (
    ObservationEncoder,
    action_count,
    action_mask,
    action_to_stage,
    observation_shape,
)
from controllers.rl.features import EnvelopeEncoder, perturb
from controllers.rl.residual import FOLLOW, Decision, ResidualEnvelope, mask_array
from controllers.rl.rewards import NetworkCostMeter, RewardMeter
from controllers.runner import SignalledJunction, observation
from scenarios.metrics import summarise
from scenarios.observation import Observation
from scenarios.scenario import Junction, Scenario
from scenarios.sensing import parse_sensing
from scenarios.session import SumoSession
from scenarios.vclass import session_type_classes
from signals.errors import ConfigError

log = logging.getLogger(__name__)


class ActionController:
    """A controller whose decision is the agent's latest action (set before each step)."""

    name = "agent"
    needs_detectors = False  # the environment reads detectors itself, once per decision

    def __init__(self, decision_interval_s: float, initial_stage: int = 0) -> None:
        self.decision_interval_s = decision_interval_s
        self.stage = initial_stage

    def decide(self, obs: Observation) -> StageRequest:
        """Request the stage the agent chose."""
        return StageRequest(self.stage, "agent")

    def held_until(self, time_s: float) -> float:
        """A time before which the junction asks for no other decision: its next one is
        ``decision_interval_s`` on (less 1 µs). Between decisions the junction may rest
        (``SignalledJunction.control_step``); :meth:`Simulation._observe` catches up."""
        return time_s + self.decision_interval_s - 1e-6


class ResidualDriver:
    """The ``residual`` mode's controller in the control path: plays the request the
    environment settled for this second (actuated's, or the policy's correction)."""

    name = "residual"
    needs_detectors = False  # the environment reads detectors itself, every second
    decision_interval_s = 1.0

    def __init__(self) -> None:
        self.request = StageRequest(0, "start")

    def decide(self, obs: Observation) -> StageRequest:
        """The request set by the environment for this second."""
        return self.request


@dataclass
class Agent:
    """One learning junction: its control path, encoder, reward meter and last view."""

    junction: Junction
    signalled: SignalledJunction
    controller: ActionController | ResidualDriver
    encoder: ObservationEncoder
    meter: RewardMeter
    last_obs: Observation | None = None
    deferred: int = 0
    envelope: ResidualEnvelope | None = None
    features: EnvelopeEncoder | None = None
    decision: Decision | None = None
    encoded: np.ndarray | None = None

    @property
    def name(self) -> str:
        """Agent id: the junction's traffic-light id."""
        return self.junction.tls


@dataclass
class StepReport:
    """What happened to one agent's action."""

    requested_stage: int
    deferred: bool
    reason: str


def apply_sensing(scenario: Scenario, sensing: str | None) -> Scenario:
    """The scenario with the sensing profile ``sensing`` (text such as ``camera`` or
    ``camera:noise=0.1,dropout=0.05``; None or its own: unchanged)."""
    if sensing is None or parse_sensing(sensing) == scenario.sensing:
        return scenario
    return scenario.with_sensing(sensing)


@dataclass
class Simulation:
    """Runs episodes of a scenario with some junctions under agents, the rest fixed-time."""

    scenario: Scenario
    config: EnvConfig
    agent_ids: tuple[str, ...]
    agents: dict[str, Agent] = field(default_factory=dict, init=False)
    session: SumoSession | None = field(default=None, init=False, repr=False)
    episode: dict = field(default_factory=dict, init=False)
    _others: list[SignalledJunction] = field(default_factory=list, init=False, repr=False)
    _workdir: Path | None = field(default=None, init=False, repr=False)
    _episodes: int = field(default=0, init=False, repr=False)
    _rng: np.random.Generator | None = field(default=None, init=False, repr=False)
    _total: NetworkCostMeter | None = field(default=None, init=False, repr=False)
    #: residual mode: also stop running to the next decision point at this episode time
    #: (rollout branches of a fixed length; None: only at decision points or the end)
    stop_at_s: float | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        self.scenario = apply_sensing(self.scenario, self.config.sensing)
        known = {j.tls: j for j in self.scenario.junctions}
        for aid in self.agent_ids:
            if aid not in known:
                raise ConfigError(f"scenario {self.scenario.name!r} has no junction {aid!r} "
                                  f"(junctions: {', '.join(known)})")

    def junction(self, aid: str) -> Junction:
        """The junction an agent controls."""
        return next(j for j in self.scenario.junctions if j.tls == aid)

    def observation_shape(self, aid: str) -> tuple[int, ...]:
        """Encoded observation shape of one agent."""
        return observation_shape(self.junction(aid).info, self.config.encoding)

    def action_count(self, aid: str) -> int:
        """Number of actions of one agent."""
        return action_count(self.junction(aid).info, self.config.action_mode)

    # ------------------------------------------------------------------ episodes
    def start(self, rng: np.random.Generator, options: dict | None = None) -> None:
        """Close any running episode and start a new one (demand seed and scale drawn)."""
        self.close_session()
        options = options or {}
        cfg = self.config
        if "demand_seed" in options:
            seed = int(options["demand_seed"])
        elif cfg.demand_seeds:
            seed = cfg.demand_seeds[self._episodes % len(cfg.demand_seeds)]
        else:
            seed = int(rng.integers(TRAIN_SEED_MIN, TRAIN_SEED_MAX))
        scale = float(options.get("demand_scale", cfg.demand_scale))
        if "demand_scale" not in options and cfg.demand_jitter > 0:
            scale *= float(rng.uniform(1 - cfg.demand_jitter, 1 + cfg.demand_jitter))
        self._episodes += 1
        if self._workdir is None:
            self._workdir = Path(tempfile.mkdtemp(prefix="ampel-rl-"))
        session = self.scenario.session(seed, cfg.episode_s, self._workdir, scale)
        if not cfg.episode_metrics:  # nobody reads the emissions: SUMO skips them
            session = dataclasses.replace(session, emissions=False)
        self.session = session
        self.session.start()
        self.episode = {"demand_seed": seed, "demand_scale": scale}
        self.agents = {}
        self._others = []
        from controllers.registry import controller_factory

        fixed = controller_factory("fixed-time")
        residual = cfg.action_mode == "residual"
        for j in self.scenario.junctions:
            if j.tls in self.agent_ids and residual:
                driver = ResidualDriver()
                envelope = residual_envelope(j, self.scenario, cfg.hold_extra_s)
                agent = Agent(junction=j, signalled=SignalledJunction.create(j, driver),
                              controller=driver,
                              encoder=ObservationEncoder(j.info, "stage"),
                              meter=RewardMeter(j.info, cfg.reward), envelope=envelope,
                              features=EnvelopeEncoder(j.info, envelope.max_red_s))
                self.agents[j.tls] = agent
            elif j.tls in self.agent_ids:
                ctrl = ActionController(cfg.decision_interval_s)
                agent = Agent(junction=j, signalled=SignalledJunction.create(j, ctrl),
                              controller=ctrl,
                              encoder=ObservationEncoder(j.info, cfg.encoding, cfg.sensor),
                              meter=RewardMeter(j.info, cfg.reward))
                self.agents[j.tls] = agent
            else:
                self._others.append(SignalledJunction.create(j, fixed(j, self.scenario)))
        self._total = None
        if cfg.reward == "total":  # one cost over every agent's approach lanes
            lanes = [ln.lane for a in self.agents.values() for ln in a.junction.info.lanes
                     if not ln.is_bicycle]
            self._total = NetworkCostMeter(tuple(dict.fromkeys(lanes)))
        if residual:
            self._rng = rng
            self._run_to_decision()
            # the seconds before the first decision
            for m in [self._total] if self._total else [a.meter for a in self.agents.values()]:
                m.collect(self.session)
            return
        for aid in self.agent_ids:
            self.agents[aid].last_obs = self._observe(self.agents[aid])

    @property
    def time_s(self) -> float:
        """Simulated seconds since the episode began."""
        assert self.session is not None
        return self.session.time_s - self.session.begin_s

    @property
    def done(self) -> bool:
        """Whether the episode's simulated time is used up."""
        return self.session is None or self.session.finished()

    def encode(self, aid: str, rng: np.random.Generator | None) -> np.ndarray:
        """The agent's encoded observation of the latest decision point."""
        agent = self.agents[aid]
        if agent.envelope is not None:
            assert agent.encoded is not None
            return agent.encoded
        assert agent.last_obs is not None  # observed at every start and every step
        return agent.encoder.encode(agent.last_obs, rng if self.config.sensor.active else None)

    def mask(self, aid: str) -> np.ndarray:
        """Actions the sequencer would carry out at once (residual: the envelope's mask)."""
        agent = self.agents[aid]
        if agent.envelope is not None:
            return mask_array(agent.decision)
        obs = self.agents[aid].last_obs
        assert obs is not None  # observed at every start and every step
        return action_mask(self.config.action_mode, obs)

    def advance(self, actions: dict[str, int]) -> dict[str, StepReport]:
        """Apply the agents' actions and run one decision interval of the simulation."""
        session = self.session
        if session is None:
            raise RuntimeError("episode not started: call reset() first")
        if self.config.action_mode == "residual":
            return self._advance_residual(actions)
        reports: dict[str, StepReport] = {}
        for aid, agent in self.agents.items():
            obs = agent.last_obs
            controller = agent.controller
            assert obs is not None  # observed at every start and every step
            assert isinstance(controller, ActionController)  # not the residual mode
            stage = action_to_stage(self.config.action_mode, actions[aid], obs)
            controller.stage = stage
            deferred = not obs.allowed[stage]
            reason = _deferral_reason(agent, stage) if deferred else ""
            if deferred:
                agent.deferred += 1
            reports[aid] = StepReport(stage, deferred, reason)
        ticks = int(self.config.decision_interval_s)
        agents = list(self.agents.values())
        signalled = [a.signalled for a in agents] + self._others
        meters = self._meters()
        begin = session.begin_s
        for _ in range(ticks):
            if session.finished():
                break
            t = session.time_s - begin
            for sj in signalled:
                sj.control_step(session, t)
            session.step()
            for m in meters:
                m.tick(session)
        for agent in agents:
            agent.last_obs = self._observe(agent)
        return reports

    def deciding(self) -> list[str]:
        """Residual mode: the agents at a decision point this second (agent order)."""
        return [aid for aid in self.agent_ids if self.agents[aid].decision is not None]

    def _meters(self) -> list[RewardMeter | NetworkCostMeter]:
        """The meters that tick every second (the network cost, or the agents' own)."""
        if self._total is not None:
            return [self._total]
        return [a.meter for a in self.agents.values() if a.meter.per_tick]

    def _advance_residual(self, actions: dict[str, int]) -> dict[str, StepReport]:
        """Play each deciding agent's choice for this second (``follow`` for an agent
        without an action), then run to the next second at which some agent decides."""
        reports: dict[str, StepReport] = {}
        for aid in self.agent_ids:
            agent = self.agents[aid]
            decision = agent.decision
            driver = agent.controller
            assert isinstance(driver, ResidualDriver) and agent.last_obs is not None
            a = int(actions.get(aid, FOLLOW))
            request = decision.request(a) if decision is not None else driver.request
            driver.request = request
            deferred = not agent.last_obs.allowed[request.stage]
            reports[aid] = StepReport(request.stage, deferred,
                                      request.reason if deferred else "")
        self._tick()
        self._run_to_decision()
        return reports

    def _tick(self) -> None:
        """One simulated second of every junction's control path."""
        session = self.session
        assert session is not None
        t = session.time_s - session.begin_s
        for sj in [a.signalled for a in self.agents.values()] + self._others:
            sj.control_step(session, t)
        session.step()
        for m in self._meters():
            m.tick(session)

    def _run_to_decision(self) -> None:
        """Let actuated play every second at which no agent decides (or the episode
        ends); leave each agent's observation, features, decision (None unless it decides
        now) and encoded observation in the agent."""
        assert self.session is not None
        cfg = self.config
        rng = self._rng if cfg.sensor.active else None
        agents = [self.agents[aid] for aid in self.agent_ids]
        while True:
            point = False
            offers = []
            for agent in agents:
                assert agent.envelope is not None and agent.features is not None
                raw = self._observe(agent)
                obs = perturb(raw, cfg.sensor_noise, cfg.sensor_dropout, rng)
                decision = agent.envelope.offer(obs)
                agent.features.update(obs)
                agent.last_obs = obs
                offers.append(decision)
                point = point or decision.point
            stop = self.stop_at_s is not None and self.time_s >= self.stop_at_s
            if point or stop or self.session.finished():
                for agent, decision in zip(agents, offers, strict=True):
                    assert agent.envelope is not None and agent.features is not None
                    assert agent.last_obs is not None
                    agent.decision = decision if decision.point else None
                    agent.encoded = agent.features.encode(agent.last_obs,
                                                          agent.envelope.actuated, update=False)
                    assert isinstance(agent.controller, ResidualDriver)
                    agent.controller.request = decision.base
                return
            for agent, decision in zip(agents, offers, strict=True):
                assert isinstance(agent.controller, ResidualDriver)
                agent.controller.request = decision.base
            self._tick()

    def reward(self, aid: str | None = None) -> float:
        """The agent's reward for the interval that just ran (reward ``total``: the cost
        over every agent's approach lanes, shared by all agents; ``aid`` may be None)."""
        assert self.session is not None
        if self._total is not None:
            return self._total.collect(self.session)
        if aid is None:
            raise ConfigError(f"reward {self.config.reward!r} is per agent: name the agent")
        return self.agents[aid].meter.collect(self.session)

    def finish(self) -> dict:
        """Close the session; metrics of the episode (from tripinfo) if configured."""
        session = self.session
        self.close_session()
        out = dict(self.episode)
        out["safety_violations"] = sum(len(a.signalled.guard.violations)
                                       for a in self.agents.values())
        out["deferred_requests"] = sum(a.deferred for a in self.agents.values())
        if session is not None and self.config.episode_metrics:
            out.update(summarise(session.files.tripinfo, session.files.statistics,
                                 session_type_classes(session)))
        return out

    def close_session(self) -> None:
        """End the running SUMO session, if any."""
        if self.session is not None:
            try:
                self.session.close()
            finally:
                self.session = None

    def close(self) -> None:
        """End the session and remove the episode files."""
        self.close_session()
        if self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)
            self._workdir = None

    def _observe(self, agent: Agent) -> Observation:
        agent.signalled.catch_up()  # the sequencer and guard level after a rest
        seq = agent.signalled.sequencer
        assert self.session is not None
        # runner.observation: an Observation equal to the constructor's, at a third of
        # its cost (checked in tests/controllers/test_runner_fast.py)
        return observation(agent.junction.tls, self.time_s, seq.current_stage,
                           seq.target_stage, seq.time_in_stage_s, seq.allowed_stages(),
                           self.session.read_lanes(agent.junction.detectors))


def residual_envelope(junction: Junction, scenario: Scenario, hold_extra_s: float
                      ) -> ResidualEnvelope:
    """Actuated control (default parameters, 1 s decisions) inside its envelope."""
    from controllers import builders

    actuated = builders.build_actuated(junction, scenario, {})
    return ResidualEnvelope(actuated, hold_extra_s,
                            builders.green_limits(junction))


def _deferral_reason(agent: Agent, stage: int) -> str:
    seq = agent.signalled.sequencer
    names = agent.junction.info.stage_names
    if seq.in_transition:
        assert seq.target_stage is not None  # a transition always has a target
        return f"deferred: transition to '{names[seq.target_stage]}' in progress"
    current = names[seq.current_stage] if seq.current_stage is not None else "?"
    return (f"deferred: minimum green of stage '{current}' not over "
            f"({seq.time_in_stage_s:g} s in stage); '{names[stage]}' follows when it is")
