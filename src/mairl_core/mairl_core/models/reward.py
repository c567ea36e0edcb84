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


class TaskInputs(nn.Module):
    """A discriminator's state inputs restricted to a task's entries: ``fn`` (an env's
    ``task_features``, on raw observations) of the observations the networks see
    (de-normalised by ``obs_norm`` when given), standardised by the demos' statistics
    (``fit``; buffers, so a checkpoint carries them)."""

    def __init__(self, fn, obs_dim: int, obs_norm: nn.Module | None = None):
        super().__init__()
        self.fn, self.obs_norm = fn, obs_norm
        self.dim = int(fn(torch.zeros(1, obs_dim)).shape[-1])
        self.register_buffer("mean", torch.zeros(self.dim))
        self.register_buffer("std", torch.ones(self.dim))

    def _raw(self, obs: torch.Tensor) -> torch.Tensor:
        return self.fn(obs if self.obs_norm is None else self.obs_norm.inverse(obs))

    @torch.no_grad()
    def fit(self, demo_obs: torch.Tensor, min_std: float) -> TaskInputs:
        x = self._raw(demo_obs.reshape(-1, demo_obs.shape[-1]))
        self.mean.copy_(x.mean(0))
        self.std.copy_(x.std(0, unbiased=False).clamp_min(min_std))
        return self

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return (self._raw(obs) - self.mean) / self.std


def _state_inputs(obs_dim: int, inputs: nn.Module | None) -> tuple[nn.Module, int]:
    """(the module mapping observations to the networks' state inputs, its width)."""
    return (nn.Identity(), obs_dim) if inputs is None else (inputs, inputs.dim)


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
        inputs: nn.Module | None = None,
    ):
        """``inputs``: a module mapping observations to g's and h's state inputs (with a
        ``dim``), e.g. ``TaskInputs``; None: the observation itself."""
        super().__init__()
        self.state_only = state_only
        self.gamma = gamma
        self.inputs, s_dim = _state_inputs(obs_dim, inputs)
        self.g_net = mlp(s_dim if state_only else s_dim + act_dim, hidden, 1)
        self.h_net = mlp(s_dim, hidden, 1)

    def g(self, obs: torch.Tensor, act: torch.Tensor) -> torch.Tensor:
        s = self.inputs(obs)
        x = s if self.state_only else torch.cat([s, act], -1)
        return self.g_net(x).squeeze(-1)

    def h(self, obs: torch.Tensor) -> torch.Tensor:
        return self.h_net(self.inputs(obs)).squeeze(-1)

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
        self,
        obs_dim: int,
        act_dim: int,
        hidden: Sequence[int] = (32, 32),
        state_only: bool = False,
        inputs: nn.Module | None = None,
    ):
        super().__init__()
        self.state_only = state_only
        self.inputs, s_dim = _state_inputs(obs_dim, inputs)
        self.net = mlp(s_dim if state_only else s_dim + act_dim, hidden, 1)

    def _x(self, obs, act):
        s = self.inputs(obs)
        return s if self.state_only else torch.cat([s, act], -1)

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
        inputs: nn.Module | None = None,
    ):
        super().__init__(obs_dim, act_dim, hidden, gamma, state_only, inputs)

    def f(self, obs, act, next_obs, done) -> torch.Tensor:
        return self.g(obs, act)


def make_discriminator(
    kind: str,
    obs_dim: int,
    act_dim: int,
    *,
    hidden: Sequence[int],
    gamma: float,
    state_only: bool,
    inputs: nn.Module | None = None,
) -> nn.Module:
    """'airl', 'gail' or 'gan-gcl'; ``inputs``: see AIRLDiscriminator."""
    if kind == "airl":
        return AIRLDiscriminator(obs_dim, act_dim, hidden, gamma, state_only, inputs)
    if kind == "gail":
        return GAILDiscriminator(obs_dim, act_dim, hidden, state_only, inputs)
    if kind == "gan-gcl":
        return GANGCLDiscriminator(obs_dim, act_dim, hidden, gamma, state_only, inputs)
    raise ValueError(f"unknown discriminator '{kind}' (airl, gail, gan-gcl)")
