"""``ampel run`` with a rule-based controller imports only what it uses: no learning
stack, no plotting, no Modbus, and (for fixed time) no adaptive controller."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.resco_nets import resco

ROOT = Path(__file__).resolve().parents[2]

#: what no rule-based run needs (the learning, reporting and HIL stacks)
NEVER = ("torch", "stable_baselines3", "sb3_contrib", "onnxruntime", "gymnasium", "jinja2",
         "pandas", "matplotlib", "pymodbus", "tqdm", "controllers.rl", "hil.bridge")
#: the adaptive controllers a fixed-time run does not use
ADAPTIVE = ("controllers.actuated", "controllers.sotl", "controllers.max_pressure",
            "controllers.webster", "controllers.coordination", "controllers.bus_priority",
            "controllers.batch")

_CODE = """
import json, sys
from experiments.cli import main
code = main(json.loads(sys.argv[1]))
print(json.dumps({"code": code, "modules": sorted(sys.modules)}))
"""


def modules_of_run(scenario: str, controller: str, out: Path) -> set[str]:
    """The modules loaded by one ``ampel run`` (a fresh interpreter), after the run."""
    argv = ["run", "--scenario", scenario, "--controller", controller, "--seed", "1",
            "--duration", "5", "--out", str(out), "--quiet"]
    proc = subprocess.run([sys.executable, "-c", _CODE, json.dumps(argv)], capture_output=True,
                          text=True, cwd=ROOT, env=os.environ.copy(), timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["code"] == 0
    return set(result["modules"])


def _loaded(modules: set[str], names: tuple[str, ...]) -> list[str]:
    return sorted(n for n in names if any(m == n or m.startswith(n + ".") for m in modules))


@pytest.mark.slow
def test_fixed_time_run_imports_no_learning_stack_and_no_adaptive_controller(
        tmp_path: Path) -> None:
    modules = modules_of_run(str(resco("cologne1")), "fixed-time", tmp_path)
    assert "controllers.fixed_time" in modules and "libsumo" in modules
    assert _loaded(modules, NEVER) == []
    assert _loaded(modules, ADAPTIVE) == []


@pytest.mark.slow
def test_actuated_run_imports_its_controller_only(tmp_path: Path) -> None:
    modules = modules_of_run("westentor", "actuated", tmp_path)
    assert "controllers.actuated" in modules
    assert _loaded(modules, NEVER) == []
    assert _loaded(modules, ("controllers.max_pressure", "controllers.webster",
                             "controllers.coordination", "controllers.bus_priority")) == []
