"""Learned control: gymnasium/PettingZoo environments, SB3 training, ONNX policies.

Importing this package registers ``ampel/Junction-v0`` with gymnasium (gymnasium's usual
pattern); nothing else happens at import. Training needs torch/stable-baselines3
(``controllers.rl.train``); deployment needs only onnxruntime (``controllers.rl.policy``).
"""

from __future__ import annotations

ENV_ID = "ampel/Junction-v0"


def register_envs() -> None:
    """Register the gymnasium environment id (idempotent)."""
    import gymnasium

    if ENV_ID not in gymnasium.registry:
        gymnasium.register(id=ENV_ID, entry_point="controllers.rl.env:JunctionEnv",
                           disable_env_checker=False)


register_envs()
