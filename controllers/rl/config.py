"""Configuration of the learning environments (one dataclass, validated on creation)."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from controllers.rl.encoding import ACTION_MODES, ENCODINGS, SensorNoise
from controllers.rl.rewards import check_reward
from scenarios.sensing import parse_sensing
from signals.errors import ConfigError
from signals.numbers import check_number

#: demand seeds drawn for training episodes lie in [TRAIN_SEED_MIN, TRAIN_SEED_MAX);
#: evaluation uses seeds below TRAIN_SEED_MIN (held out: never seen in training)
TRAIN_SEED_MIN = 1000
TRAIN_SEED_MAX = 2**31 - 1
#: ``junction=ALL`` trains one shared policy on every junction of the scenario at once
ALL = "all"


def mode_defaults(action_mode: str) -> dict[str, str | float]:
    """Training defaults that depend on the action mode.

    The residual mode decides every second on the envelope encoding with the backlog
    reward over hour-long episodes; the other modes keep their earlier defaults.
    Keys: ``encoding``, ``reward``, ``decision_interval_s``, ``episode_s``,
    ``eval_episode_s``.
    """
    if action_mode == "residual":
        return {"encoding": "envelope", "reward": "backlog", "decision_interval_s": 1.0,
                "episode_s": 3600.0, "eval_episode_s": 3600.0}
    return {"encoding": "stage", "reward": "delay", "decision_interval_s": 5.0,
            "episode_s": 1800.0, "eval_episode_s": 1800.0}


@dataclass(frozen=True)
class EnvConfig:
    """How an environment runs a scenario.

    Attributes:
        scenario: registered scenario name.
        decision_interval_s: simulated seconds between two agent decisions.
        episode_s: simulated seconds per episode (from the scenario's demand begin).
        action_mode: ``next-stage`` (Discrete(stages)), ``keep-switch`` (Discrete(2)) or
            ``residual`` (Discrete(3): follow actuated / hold / end; ``residual.py``).
        encoding: observation encoding, ``stage``, ``lane`` (``encoding.py``) or
            ``envelope`` (``features.py``; goes with ``residual``).
        reward: ``delay``, ``queue``, ``waiting``, ``pressure``, ``backlog`` or ``total``
            (see ``rewards.py``).
        sensor_noise: multiplicative Gaussian noise on detector readings (0 = none).
        sensor_dropout: per-lane probability that detectors report nothing at a decision.
        demand_scale: demand factor of every episode (before jitter).
        demand_jitter: each episode scales demand by ``demand_scale * U(1-j, 1+j)``.
        demand_seeds: fixed demand seeds, used in turn episode by episode (evaluation);
            empty: a fresh training seed from ``[TRAIN_SEED_MIN, TRAIN_SEED_MAX)`` per episode.
        episode_metrics: at the end of an episode, parse SUMO's tripinfo into
            ``info["episode_metrics"]`` (mean delay etc., unfinished trips included).
        sensing: sensing profile of the simulated junctions (``loops``, ``advance`` or
            ``camera``, with options such as ``camera:noise=0.1,dropout=0.05``,
            :mod:`scenarios.sensing`); None keeps the scenario's own profile.
    """

    scenario: str = "westentor"
    decision_interval_s: float = 5.0
    episode_s: float = 1800.0
    action_mode: str = "next-stage"
    encoding: str = "stage"
    reward: str = "delay"
    sensor_noise: float = 0.0
    sensor_dropout: float = 0.0
    demand_scale: float = 1.0
    demand_jitter: float = 0.0
    demand_seeds: tuple[int, ...] = ()
    episode_metrics: bool = True
    hold_extra_s: float = 10.0
    sensing: str | None = None

    def __post_init__(self) -> None:
        if self.sensing is not None:
            parse_sensing(self.sensing)  # raises ConfigError on an unknown profile or option
        if not float(self.decision_interval_s).is_integer() or self.decision_interval_s < 1:
            raise ConfigError("decision interval must be a whole number of seconds >= 1, got "
                              f"{self.decision_interval_s}")
        if self.episode_s < self.decision_interval_s:
            raise ConfigError(f"episode ({self.episode_s} s) shorter than one decision interval")
        if self.action_mode not in ACTION_MODES:
            raise ConfigError(f"unknown action mode {self.action_mode!r} "
                              f"(known: {', '.join(ACTION_MODES)})")
        if self.encoding not in ENCODINGS:
            raise ConfigError(f"unknown observation encoding {self.encoding!r} "
                              f"(known: {', '.join(ENCODINGS)})")
        check_reward(self.reward)
        if (self.action_mode == "residual") != (self.encoding == "envelope"):
            raise ConfigError("the residual action mode and the envelope encoding go together "
                              f"(got action mode {self.action_mode!r}, encoding "
                              f"{self.encoding!r})")
        if self.action_mode == "residual" and self.decision_interval_s != 1:
            raise ConfigError("the residual action mode decides every second: decision "
                              f"interval must be 1, got {self.decision_interval_s}")
        check_number(self.hold_extra_s, "hold_extra_s", low=0.0, high=600.0)
        SensorNoise(self.sensor_noise, self.sensor_dropout)
        if self.demand_scale <= 0:
            raise ConfigError(f"demand scale must be > 0, got {self.demand_scale}")
        if not 0.0 <= self.demand_jitter < 1.0:
            raise ConfigError(f"demand jitter must be within 0..1, got {self.demand_jitter}")
        object.__setattr__(self, "demand_seeds", tuple(int(s) for s in self.demand_seeds))

    @property
    def sensor(self) -> SensorNoise:
        """The sensor fault model."""
        return SensorNoise(self.sensor_noise, self.sensor_dropout)

    def to_dict(self) -> dict:
        """Plain dict (for policy.json)."""
        out = asdict(self)
        out["demand_seeds"] = list(self.demand_seeds)
        return out
