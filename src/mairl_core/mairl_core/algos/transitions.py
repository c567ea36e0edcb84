"""What the trainers pass around: fixed-length episodes of transitions, the agent's episode
buffer, and what a trainer needs of an environment."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import torch


class VecEnv(Protocol):
    """What the trainers need of an environment (all tensors are float32)."""

    obs_dim: int
    act_dim: int
    discrete: bool
    n_envs: int
    horizon: int
    dynamics_head: str  # 'gaussian' or 'categorical'

    def reset(self) -> torch.Tensor: ...
    def step(self, env_actions: torch.Tensor) -> tuple[torch.Tensor, np.ndarray, bool]: ...
    def step_from(self, obs: torch.Tensor, env_actions: torch.Tensor) -> torch.Tensor: ...
    def rng_state(self) -> dict: ...
    def set_rng_state(self, state: dict) -> None: ...


@dataclass
class Transitions:
    """Episodes of fixed length T: obs/next_obs (E, T, obs_dim), act (E, T, act_dim)."""

    obs: torch.Tensor
    act: torch.Tensor
    next_obs: torch.Tensor
    done: torch.Tensor
    env_reward: torch.Tensor | None = None
    logp: torch.Tensor | None = None

    def map(self, fn) -> Transitions:
        """Apply ``fn`` to every field that is present."""
        return Transitions(*(None if (x := getattr(self, k)) is None else fn(x) for k in FIELDS))

    def flat(self) -> Transitions:
        return self.map(lambda x: x.reshape(-1, *x.shape[2:]))

    def __len__(self) -> int:
        return self.obs.shape[0]

    def index(self, idx) -> Transitions:
        return self.map(lambda x: x[idx])


FIELDS = tuple(f.name for f in dataclasses.fields(Transitions))


def cat_transitions(*parts: Transitions) -> Transitions:
    """The fields F and D read (obs, act, next_obs, done) of ``parts``, one after another."""
    return Transitions(
        *(torch.cat([getattr(x, k) for x in parts]) for k in ("obs", "act", "next_obs", "done"))
    )


class EpisodeBuffer:
    """Ring buffer of whole fixed-length episodes (the experience buffer D)."""

    def __init__(self, capacity_steps: int, horizon: int):
        self.capacity = max(1, capacity_steps // horizon)
        self.horizon = horizon
        self.data: Transitions | None = None
        self.size = 0
        self.ptr = 0

    def add(self, ep: Transitions) -> None:
        n = len(ep)
        if self.data is None:
            self.data = ep.map(lambda x: torch.zeros((self.capacity, *x.shape[1:]), dtype=x.dtype))
        idx = (self.ptr + torch.arange(n)) % self.capacity
        for k in FIELDS:
            src = getattr(ep, k)
            if src is not None:
                getattr(self.data, k)[idx] = src
        self.ptr = (self.ptr + n) % self.capacity
        self.size = min(self.size + n, self.capacity)

    def state_dict(self) -> dict:
        fields = (
            {}
            if self.data is None
            else {
                k: getattr(self.data, k)[: self.size].clone()
                for k in FIELDS
                if getattr(self.data, k) is not None
            }
        )
        return {"ptr": self.ptr, "size": self.size, "fields": fields}

    def load_state_dict(self, state: dict) -> None:
        self.data, self.size, self.ptr = None, 0, 0
        if state["fields"]:
            self.add(Transitions(**state["fields"]))
        self.ptr, self.size = int(state["ptr"]), int(state["size"])

    def recent_episodes(self, n_steps: int) -> Transitions:
        n = min(self.size, max(1, n_steps // self.horizon))
        idx = (self.ptr - 1 - torch.arange(n)) % self.capacity
        return self.data.index(idx)
