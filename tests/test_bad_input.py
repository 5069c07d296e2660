"""Issue 14: every CLI command against the classes of bad input a skeptical user tries.

Each case must give exit code 2, exactly one line on stderr, no traceback, and leave every
file written before (results, a trained policy, a calibration, user scenarios) unchanged.
The commands run in-process (``experiments.cli.main``) so the matrix stays fast; none of
them gets as far as starting SUMO.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from experiments.cli import main
from experiments.config import RunSpec, parse_config
from experiments.results import RunRecord
from experiments.sweep import run_sweep

WESTENTOR = Path(__file__).resolve().parents[1] / "scenarios/hamm/westentor/scenario.yaml"
CONFIG = "scenarios: [westentor]\ncontrollers: [fixed-time]\nseeds: [1]\nduration_s: 60\n"


class _Backend:
    name = "fake"

    def run(self, specs: Sequence[RunSpec]) -> Iterator[RunRecord]:
        for s in specs:
            yield RunRecord(run_id=s.run_id, **s.to_dict(), metrics={"mean_delay_s": 40.0})


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Files a user already has: results, a policy, a calibration, scenarios, configs."""
    root = tmp_path_factory.mktemp("world")
    config = parse_config({"scenarios": ["westentor"], "seeds": [1, 2], "duration_s": 60,
                           "controllers": ["fixed-time"]})
    run_sweep(config, root / "results", _Backend(), progress=False)
    (root / "policy").mkdir()
    (root / "policy" / "policy.onnx").write_bytes(b"an earlier policy")
    (root / "policy" / "model.zip").write_bytes(b"an earlier model")
    (root / "mine").mkdir()
    (root / "mine" / "notes.txt").write_text("not a calibration")
    (root / "afile.txt").write_text("a file, not a folder")
    (root / "folder").mkdir()
    (root / "counts.csv").write_text("edge,count\nnorth_in,100\n")
    (root / "c.yaml").write_text(CONFIG)
    (root / "nan.yaml").write_text(CONFIG.replace("60", ".nan"))
    (root / "bigseed.yaml").write_text(CONFIG.replace("[1]", "[2147483648]"))
    (root / "broken.yaml").write_text("scenarios: [westentor\nseeds: [1]\n")
    (root / "edited.yaml").write_text(CONFIG.replace("seeds: [1]", "seeds: [1, 2, 3]"))
    (root / "nangreen.yaml").write_text(
        "scenarios: [westentor]\nseeds: [1]\ncontrollers:\n  - {name: fixed-time, params: "
        "{greens: {S1_north_south: .nan}}}\n")
    users = root / "user-scenarios"
    (users / "broken").mkdir(parents=True)
    (users / "broken" / "scenario.yaml").write_text(
        WESTENTOR.read_text().replace("name: westentor", "name: broken").replace(
            "truck_share: 0.05", "truck_share: 5"))
    (root / "x.osm").write_text("<osm/>")
    return root


