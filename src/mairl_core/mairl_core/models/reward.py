"""Discriminators and the reward they give the policy.

All three share one interface so the adversarial trainer and both policy
learners (model-based and PPO) treat them alike:

- ``logits(obs, act, next_obs, done, log_pi)``: the classifier's logit, expert = 1;
- ``policy_reward(obs, act, next_obs, done, log_pi, alpha)``: the (differentiable)
  reward the generator maximises;
- ``reward_map(obs, act)``: the learned reward used for transfer and the
  reward-recovery figures (g for AIRL; the logit for GAIL).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .nets import mlp


class AIRLDiscriminator(nn.Module):
    """AIRL: f(s,a,s') = g(s[,a]) + gamma h(s') - h(s), D = e^f / (e^f + pi) (eq. 3).

    logit(D) = f - log pi; the generator's reward is eq. 4,
    r_hat = log D - log(1 - D) = f - log pi, with ``alpha`` weighting the
    entropy term (§V-A). At a terminal transition the potential of s' is 0.
    """

    shaped = True

    def __init__(
        self,
        obs_dim: int,
        act_dim: int,
        hidden: Sequence[int] = (32, 32),
        gamma: float = 0.99,
        state_only: bool = True,
    ):
        super().__init__()
        self.state_only = state_only
        self.gamma = gamma
        self.g_net = mlp(obs_dim if state_only else obs_dim + act_dim, hidden, 1)
        self.h_net = mlp(obs_dim, hidden, 1)

    def g(self, obs: torch.Tensor, act: torch.Tensor) -> torch.Tensor:
        x = obs if self.state_only else torch.cat([obs, act], -1)
        return self.g_net(x).squeeze(-1)

    def h(self, obs: torch.Tensor) -> torch.Tensor:
        return self.h_net(obs).squeeze(-1)

    def f(self, obs, act, next_obs, done) -> torch.Tensor:
        """f = g + gamma (1 - done) h(s') - h(s)."""
        return self.g(obs, act) + self.gamma * (1.0 - done) * self.h(next_obs) - self.h(obs)

    def logits(self, obs, act, next_obs, done, log_pi) -> torch.Tensor:
        return self.f(obs, act, next_obs, done) - log_pi  # eq. 3 in logit form

    def policy_reward(self, obs, act, next_obs, done, log_pi, alpha: float) -> torch.Tensor:
        return self.f(obs, act, next_obs, done) - alpha * log_pi  # eq. 4, entropy weight alpha

    def reward_map(self, obs: torch.Tensor, act: torch.Tensor) -> torch.Tensor:
        return self.g(obs, act)

    @torch.no_grad()
    def shift_logits(self, c: float) -> None:
        """Add ``c`` to every logit (through g's output bias: a constant reward offset)."""
        self.g_net[-1].bias.add_(c)


class GAILDiscriminator(nn.Module):
    """GAIL: an unstructured classifier D(s,a); generator reward -log(1 - D)."""

    shaped = False

    def __init__(
        self, obs_dim: int, act_dim: int, hidden: Sequence[int] = (32, 32), state_only: bool = False
    ):
        super().__init__()
        self.state_only = state_only
        self.net = mlp(obs_dim if state_only else obs_dim + act_dim, hidden, 1)

    def _x(self, obs, act):
        return obs if self.state_only else torch.cat([obs, act], -1)

    def logits(self, obs, act, next_obs, done, log_pi) -> torch.Tensor:
        return self.net(self._x(obs, act)).squeeze(-1)

    def policy_reward(self, obs, act, next_obs, done, log_pi, alpha: float) -> torch.Tensor:
        # -log(1 - D) = softplus(logit)
        return F.softplus(self.logits(obs, act, next_obs, done, log_pi)) - alpha * log_pi

    @torch.no_grad()
    def shift_logits(self, c: float) -> None:
        """Add ``c`` to every logit (through the output bias)."""
        self.net[-1].bias.add_(c)

    def reward_map(self, obs: torch.Tensor, act: torch.Tensor) -> torch.Tensor:
        return self.net(self._x(obs, act)).squeeze(-1)


class GANGCLDiscriminator(AIRLDiscriminator):
    """GAN-GCL (Finn et al. 2016) as AIRL's paper runs it: the discriminator
    classifies whole trajectories, D(tau) = exp(sum f) / (exp(sum f) + prod pi),
    with an unshaped cost f = g(s, a). ``logits`` is per transition; the trainer
    sums it over each trajectory (``trajectory_level``)."""

    shaped = False
    trajectory_level = True

    def __init__(
        self,
        obs_dim: int,
        act_dim: int,
        hidden: Sequence[int] = (32, 32),
        gamma: float = 0.99,
        state_only: bool = False,
    ):
        super().__init__(obs_dim, act_dim, hidden, gamma, state_only)

    def f(self, obs, act, next_obs, done) -> torch.Tensor:
        return self.g(obs, act)


def make_discriminator(
    kind: str, obs_dim: int, act_dim: int, *, hidden: Sequence[int], gamma: float, state_only: bool
) -> nn.Module:
    """'airl', 'gail' or 'gan-gcl'."""
    if kind == "airl":
        return AIRLDiscriminator(obs_dim, act_dim, hidden, gamma, state_only)
    if kind == "gail":
        return GAILDiscriminator(obs_dim, act_dim, hidden, state_only)
    if kind == "gan-gcl":
        return GANGCLDiscriminator(obs_dim, act_dim, hidden, gamma, state_only)
    raise ValueError(f"unknown discriminator '{kind}' (airl, gail, gan-gcl)")
