"""Fixed observation and action normalisation from the demonstrations.

Robot observations mix units (rad, rad/s / limit, metres), and the metre
components that decide success are small; a human's joint steps are a few
milliradians, which a network taking them as input (the dynamics model, a
g(s, a) reward) barely sees. Every network of a run (policy, discriminator,
dynamics model) therefore works in ``(obs - mean) / std`` and ``act / scale``
with the statistics of the expert demonstrations, fixed for the whole run: a
running estimate would move the discriminator's and the model's inputs under
them. The statistics are a module of the trainer, so they travel in its
checkpoint, and ``NormalizedPolicy`` gives a deployed policy raw
observations and returns actions in the robot's units.
"""

from __future__ import annotations

import torch
from torch import nn


class ObsNorm(nn.Module):
    """(obs - mean) / std and act / act_scale with fixed buffers (floored stds)."""

    def __init__(self, obs_dim: int, act_dim: int):
        super().__init__()
        self.register_buffer("mean", torch.zeros(obs_dim))
        self.register_buffer("std", torch.ones(obs_dim))
        self.register_buffer("act_scale", torch.ones(act_dim))

    @classmethod
    def fit(
        cls,
        obs: torch.Tensor,
        act: torch.Tensor,
        min_std: float = 1e-2,
        act_min_std: float | torch.Tensor = 0.0,
    ) -> ObsNorm:
        """Statistics of demonstrations: obs (..., obs_dim), act (..., act_dim)."""
        flat = obs.reshape(-1, obs.shape[-1]).to(torch.float32)
        aflat = act.reshape(-1, act.shape[-1]).to(torch.float32)
        if not (torch.isfinite(flat).all() and torch.isfinite(aflat).all()):
            raise ValueError("cannot fit normalisation statistics: NaN or inf in the demonstrations")
        norm = cls(flat.shape[-1], aflat.shape[-1])
        norm.mean.copy_(flat.mean(0))
        norm.std.copy_(flat.std(0, unbiased=False).clamp_min(min_std))
        a_std = aflat.std(0, unbiased=False)
        norm.act_scale.copy_(torch.maximum(a_std, torch.as_tensor(act_min_std, dtype=a_std.dtype)))
        if not bool((norm.act_scale > 0).all()):
            raise ValueError(
                "an action dimension never varies in the demonstrations: set a minimum action std"
            )
        return norm

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return (obs - self.mean) / self.std

    def inverse(self, obs: torch.Tensor) -> torch.Tensor:
        return obs * self.std + self.mean


class NormalizedVecEnv:
    """A trainer-side VecEnv whose observations are ``norm(obs)``; actions pass unchanged."""

    def __init__(self, env, norm: ObsNorm):
        self.env, self.norm = env, norm

    def __getattr__(self, name):  # obs_dim, act_dim, horizon, n_envs, discrete, ...
        return getattr(self.env, name)

    @torch.no_grad()
    def reset(self) -> torch.Tensor:
        return self.norm(self.env.reset())

    @property
    def action_scale(self):
        """The env's action bound in normalised units (None: unbounded)."""
        bound = getattr(self.env, "action_scale", None)
        return None if bound is None else bound / self.norm.act_scale

    @property
    def current(self) -> torch.Tensor:
        """The observation to act on next, normalised (an env that resets within an episode,
        envs.locomotion); AttributeError where the env has none."""
        with torch.no_grad():
            return self.norm(self.env.current)

    @torch.no_grad()
    def step(self, env_actions: torch.Tensor):
        obs, rew, over = self.env.step(env_actions * self.norm.act_scale)
        return self.norm(obs), rew, over

    @torch.no_grad()
    def step_from(self, obs: torch.Tensor, env_actions: torch.Tensor) -> torch.Tensor:
        return self.norm(self.env.step_from(self.norm.inverse(obs), env_actions * self.norm.act_scale))


class NormalizedPolicy(nn.Module):
    """A trained policy that takes raw observations (for evaluation and deployment)."""

    def __init__(self, policy: nn.Module, norm: ObsNorm | None):
        super().__init__()
        self.policy, self.norm = policy, norm
        self.obs_dim, self.act_dim = policy.obs_dim, policy.act_dim
        self.discrete = policy.discrete

    def _n(self, obs: torch.Tensor) -> torch.Tensor:
        return obs if self.norm is None else self.norm(obs)

    def forward(self, obs: torch.Tensor):
        return self.policy(self._n(obs))

    def _scale(self) -> torch.Tensor | float:
        return 1.0 if self.norm is None else self.norm.act_scale

    def log_prob(self, obs: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        """Log-density of an action in the robot's units (of its normalised value)."""
        return self.policy.log_prob(self._n(obs), action / self._scale())

    @torch.no_grad()
    def act(self, obs: torch.Tensor, deterministic: bool = False) -> torch.Tensor:
        return self.policy.act(self._n(obs), deterministic) * self._scale()