def _digest(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


W = "{w}"  # replaced by the world folder
OUT = ["--out", f"{W}/new-out"]
RUN = ["run", "--scenario", "westentor", *OUT]
DEPLOY = ["hil", "deploy", "--controller", "fixed-time", "--target", "127.0.0.1:1"]
BRIDGE = ["hil", "bridge", "--scenario", "westentor", "--target", "127.0.0.1:1"]

CASES: list[tuple[str, list[str], str]] = [
    # numbers: not a number, NaN, infinity, out of range
    ("run-duration-nan", [*RUN, "--duration", "nan"], "finite"),
    ("run-duration-inf", [*RUN, "--duration", "inf"], "finite"),
    ("run-duration-huge", [*RUN, "--duration", "1e30"], "must be <= 604800"),
    ("run-seed-too-big", [*RUN, "--seed", "2147483648"], "must be <= 2147483647"),
    ("run-seed-text", [*RUN, "--seed", "fast"], "expected an integer, got 'fast'"),
    ("run-demand-huge", [*RUN, "--demand", "1e6"], "must be <= 10"),
    ("run-green-nan", [*RUN, "--param", "greens=S1_north_south=nan"], "finite"),
    ("run-offset-inf", [*RUN, "--param", "offset_s=inf"], "offset_s: must be a finite"),
    ("run-param-text", [*RUN, "--controller", "actuated", "--param", "max_gap_s=fast"],
     "'max_gap_s': expected a number, got 'fast'"),
    ("run-param-underscore", [*RUN, "--controller", "actuated", "--param", "_board=1"],
     "unknown parameter '_board'"),
    ("run-param-underscore-fixed", [*RUN, "--param", "_plan=x"], "unknown parameter '_plan'"),
    ("plan-demand-nan", ["plan", "webster", "--scenario", "westentor", "--demand", "nan"],
     "finite"),
    ("experiment-workers-negative", ["experiment", f"{W}/c.yaml", "--workers", "-3"],
     "must be >= 1"),
    ("experiment-duration-nan", ["experiment", f"{W}/nan.yaml", *OUT], "finite"),
    ("experiment-seed-too-big", ["experiment", f"{W}/bigseed.yaml", *OUT], "2147483647"),
    ("experiment-green-nan", ["experiment", f"{W}/nangreen.yaml", *OUT], "finite"),
    ("experiment-ray-timeout-nan", ["experiment", f"{W}/c.yaml", "--ray-timeout", "nan"],
     "finite"),
    ("demo-seeds-zero", ["demo", "--seeds", "0", *OUT], "must be >= 1"),
    ("demo-duration-inf", ["demo", "--duration", "inf", *OUT], "finite"),
    ("train-missing-sumocfg", ["train", "--scenario", f"{W}/nowhere.sumocfg", *OUT],
     "SUMO configuration not found"),
    ("train-steps-negative", ["train", "--scenario", "westentor", "--steps", "-3", *OUT],
     "must be >= 1"),
    ("train-follow-bias-inf", ["train", "--scenario", "westentor", "--follow-bias", "inf",
                               *OUT], "finite"),
    ("train-hold-extra-nan", ["train", "--scenario", "westentor", "--hold-extra", "nan",
                              *OUT], "finite"),
    ("train-sensor-noise-big", ["train", "--scenario", "westentor", "--sensor-noise", "3",
                                *OUT], "must be <= 1"),
    ("train-rollout-horizon-nan", ["train", "--scenario", "westentor", "--method", "rollout",
                                   "--horizon", "nan", *OUT], "finite"),
    ("train-rollout-keep-switch", ["train", "--scenario", "westentor", "--method", "rollout",
                                   "--action-mode", "keep-switch", *OUT], "residual"),
    ("import-osm-seed-text", ["scenarios", "import-osm", f"{W}/x.osm", "--name", "x",
                              "--seed", "x"], "expected an integer"),
    ("calibrate-seed-negative", ["calibrate", "--scenario", "westentor", "--counts",
                                 f"{W}/counts.csv", "--seed", "-1"], "must be >= 0"),
    ("serve-port-too-big", ["hil", "serve", "--scenario", "westentor", "--port", "70000"],
     "must be <= 65535"),
    ("serve-handshake-zero", ["hil", "serve", "--scenario", "westentor", "--handshake", "0"],
     "must be >= 1"),
    ("deploy-period-nan", [*DEPLOY, "--period", "nan"], "finite"),
    ("bridge-seed-negative", [*BRIDGE, "--seed", "-1", *OUT], "must be >= 0"),
    ("bridge-demand-huge", [*BRIDGE, "--demand", "1e6", *OUT], "must be <= 10"),
    # output paths: unwritable, a folder for a file, a file for a folder, empty
    ("run-out-proc", ["run", "--scenario", "westentor", "--out", "/proc/ampel/x"],
     "not writable"),
    ("run-out-file", ["run", "--scenario", "westentor", "--out", f"{W}/afile.txt"],
     "is a file"),
    ("run-out-empty", ["run", "--scenario", "westentor", "--out", ""], "empty path"),
    ("report-o-proc", ["report", f"{W}/results", "-o", "/proc/ampel/r.html"],
     "cannot be written"),
    ("report-o-folder", ["report", f"{W}/results", "-o", f"{W}/folder"], "is a folder"),
    ("plan-out-proc", ["plan", "webster", "--scenario", "westentor", "--out",
                       "/proc/ampel/p.yaml"], "cannot be written"),
    ("plan-out-folder", ["plan", "webster", "--scenario", "westentor", "--out",
                         f"{W}/folder"], "is a folder"),
    ("deploy-audit-proc", [*DEPLOY, "--audit", "/proc/ampel/a.jsonl"], "cannot be written"),
    ("deploy-audit-folder", [*DEPLOY, "--audit", f"{W}/folder"], "is a folder"),
    ("bridge-out-proc", [*BRIDGE, "--out", "/proc/ampel"], "not writable"),
    ("experiment-out-file", ["experiment", f"{W}/c.yaml", "--out", f"{W}/afile.txt"],
     "is a file"),
    ("calibrate-out-empty", ["calibrate", "--scenario", "westentor", "--counts",
                             f"{W}/counts.csv", "--out", ""], "empty path"),
    # never overwrite a user's results unasked
    ("train-into-policy", ["train", "--scenario", "westentor", "--out", f"{W}/policy"],
     "--resume"),
    ("experiment-into-results", ["experiment", f"{W}/c.yaml", "--out", f"{W}/results"],
     "--resume"),
    ("experiment-resume-edited", ["experiment", f"{W}/edited.yaml", "--out", f"{W}/results",
                                  "--resume"], "changed: seeds"),
    ("calibrate-into-user-folder", ["calibrate", "--scenario", "westentor", "--counts",
                                    f"{W}/counts.csv", "--out", f"{W}/mine"],
     "not a calibrated scenario"),
    # names, files and configs
    ("run-scenario-traversal", ["run", "--scenario", "../../etc", *OUT], "unknown scenario"),
    ("run-broken-user-scenario", ["run", "--scenario", "broken", *OUT], "truck_share"),
    ("import-osm-name-traversal", ["scenarios", "import-osm", f"{W}/x.osm", "--name",
                                   "../evil"], "scenario name '../evil'"),
    ("experiment-broken-yaml", ["experiment", f"{W}/broken.yaml", *OUT], "invalid YAML"),
    ("report-not-results", ["report", f"{W}/folder"], "not a results folder"),
    ("calibrate-missing-counts", ["calibrate", "--scenario", "westentor", "--counts",
                                  f"{W}/nope.csv"], "counts file not found"),
    ("plan-without-kind", ["plan"], "choose a kind"),
    ("hil-without-action", ["hil"], "choose an action"),
]


@pytest.mark.parametrize("args, needle", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_exit_2_one_line_nothing_lost(world: Path, args: list[str], needle: str,
                                                capsys, monkeypatch) -> None:
    monkeypatch.setenv("AMPEL_SCENARIOS", str(world / "user-scenarios"))
    monkeypatch.chdir(world)
    logging.root.handlers.clear()  # main() binds its log handler to this test's stderr
    before = _digest(world)
    code = main([a.replace(W, str(world)) for a in args])
    err = capsys.readouterr().err
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert needle in lines[0], err
    assert "Traceback" not in err
    after = _digest(world)
    assert {k: after.get(k) for k in before} == before, "a file written before changed"
