"""gymnasium's MuJoCo locomotion tasks (HalfCheetah-v5, Ant-v5) as the trainers' VecEnv.

Training episodes have a fixed length (``horizon``, 1000 as the tasks' own time limit),
which the trainers' episode buffer assumes: Ant's early termination on falling is
switched off while training (the fall itself, not a cut episode, is what the learned
reward must score). Evaluation (``evaluate_locomotion``) uses the standard tasks, with
termination, and reports the true return.

``reset_turned_over``: an env whose torso has turned over (Ant on its back, which Ant counts
healthy) is reset at once and the episode goes on from the new start. The transition into the
turned-over state is kept as a truncation (the critic bootstraps from it); the next one starts
from ``current``, the new start, and the replay marks it as a run start (its observation is not
the last transition's next one), so that model sequences never cross it.
"""

from __future__ import annotations

import numpy as np

from ..experts import make_env

#: extra keyword arguments for the training envs
TRAIN_KWARGS = {"HalfCheetah-v5": {}, "Ant-v5": {"terminate_when_unhealthy": False}}


def torso_up(env) -> float:
    """The world-z component of a free-floating torso's own z axis (1 upright, below 0 on its
    back), from its quaternion (w, x, y, z) in qpos[3:7]."""
    _, x, y, _ = env.unwrapped.data.qpos[3:7]
    return float(1.0 - 2.0 * (x * x + y * y))


#: envs whose torso can turn over, and the test for it (``reset_turned_over``)
TURNED_OVER = {"Ant-v5": lambda env: torso_up(env) < 0.0}


def make_train_env(env_id: str):
    """A training env: the benchmark's settings, or for any other gymnasium env id, without
    early termination where the env has that switch (``terminate_when_unhealthy``)."""
    if env_id in TRAIN_KWARGS:
        return make_env(env_id, **TRAIN_KWARGS[env_id])
    try:
        return make_env(env_id, terminate_when_unhealthy=False)
    except ValueError:
        return make_env(env_id)


class LocomotionVecEnv:
    """``n_envs`` copies of ``env_id`` stepping in lock-step (float32 tensors)."""

    discrete = False
    dynamics_head = "gaussian"

    def __init__(
        self,
        env_id: str,
        n_envs: int = 1,
        seed: int = 0,
        horizon: int = 1000,
        reset_turned_over: bool = False,
    ):
        import torch

        if reset_turned_over and env_id not in TURNED_OVER:
            raise ValueError(
                f"reset_turned_over: {env_id} has no turned-over test (only {', '.join(sorted(TURNED_OVER))})"
            )
        self.turned_over = TURNED_OVER[env_id] if reset_turned_over else None
        self.resets = 0  # envs reset mid-episode for turning over, since construction

        self._torch = torch
        self.env_id = env_id
        self.envs = [make_train_env(env_id) for _ in range(n_envs)]
        for i, e in enumerate(self.envs):
            e.reset(seed=seed * 10_007 + i)  # seeds each env's generator once
            e.action_space.seed(seed * 10_007 + i)
        self.n_envs, self.horizon = n_envs, horizon
        self.obs_dim = self.envs[0].observation_space.shape[0]
        self.act_dim = self.envs[0].action_space.shape[0]
        high = self.envs[0].action_space.high
        if not np.allclose(high, -self.envs[0].action_space.low):
            raise ValueError(f"{env_id}: the policies assume a symmetric action box")
        self.action_scale = torch.as_tensor(high, dtype=torch.float32)
        self.t = 0

    def reset(self):
        self.t = 0
        return self._torch.as_tensor(np.stack([e.reset()[0] for e in self.envs]), dtype=self._torch.float32)

    def step(self, env_actions):
        """The transition's next observations, rewards and whether the episode is over. Where
        an env turned over (``reset_turned_over``) it is reset and ``current`` holds the
        observation to act on next (else the next observation)."""
        out = [e.step(a) for e, a in zip(self.envs, env_actions.numpy())]
        self.t += 1
        obs = self._torch.as_tensor(np.stack([o[0] for o in out]), dtype=self._torch.float32)
        self.current = obs
        if self.turned_over is not None:
            over = [i for i, e in enumerate(self.envs) if self.turned_over(e)]
            if over and self.t < self.horizon:  # at the horizon reset() follows
                self.current = obs.clone()
                for i in over:
                    start = self.envs[i].reset()[0]
                    self.current[i] = self._torch.as_tensor(start, dtype=self._torch.float32)
                    self.resets += 1
        return obs, np.array([o[1] for o in out]), self.t >= self.horizon

    def step_from(self, obs, env_actions):
        raise NotImplementedError(
            "a MuJoCo locomotion env cannot be reset to an arbitrary observation: use rollout_mode 'imagined'"
        )

    def rng_state(self) -> dict:
        return {"envs": [e.unwrapped.np_random.bit_generator.state for e in self.envs]}

    def set_rng_state(self, state: dict) -> None:
        for e, s in zip(self.envs, state["envs"]):
            e.unwrapped.np_random.bit_generator.state = s


#: one evaluation env per task and process (each episode is reset with its own seed, so
#: reuse changes nothing; building one per evaluation printed MuJoCo's compiler warning
#: about the gymnasium model's settotalmass each time)
_EVAL_ENVS: dict[str, object] = {}


def evaluate_locomotion(policy, env_id: str, episodes: int, seed: int, deterministic: bool = True) -> dict:
    """True returns of ``policy`` (raw observations -> actions) on the standard task."""
    import torch

    if env_id not in _EVAL_ENVS:
        _EVAL_ENVS[env_id] = make_env(env_id)
    env = _EVAL_ENVS[env_id]
    returns, lengths = [], []
    for i in range(episodes):
        obs, _ = env.reset(seed=seed + i)
        total, n, done = 0.0, 0, False
        while not done:
            with torch.no_grad():
                a = policy.act(torch.as_tensor(obs, dtype=torch.float32)[None], deterministic)[0]
            obs, r, term, trunc, _ = env.step(a.numpy())
            total, n, done = total + float(r), n + 1, term or trunc
        returns.append(total), lengths.append(n)
    return {
        "returns": returns,
        "return_mean": float(np.mean(returns)),
        "return_std": float(np.std(returns)),
        "episode_lengths": lengths,
    }
