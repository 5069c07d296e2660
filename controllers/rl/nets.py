"""The shared stage-scoring network (torch; training and export only, never deployment).

Each stage row of the ``stage`` encoding, concatenated with the mean of all rows (the
junction's context), passes through the same MLP; a linear head turns each row's hidden
vector into that stage's score, and the mean of the hidden vectors feeds the value head.
No weight depends on the number of stages or lanes, so one set of weights serves
junctions of any shape (parameter sharing) and the ONNX export has a dynamic stage axis.
"""

from __future__ import annotations

from typing import Any, cast

import torch
from gymnasium import spaces
from sb3_contrib.common.maskable.policies import MaskableActorCriticPolicy
from stable_baselines3.common.policies import ActorCriticPolicy
from stable_baselines3.dqn.policies import DQNPolicy
from torch import nn

from controllers.rl.encoding import STAGE_FEATURES
from controllers.rl.features import ENVELOPE_FEATURES

STAGE_COLUMNS = {name: i for i, name in enumerate(STAGE_FEATURES)}
ENVELOPE_COLUMNS = {name: i for i, name in enumerate(ENVELOPE_FEATURES)}


class StageRows(nn.Module):
    """Per-stage shared MLP; outputs (batch, stages * hidden) for the actor, (batch, hidden)
    for the critic."""

    def __init__(self, n_features: int, hidden: int = 64) -> None:
        super().__init__()
        self.n_features = n_features
        self.hidden = hidden
        self.latent_dim_pi = hidden  # per stage; the stage head reads rows of this size
        self.latent_dim_vf = hidden
        # keep-switch and residual read the stage flags
        self.head: KeepSwitchHead | ResidualHead | None = None
        self.rows = nn.Sequential(nn.Linear(2 * n_features, hidden), nn.Tanh(),
                                  nn.Linear(hidden, hidden), nn.Tanh())
        self.critic = nn.Sequential(nn.Linear(2 * n_features, hidden), nn.Tanh(),
                                    nn.Linear(hidden, hidden), nn.Tanh())

    def _inputs(self, features: torch.Tensor) -> torch.Tensor:
        x = features.reshape(features.shape[0], -1, self.n_features)
        context = x.mean(dim=1, keepdim=True).expand_as(x)
        return torch.cat([x, context], dim=-1)

    def forward_actor(self, features: torch.Tensor) -> torch.Tensor:
        """Hidden vector per stage, flattened."""
        if self.head is not None:
            self.head.obs = features
        h = self.rows(self._inputs(features))
        return h.reshape(h.shape[0], -1)

    def forward_critic(self, features: torch.Tensor) -> torch.Tensor:
        """Mean-pooled hidden vector for the value head."""
        return self.critic(self._inputs(features)).mean(dim=1)

    def forward(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.forward_actor(features), self.forward_critic(features)


class StageHead(nn.Module):
    """Scores each stage's hidden vector with the same linear layer."""

    def __init__(self, hidden: int) -> None:
        super().__init__()
        self.hidden = hidden
        self.score = nn.Linear(hidden, 1)

    def forward(self, latent: torch.Tensor) -> torch.Tensor:
        rows = latent.reshape(latent.shape[0], -1, self.hidden)
        return self.score(rows).squeeze(-1)


class KeepSwitchHead(nn.Module):
    """``keep-switch`` from stage scores: keep = the reference stage's score (the target
    during a transition, else the current stage), switch = the next stage's score."""

    def __init__(self, hidden: int, n_features: int) -> None:
        super().__init__()
        self.stages = StageHead(hidden)
        self.n_features = n_features
        self.obs: torch.Tensor | None = None  # set by StageRows before each head call

    def forward(self, latent: torch.Tensor) -> torch.Tensor:
        scores = self.stages(latent)
        assert self.obs is not None
        x = self.obs.reshape(self.obs.shape[0], -1, self.n_features)
        current, target = x[..., STAGE_COLUMNS["is_current"]], x[..., STAGE_COLUMNS["is_target"]]
        has_target = target.sum(dim=1, keepdim=True) > 0.5
        ref = torch.where(has_target, target, current)
        first = torch.zeros_like(ref)
        first[:, 0] = 1.0
        ref = torch.where(ref.sum(dim=1, keepdim=True) > 0.5, ref, first)
        nxt = torch.cat([ref[:, -1:], ref[:, :-1]], dim=1)
        return torch.stack([(scores * ref).sum(dim=1), (scores * nxt).sum(dim=1)], dim=1)


class StagePolicy(ActorCriticPolicy):
    """Actor-critic policy for the ``stage`` encoding with weights shared across stages."""

    # SB3 declares the spaces as Space and the extractor as MlpExtractor; this policy is
    # built for a Box observation, a Discrete action and the StageRows extractor
    observation_space: spaces.Box
    action_space: spaces.Discrete
    mlp_extractor: StageRows  # type: ignore[assignment]  # has MlpExtractor's interface

    def __init__(self, *args: Any, hidden: int = 64, **kwargs: Any) -> None:
        self._hidden = hidden
        super().__init__(*args, **kwargs)

    def _build_mlp_extractor(self) -> None:
        n_features = int(self.observation_space.shape[-1])
        self.mlp_extractor = StageRows(n_features, self._hidden)

    def _build(self, lr_schedule: Any) -> None:
        super()._build(lr_schedule)
        if int(self.action_space.n) == 2:  # keep-switch
            head = KeepSwitchHead(self._hidden, int(self.observation_space.shape[-1]))
            self.mlp_extractor.head = head
            self.action_net = head
        else:
            self.action_net = StageHead(self._hidden)
        if self.ortho_init:
            self.action_net.apply(lambda m: self.init_weights(m, gain=0.01))
        # as in SB3: the Optimizer base class has no ``lr``, every concrete optimizer has
        self.optimizer = self.optimizer_class(  # type: ignore[call-arg]
            self.parameters(), lr=lr_schedule(1), **self.optimizer_kwargs)


class ResidualHead(nn.Module):
    """``residual`` logits (follow, hold, end) from the shared stage rows: the hidden
    vectors of the shown stage, of the next stage with a call and their mean over all
    stages, through one linear layer. The ``follow`` bias starts at ``follow_bias`` so
    that the untrained policy is actuated control (the warm start)."""

    def __init__(self, hidden: int, n_features: int, follow_bias: float) -> None:
        super().__init__()
        self.hidden = hidden
        self.n_features = n_features
        self.out = nn.Linear(3 * hidden, 3)
        self.follow_bias = follow_bias
        self.obs: torch.Tensor | None = None  # set by StageRows before each head call

    def reset_bias(self) -> None:
        """Small weights and the follow bias (after SB3's orthogonal init)."""
        with torch.no_grad():
            self.out.weight.mul_(0.0).add_(0.01 * torch.randn_like(self.out.weight))
            self.out.bias.copy_(torch.tensor([self.follow_bias, 0.0, 0.0]))

    def forward(self, latent: torch.Tensor) -> torch.Tensor:
        rows = latent.reshape(latent.shape[0], -1, self.hidden)
        assert self.obs is not None
        x = self.obs.reshape(self.obs.shape[0], -1, self.n_features)
        current = x[..., ENVELOPE_COLUMNS["is_current"]].unsqueeze(-1)
        nxt = x[..., ENVELOPE_COLUMNS["is_next"]].unsqueeze(-1)
        feats = torch.cat([(rows * current).sum(dim=1), (rows * nxt).sum(dim=1),
                           rows.mean(dim=1)], dim=-1)
        return self.out(feats)


class ResidualPolicy(MaskableActorCriticPolicy):
    """Maskable actor-critic for the ``residual`` mode on the ``envelope`` encoding
    (sb3-contrib MaskablePPO), with the shared stage rows and a :class:`ResidualHead`."""

    # SB3 declares the spaces as Space and the extractor as MlpExtractor; this policy is
    # built for a Box observation, a Discrete action and the StageRows extractor
    observation_space: spaces.Box
    action_space: spaces.Discrete
    mlp_extractor: StageRows  # type: ignore[assignment]  # has MlpExtractor's interface

    def __init__(self, *args: Any, hidden: int = 64, follow_bias: float = 2.5,
                 **kwargs: Any) -> None:
        self._hidden = hidden
        self._follow_bias = follow_bias
        super().__init__(*args, **kwargs)

    def _build_mlp_extractor(self) -> None:
        n_features = int(self.observation_space.shape[-1])
        self.mlp_extractor = StageRows(n_features, self._hidden)

    def _build(self, lr_schedule: Any) -> None:
        super()._build(lr_schedule)
        head = ResidualHead(self._hidden, int(self.observation_space.shape[-1]),
                            self._follow_bias)
        head.reset_bias()
        self.mlp_extractor.head = head
        self.action_net = head
        # as in SB3: the Optimizer base class has no ``lr``, every concrete optimizer has
        self.optimizer = self.optimizer_class(  # type: ignore[call-arg]
            self.parameters(), lr=lr_schedule(1), **self.optimizer_kwargs)

    def actor_parameters(self) -> list[nn.Parameter]:
        """Parameters of the actor only (frozen while the critic is pre-fitted)."""
        return [*self.mlp_extractor.rows.parameters(), *self.action_net.parameters()]


class ScoreModule(nn.Module):
    """What is exported to ONNX: observation batch in, one score per action out
    (PPO: logits; DQN: Q-values). The argmax is the deterministic action."""

    def __init__(self, policy: nn.Module, algo: str) -> None:
        super().__init__()
        self.policy = policy
        self.algo = algo

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        if self.algo == "dqn":
            return cast(DQNPolicy, self.policy).q_net(obs)
        p = cast(ActorCriticPolicy, self.policy)
        # one features extractor shared by actor and critic (SB3's default): a tensor
        features = cast(torch.Tensor, p.extract_features(obs, p.pi_features_extractor))
        return p.action_net(p.mlp_extractor.forward_actor(features))
