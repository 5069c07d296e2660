"""Build a scenario's SUMO network from its plain sources with netconvert, cached by content."""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from scenarios.spec import ScenarioSpec
from signals.errors import ConfigError, ScenarioError

log = logging.getLogger(__name__)

_SOURCE_FLAGS = {"nodes": "--node-files", "edges": "--edge-files",
                 "connections": "--connection-files", "types": "--type-files",
                 "tls": "--tllogic-files"}
BASE_OPTIONS = ("--proj.utm", "--tls.default-type", "static", "--no-warnings",
                "--geometry.remove", "false", "--output.street-names")


def default_cache_dir() -> Path:
    """Where generated networks go: ``$AMPEL_CACHE`` or ``~/.cache/ampel``."""
    return Path(os.environ.get("AMPEL_CACHE") or Path.home() / ".cache" / "ampel")


def sumo_binary(name: str) -> str:
    """Path of a SUMO binary shipped by the eclipse-sumo wheel (``sumo``, ``netconvert``)."""
    import sumo  # the wheel sets SUMO_HOME and holds the binaries

    candidate = Path(sumo.SUMO_HOME) / "bin" / name
    if candidate.exists():
        return str(candidate)
    found = shutil.which(name)
    if not found:
        raise ConfigError(f"SUMO binary {name!r} not found; install eclipse-sumo")
    return found


def _cache_key(spec: ScenarioSpec) -> str:
    import sumo

    digest = hashlib.sha256()
    digest.update(getattr(sumo, "__version__", "sumo").encode())
    for key in sorted(spec.sources):
        digest.update(key.encode())
        digest.update((spec.folder / spec.sources[key]).read_bytes())
    digest.update(" ".join(BASE_OPTIONS + spec.netconvert_options).encode())
    return digest.hexdigest()[:16]


def first_error(output: str) -> str:
    """The first error line of a SUMO tool's output (not its closing 'Quitting (on error).')."""
    lines = [line.strip() for line in output.strip().splitlines() if line.strip()]
    for line in lines:
        if line.startswith("Error:"):
            return line
    useful = [line for line in lines if not line.startswith("Quitting")]
    return (useful or lines or ["no output"])[0]


def build_network(spec: ScenarioSpec, cache_dir: Path | None = None) -> Path:
    """Return the path of the scenario's ``.net.xml``, running netconvert if not cached."""
    cache_dir = cache_dir or default_cache_dir()
    for key, rel in spec.sources.items():
        if key not in _SOURCE_FLAGS:
            raise ScenarioError(f"scenario {spec.name}: unknown source kind {key!r}")
        if not (spec.folder / rel).exists():
            raise ScenarioError(f"scenario {spec.name}: source file {rel} is missing")
    target_dir = cache_dir / "nets" / f"{spec.name}-{_cache_key(spec)}"
    net_path = target_dir / f"{spec.name}.net.xml"
    if net_path.exists():
        return net_path
    target_dir.mkdir(parents=True, exist_ok=True)
    cmd = [sumo_binary("netconvert")]
    for key, rel in sorted(spec.sources.items()):
        cmd += [_SOURCE_FLAGS[key], str(spec.folder / rel)]
    with tempfile.NamedTemporaryFile(dir=target_dir, suffix=".net.xml", delete=False) as tmp:
        tmp_path = Path(tmp.name)
    cmd += list(BASE_OPTIONS) + list(spec.netconvert_options) + ["-o", str(tmp_path)]
    log.info("building network for %s: %s", spec.name, " ".join(cmd))
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        tmp_path.unlink(missing_ok=True)
        raise ScenarioError(f"netconvert failed for scenario {spec.name}: "
                            f"{first_error(proc.stderr or proc.stdout)}")
    os.replace(tmp_path, net_path)
    return net_path
