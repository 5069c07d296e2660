"""Option parsing shared by several sub-commands (and the table scripts)."""

from __future__ import annotations

import sys
from collections.abc import Callable

from signals.errors import AmpelError, ConfigError


def parse_param_options(items: list[str]) -> dict[str, str]:
    """``--param key=value`` options as a dict (values stay strings; builders convert)."""
    params: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--param expects KEY=VALUE, got {item!r}")
        params[key.strip()] = value.strip()
    return params


def script_main(prog: str, body: Callable[[list[str] | None], int],
                argv: list[str] | None = None) -> int:
    """Run a script's ``body(argv)``; a user's mistake (an ``AmpelError``) is one stderr line
    ``PROG: message`` and exit 2, as with ``ampel``."""
    try:
        return body(argv)
    except AmpelError as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return 2
