"""Export a trained stable-baselines3 model to ``policy.onnx`` + ``policy.json``."""

from __future__ import annotations

import logging
import os
import tempfile
import warnings
from pathlib import Path
from typing import Any

import torch

from controllers.rl.config import EnvConfig
from controllers.rl.encoding import LANE_FEATURES, STAGE_FEATURES, layout_signature
from controllers.rl.features import ENVELOPE_FEATURES
from controllers.rl.nets import ResidualPolicy, ScoreModule, StagePolicy
from controllers.rl.policy import FORMAT, INPUT_NAME, OUTPUT_NAME
from scenarios.files import write_json_atomic
from scenarios.observation import JunctionInfo
from scenarios.sensing import parse_sensing

log = logging.getLogger(__name__)

#: what each sensing profile's detectors are, for ``policy.json``
SENSING_SOURCES = {
    "loops": "detectors (stop-line and upstream loops)",
    "advance": "detectors (stop-line, upstream and advance loops)",
    "camera": "detectors (stop-line and upstream loops, 100 m video zone)",
}


def export_policy(model: Any, algo: str, env_config: EnvConfig, junctions: list[JunctionInfo],
                  out_dir: Path, training: dict, extra: dict | None = None
                  ) -> tuple[Path, Path]:
    """Write ``out_dir/policy.onnx`` and ``out_dir/policy.json`` (both atomically)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    policy = model.policy
    shared = isinstance(policy, (StagePolicy, ResidualPolicy))
    module = ScoreModule(policy, algo).eval().cpu()
    shape = tuple(int(d) for d in model.observation_space.shape)
    dummy = torch.zeros((1, *shape), dtype=torch.float32)
    axes = {INPUT_NAME: {0: "batch", 1: "stages"}, OUTPUT_NAME: {0: "batch", 1: "stages"}} \
        if shared else {INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}}
    onnx_path = out_dir / "policy.onnx"
    fd, tmp = tempfile.mkstemp(dir=out_dir, prefix=".policy.", suffix=".onnx")
    os.close(fd)
    try:
        with torch.no_grad(), warnings.catch_warnings():
            # the TorchScript exporter is deprecated in favour of torch.export, which needs
            # onnxscript; the legacy path gives a dynamic stage axis with no extra dependency
            warnings.simplefilter("ignore", DeprecationWarning)
            torch.onnx.export(module, (dummy,), tmp, input_names=[INPUT_NAME],
                              output_names=[OUTPUT_NAME], dynamic_axes=axes, opset_version=17,
                              dynamo=False)
        os.chmod(tmp, 0o644)
        os.replace(tmp, onnx_path)
    finally:
        Path(tmp).unlink(missing_ok=True)
    sensing = parse_sensing(env_config.sensing or "loops").name
    features = {"stage": STAGE_FEATURES, "lane": LANE_FEATURES,
                "envelope": ENVELOPE_FEATURES}[env_config.encoding]
    spec = {
        "format": FORMAT,
        "scenario": env_config.scenario,
        "junctions": [layout_signature(info) for info in junctions],
        "shared": shared,
        "observation": {
            "encoding": env_config.encoding,
            "shape": list(shape),
            "features": list(features),
            "low": 0.0,
            "high": 5.0,
            "dtype": "float32",
            "source": SENSING_SOURCES.get(sensing, sensing) + " and the sequencer",
            "sensing": sensing,
        },
        "action": {"mode": env_config.action_mode, "n": int(model.action_space.n),
                   "rule": "argmax of the scores"},
        "decision_interval_s": env_config.decision_interval_s,
        "reward": env_config.reward,
        "algo": algo,
        "onnx": {"file": onnx_path.name, "input": INPUT_NAME, "output": OUTPUT_NAME},
        "env_config": env_config.to_dict(),
        "training": training,
        **(extra or {}),
    }
    json_path = write_json_atomic(spec, out_dir / "policy.json")
    log.info("exported %s and %s", onnx_path, json_path)
    return onnx_path, json_path
