"""The paper's diagnostic GridWorld (§V-B, Table I, Fig. 3).

5x5 grid, 25 states, 5 actions (Stop, Left, Right, Up, Down), random initial
state, fixed-length episodes. The reward is a map over cells, received on
arrival: r(s, a, s') = R[s']. Moves into a wall leave the agent in place;
with ``slip`` > 0 the move is replaced by a uniformly random one.

``GridWorld`` is the vectorised numpy core the trainers use; ``GridWorldEnv``
is the gymnasium wrapper registered as ``mairl/GridWorld-v0``. The expert is
the soft-optimal (MaxEnt) policy from soft value iteration on the true reward.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import gymnasium as gym
import numpy as np
import torch
from gymnasium import spaces

ACTIONS = ("Stop", "Left", "Right", "Up", "Down")
_MOVES = ((0, 0), (0, -1), (0, 1), (-1, 0), (1, 0))  # (d_row, d_col)


@dataclass
class GridWorldConfig:
    """The environment and its expert (``config/gridworld.yaml``, section ``env``)."""

    size: int = 5
    horizon: int = 20
    """Steps per episode (fixed length: no termination bias)."""
    gamma: float = 0.9
    """Discount of the soft-optimal expert (and of the learners' shaping)."""
    slip: float = 0.0
    reward_map: list[list[float]] = field(default_factory=lambda: [[0.0] * 5 for _ in range(5)])
    expert_beta: float = 5.0
    """Inverse temperature of the soft-optimal expert: pi_E(a|s) ~ exp(beta Q_soft(s, a))."""

    def __post_init__(self) -> None:
        rm = np.asarray(self.reward_map, dtype=float)
        if rm.shape != (self.size, self.size):
            raise ValueError(f"reward_map must be {self.size}x{self.size}, got shape {rm.shape}")
        if not np.all(np.isfinite(rm)):
            raise ValueError("reward_map has non-finite values")
        if not 0.0 <= self.slip < 1.0:
            raise ValueError(f"slip must be in [0, 1), got {self.slip}")
        if self.horizon <= 0 or self.expert_beta <= 0 or not 0 < self.gamma < 1:
            raise ValueError("horizon and expert_beta must be > 0 and gamma in (0, 1)")


class GridWorld:
    """Vectorised GridWorld: ``n_envs`` agents stepping in lock-step."""

    n_actions = len(ACTIONS)

    def __init__(self, cfg: GridWorldConfig, n_envs: int = 1, seed: int | None = None):
        self.cfg = cfg
        self.n_states = cfg.size * cfg.size
        self.n_envs = n_envs
        self.rewards = np.asarray(cfg.reward_map, dtype=np.float64).reshape(-1)
        self.next_state = self._transition_table()
        self.rng = np.random.default_rng(seed)
        self.state = np.zeros(n_envs, dtype=np.int64)
        self.t = 0

    def _transition_table(self) -> np.ndarray:
        n = self.cfg.size
        table = np.zeros((self.n_states, self.n_actions), dtype=np.int64)
        for s in range(self.n_states):
            r, c = divmod(s, n)
            for a, (dr, dc) in enumerate(_MOVES):
                rr, cc = r + dr, c + dc
                table[s, a] = rr * n + cc if 0 <= rr < n and 0 <= cc < n else s
        return table

    def transition_matrix(self) -> np.ndarray:
        """P[s, a, s'] including slip."""
        p = np.zeros((self.n_states, self.n_actions, self.n_states))
        for a in range(self.n_actions):
            p[np.arange(self.n_states), a, self.next_state[:, a]] += 1.0 - self.cfg.slip
            for b in range(self.n_actions):
                p[np.arange(self.n_states), a, self.next_state[:, b]] += self.cfg.slip / self.n_actions
        return p

    def reset(self, states: np.ndarray | None = None) -> np.ndarray:
        self.state = (
            self.rng.integers(0, self.n_states, self.n_envs)
            if states is None
            else np.asarray(states, dtype=np.int64).copy()
        )
        self.t = 0
        return self.state.copy()

    def step_from(self, states: np.ndarray, actions: np.ndarray) -> np.ndarray:
        """Next states from arbitrary (state, action) pairs, without changing the env."""
        actions = np.asarray(actions, dtype=np.int64)
        if self.cfg.slip > 0:
            slip = self.rng.random(actions.shape) < self.cfg.slip
            actions = np.where(slip, self.rng.integers(0, self.n_actions, actions.shape), actions)
        return self.next_state[np.asarray(states, dtype=np.int64), actions]

    def step(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, bool]:
        """Returns (next states, rewards R[s'], episode over)."""
        self.state = self.step_from(self.state, actions)
        self.t += 1
        return self.state.copy(), self.rewards[self.state], self.t >= self.cfg.horizon

    def one_hot(self, states: np.ndarray) -> np.ndarray:
        return np.eye(self.n_states, dtype=np.float32)[np.asarray(states, dtype=np.int64)]


def soft_value_iteration(
    env: GridWorld, beta: float, gamma: float, tol: float = 1e-10, max_iter: int = 10_000
) -> tuple[np.ndarray, np.ndarray]:
    """Soft (MaxEnt) value iteration on the true reward.

    Q(s,a) = E_{s'}[R[s'] + gamma V(s')], V(s) = (1/beta) log sum_a exp(beta Q(s,a)).
    Returns (Q, pi) with pi(a|s) = softmax(beta Q(s, .)).
    """
    p = env.transition_matrix()
    v = np.zeros(env.n_states)
    for _ in range(max_iter):
        q = p @ (env.rewards + gamma * v)
        m = q.max(1, keepdims=True)
        v_new = (m + np.log(np.exp(beta * (q - m)).sum(1, keepdims=True)) / beta).squeeze(1)
        if np.max(np.abs(v_new - v)) < tol:
            v = v_new
            break
        v = v_new
    q = p @ (env.rewards + gamma * v)
    logits = beta * q
    pi = np.exp(logits - logits.max(1, keepdims=True))
    return q, pi / pi.sum(1, keepdims=True)


@dataclass
class Demos:
    """Expert trajectories: states (N, T+1) and actions (N, T), integer-coded."""

    states: np.ndarray
    actions: np.ndarray

    @property
    def n(self) -> int:
        return len(self.actions)


def sample_demos(env_cfg: GridWorldConfig, pi: np.ndarray, n_demos: int, seed: int) -> Demos:
    """Roll the expert policy ``pi`` (S x A) out for ``n_demos`` episodes."""
    env = GridWorld(env_cfg, n_envs=n_demos, seed=seed)
    rng = np.random.default_rng(seed + 1)
    states = [env.reset()]
    actions = []
    for _ in range(env_cfg.horizon):
        s = states[-1]
        cum = pi[s].cumsum(1)
        a = (rng.random((n_demos, 1)) < cum).argmax(1)
        actions.append(a)
        states.append(env.step(a)[0])
    return Demos(np.stack(states, 1), np.stack(actions, 1))


def evaluate_tabular(env_cfg: GridWorldConfig, pi: np.ndarray, episodes: int, seed: int) -> np.ndarray:
    """Undiscounted returns of a tabular policy (S x A) over ``episodes`` episodes."""
    env = GridWorld(env_cfg, n_envs=episodes, seed=seed)
    rng = np.random.default_rng(seed + 7)
    s = env.reset()
    ret = np.zeros(episodes)
    done = False
    while not done:
        a = (rng.random((episodes, 1)) < pi[s].cumsum(1)).argmax(1)
        s, r, done = env.step(a)
        ret += r
    return ret


class GridWorldEnv(gym.Env):
    """gymnasium API over one GridWorld: Discrete(25) observations, Discrete(5) actions."""

    metadata = {"render_modes": ["ansi"], "render_fps": 4}

    def __init__(self, config: GridWorldConfig | None = None, render_mode: str | None = None):
        if config is None:
            from ..config import load_config

            config = load_config(GridWorldConfig, "gridworld", section="env")
        self.cfg = config
        self.core = GridWorld(config, n_envs=1)
        self.observation_space = spaces.Discrete(self.core.n_states)
        self.action_space = spaces.Discrete(GridWorld.n_actions)
        self.render_mode = render_mode

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        self.core.rng = self.np_random
        start = None if not options or "state" not in options else [int(options["state"])]
        s = self.core.reset(start)
        return int(s[0]), {}

    def step(self, action):
        if not self.action_space.contains(action):
            raise ValueError(f"invalid GridWorld action {action!r}; expected 0..4 {ACTIONS}")
        s, r, over = self.core.step(np.array([int(action)]))
        return int(s[0]), float(r[0]), False, bool(over), {}

    def render(self):
        n = self.cfg.size
        grid = [["." for _ in range(n)] for _ in range(n)]
        r, c = divmod(int(self.core.state[0]), n)
        grid[r][c] = "A"
        return "\n".join(" ".join(row) for row in grid)


class GridWorldVecEnv:
    """The trainers' view of GridWorld: one-hot float observations, as tensors."""

    discrete = True
    dynamics_head = "categorical"

    def __init__(self, cfg: GridWorldConfig, n_envs: int, seed: int | None = None):
        self.core = GridWorld(cfg, n_envs=n_envs, seed=seed)
        self.obs_dim = self.core.n_states
        self.act_dim = GridWorld.n_actions
        self.n_envs = n_envs
        self.horizon = cfg.horizon
        self._eye = torch.eye(self.obs_dim)

    def _obs(self, states: np.ndarray) -> torch.Tensor:
        return self._eye[torch.as_tensor(states)]

    def reset(self) -> torch.Tensor:
        return self._obs(self.core.reset())

    def step(self, env_actions: torch.Tensor):
        s, r, over = self.core.step(env_actions.numpy())
        return self._obs(s), r, over

    def rng_state(self) -> dict:
        return self.core.rng.bit_generator.state

    def set_rng_state(self, state: dict) -> None:
        self.core.rng.bit_generator.state = state

    def step_from(self, obs: torch.Tensor, env_actions: torch.Tensor) -> torch.Tensor:
        states = obs.argmax(-1).numpy()
        return self._obs(self.core.step_from(states, env_actions.numpy()))

    def demos_to_transitions(self, demos: Demos):
        """Expert demos as the trainers' fixed-length episode tensors."""
        from ..algos.transitions import Transitions

        s = torch.as_tensor(demos.states)
        a = torch.as_tensor(demos.actions)
        obs = self._eye[s]
        return Transitions(
            obs=obs[:, :-1],
            act=torch.eye(self.act_dim)[a],
            next_obs=obs[:, 1:],
            done=torch.zeros(a.shape, dtype=torch.float32),
        )
