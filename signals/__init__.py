"""The signal model of ampel: groups, stages, conflicts, intergreens, sequencer and guard.

Pure Python and numpy; imports nothing else of the project.
"""

from .colours import Colour, parse_state_string, to_state_string
from .errors import (
    AmpelError,
    ConfigError,
    FieldDeviceError,
    ParameterError,
    PolicyError,
    ScenarioError,
)
from .groups import GroupKind, SignalGroup
from .guard import RULES, SafetyGuard, SafetyViolation, Violation
from .model import MAX_INTERGREEN_S, SignalModel, Stage
from .sequencer import RequestOutcome, Sequencer

__all__ = [
    "AmpelError",
    "ConfigError",
    "FieldDeviceError",
    "ParameterError",
    "PolicyError",
    "ScenarioError",
    "MAX_INTERGREEN_S",
    "RULES",
    "Colour",
    "GroupKind",
    "RequestOutcome",
    "SafetyGuard",
    "SafetyViolation",
    "Sequencer",
    "SignalGroup",
    "SignalModel",
    "Stage",
    "Violation",
    "parse_state_string",
    "to_state_string",
]
