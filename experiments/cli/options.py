"""Option parsing shared by several sub-commands."""

from __future__ import annotations

from signals.errors import ConfigError


def parse_param_options(items: list[str]) -> dict[str, str]:
    """``--param key=value`` options as a dict (values stay strings; builders convert)."""
    params: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--param expects KEY=VALUE, got {item!r}")
        params[key.strip()] = value.strip()
    return params
