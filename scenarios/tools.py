"""Run SUMO's Python tools (``$SUMO_HOME/tools``: randomTrips, routeSampler) as subprocesses."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

from signals.errors import ConfigError

log = logging.getLogger(__name__)


def sumo_home() -> Path:
    """SUMO_HOME of the installed eclipse-sumo wheel (or the environment's)."""
    try:
        import sumo

        return Path(sumo.SUMO_HOME)
    except ImportError:
        env = os.environ.get("SUMO_HOME")
        if not env:
            raise ConfigError("SUMO not found: install eclipse-sumo or set SUMO_HOME") from None
        return Path(env)


def run_tool(script: str, args: list[str], what: str, cwd: Path | None = None) -> str:
    """Run ``$SUMO_HOME/tools/<script>`` with this Python; ValueError with its last line."""
    home = sumo_home()
    path = home / "tools" / script
    if not path.is_file():
        raise ConfigError(f"SUMO tool {script} not found under {home / 'tools'}")
    env = dict(os.environ, SUMO_HOME=str(home))
    cmd = [sys.executable, str(path), *args]
    log.info("%s: %s", what, " ".join(cmd))
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=cwd)
    if proc.returncode != 0:
        lines = (proc.stderr or proc.stdout).strip().splitlines() or ["no output"]
        raise ConfigError(f"{what} failed ({script}): {lines[-1]}")
    return proc.stdout
