"""The errors a user can fix (bad configuration, scenario, parameter, policy, field device).

Every one is an :class:`AmpelError`, itself a ``ValueError`` so existing
``except ValueError`` handlers keep working. The CLI prints an ``AmpelError`` as one line
with exit code 2; any other exception is a bug (exit 1, traceback under ``-v``).
"""

from __future__ import annotations


class AmpelError(ValueError):
    """A mistake the user can fix; the message says what and how."""


class ConfigError(AmpelError):
    """A bad experiment configuration, plan, command-line value or register-map profile."""


class ScenarioError(AmpelError):
    """A bad scenario: spec, layout, OSM import, calibration, external network, derivation."""


class ParameterError(AmpelError):
    """A bad controller or signal parameter (a number out of range, an unknown name)."""


class PolicyError(AmpelError):
    """A learned policy that cannot be loaded or does not fit the junction."""


class FieldDeviceError(AmpelError):
    """A field controller or Modbus link problem the user can fix (address, role, peer)."""


__all__ = ["AmpelError", "ConfigError", "FieldDeviceError", "ParameterError", "PolicyError",
           "ScenarioError"]
