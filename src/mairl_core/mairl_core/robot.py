"""UR5 reaching and grasping as training tasks: demos from bags, trainers, BC, evaluation, video.

The experiment file (``config/reach_train.yaml``, ``config/grasp_train.yaml``)
has the sections ``demos`` (how many bags to use), ``algo`` (overrides of
``config/mairl.yaml``), ``eval``, ``bc_steps`` and ``bench``. The envs
themselves are ``config/ur5_reach.yaml`` / ``config/ur5_grasp.yaml`` and the
limits ``config/safety.yaml``, shared with the ROS nodes.

Evaluation runs the policy's mean action (no exploration noise) from start
targets drawn by ``seed``; an episode succeeds when the env's success test
holds at its end (reach: fingertip within the success radius of the block;
grasp: the block held by suction and lifted).
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .algos.adversarial import AdversarialTrainer, make_policy
from .algos.config import AlgoConfig
from .algos.normalize import NormalizedPolicy, ObsNorm
from .algos.transitions import Transitions
from .config import (
    ConfigError,
    Count,
    Seed,
    algo_settings,
    from_dict,
    read_experiment_yaml,
    section,
    with_overrides,
)
from .envs.tasks import task_env_cls, task_env_config  # noqa: F401 - re-exported for callers
from .models.nets import adam


@dataclass
class RobotDemoConfig:
    n_demos: Count = 50
    """Use the first n episodes of the dataset (sorted by name)."""
    seed: Seed = 0
    """Seed of ``mairl demos`` when the dataset is generated."""


@dataclass
class RobotEvalConfig:
    episodes: Count = 100
    seed: Seed = 10_000
    """Test targets: seed + episode index (training envs use seeds < 10,000)."""


@dataclass
class RobotExperiment:
    demos: RobotDemoConfig = field(default_factory=RobotDemoConfig)
    algo: AlgoConfig = field(default_factory=AlgoConfig)
    eval: RobotEvalConfig = field(default_factory=RobotEvalConfig)
    bc_steps: int = 3000
    """Gradient steps of the ``bc`` method (batch_size, bc_lr)."""


#: The experiment file a task's commands read when none is given (``mairl train``, ``mairl bench
#: ur5``, ``mairl sweep``, the ``mairl-trainer`` node): reach's Table III recipe from scratch
#: (SVG(1), no BC; bench/RESULTS.md); grasp keeps the BC term, its from-scratch bar not yet met.
DEFAULT_CONFIGS = {"reach": "reach_table3", "grasp": "grasp_train"}


def load_robot_experiment(path: str | os.PathLike = DEFAULT_CONFIGS["reach"]) -> RobotExperiment:
    return robot_experiment(*read_experiment_yaml(path))


def robot_experiment(p: Path, data: dict[str, Any]) -> RobotExperiment:
    """The experiment of ``read_experiment_yaml``'s sections ``data``, read from ``p``."""
    unknown = set(data) - {"demos", "algo", "eval", "bc_steps", "bench"}
    if unknown:
        raise ConfigError(
            f"{p}: unknown section(s) {sorted(unknown)}; expected demos, algo, eval, bc_steps, bench"
        )
    algo = algo_settings(data, p)
    bc_steps = data.get("bc_steps", RobotExperiment.bc_steps)
    if not isinstance(bc_steps, int) or bc_steps < 0:
        raise ConfigError(f"{p}:bc_steps: expected a non-negative integer, got {bc_steps!r}")
    return RobotExperiment(
        demos=from_dict(RobotDemoConfig, section(data, "demos", p), f"{p}:demos"),
        algo=from_dict(AlgoConfig, algo, f"{p}:algo"),
        eval=from_dict(RobotEvalConfig, section(data, "eval", p), f"{p}:eval"),
        bc_steps=bc_steps,
    )


def load_robot_demos(demo_dir: str | os.PathLike, n: int | None = None, task: str = "reach") -> Transitions:
    """Expert transitions from a directory of MCAP episode bags (``mairl demos`` output);
    ``read_dataset`` checks the bags (BagError, a ValueError, names the bad one)."""
    from .data.bags import grasp_transitions, reach_transitions, read_dataset
    from .envs.ur5_model import load_ur5

    ur5 = load_ur5()
    episodes = read_dataset(demo_dir, n, grasp=task == "grasp", robot=ur5)
    if task == "grasp":
        arrays = grasp_transitions(episodes, ur5, task_env_cls(task).step_bound() / 2)
    else:
        arrays = reach_transitions(episodes, ur5)
    t = {k: torch.as_tensor(v, dtype=torch.float32) for k, v in arrays.items()}
    return Transitions(t["obs"], t["act"], t["next_obs"], torch.zeros(t["act"].shape[:2]))


def make_robot_trainer(
    exp: RobotExperiment,
    algo: str,
    expert: Transitions,
    seed: int,
    state_only: bool = True,
    overrides: dict[str, Any] | None = None,
    task: str = "reach",
    env_config: str | os.PathLike | None = None,
) -> AdversarialTrainer:
    from .envs.ur5_reach import UR5ReachVecEnv

    cfg = with_overrides(
        dataclasses.replace(exp.algo, state_only=state_only), overrides or {}, f"{algo} settings"
    )
    env = UR5ReachVecEnv(
        cfg.n_envs, seed=seed, env_cls=task_env_cls(task), config=task_env_config(task, env_config)
    )
    return AdversarialTrainer(algo, cfg, env, expert, seed=seed)


def train_bc(
    exp: RobotExperiment, expert: Transitions, seed: int, steps: int | None = None
) -> tuple[NormalizedPolicy, dict[str, Any]]:
    """Behaviour cloning: max log-likelihood of the demos' actions, the same policy class and
    normalisation as the adversarial methods. Returns the deployable policy and its state."""
    from .envs.ur5_reach import UR5ReachEnv

    torch.manual_seed(seed)
    cfg = exp.algo
    bound = UR5ReachEnv.step_bound()
    norm = ObsNorm.fit(expert.obs, expert.act, cfg.obs_std_min, cfg.act_std_min_frac * bound)
    policy = make_policy(cfg, expert.obs.shape[-1], expert.act.shape[-1], False, bound / norm.act_scale)
    flat = expert.flat()
    obs, act = norm(flat.obs), flat.act / norm.act_scale
    gen = torch.Generator().manual_seed(seed)
    opt = adam(policy.parameters(), cfg.bc_lr)
    for _ in range(exp.bc_steps if steps is None else steps):
        i = torch.randint(0, len(obs), (cfg.batch_size,), generator=gen)
        loss = -policy.log_prob(obs[i], act[i]).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    state = {"modules": {"policy": policy.state_dict(), "obs_norm": norm.state_dict()}}
    return NormalizedPolicy(policy, norm), state


@torch.no_grad()
def evaluate_robot(
    policy: torch.nn.Module,
    episodes: int,
    seed: int,
    *,
    batch: int = 25,
    deterministic: bool = True,
    video: str | os.PathLike | None = None,
    video_episodes: int = 3,
    task: str = "reach",
    env_config: str | os.PathLike | None = None,
) -> dict[str, Any]:
    """Success and final distance of ``episodes`` episodes of ``task`` with targets from ``seed``
    (grasp: also the final lift of the block); ``env_config``: another env YAML (e.g. a
    changed robot).

    ``video``: also write the first ``video_episodes`` episodes as an animated GIF.
    """
    env_cls = task_env_cls(task)
    config = task_env_config(task, env_config)
    want = (env_cls.obs_dim, env_cls.act_dim)
    if (getattr(policy, "obs_dim", want[0]), getattr(policy, "act_dim", want[1])) != want:
        raise ValueError(
            f"policy has obs_dim {policy.obs_dim}, act_dim {policy.act_dim}; "
            f"UR5 {task} needs {want[0]} and {want[1]}"
        )
    finals, successes, lifts, clipped, rejected, suction_rejected = [], [], [], 0, 0, 0
    frames: list[np.ndarray] = []
    done = 0
    while done < episodes:
        n = min(batch, episodes - done)
        envs = [
            env_cls(config, render_mode="rgb_array" if video and done + i < video_episodes else None)
            for i in range(n)
        ]
        obs = np.stack([e.reset(seed=seed + done + i)[0] for i, e in enumerate(envs)])
        for _ in range(envs[0].cfg.episode_steps):
            act = policy.act(torch.as_tensor(obs), deterministic).numpy()
            out = [e.step(a) for e, a in zip(envs, act)]
            obs = np.stack([o[0] for o in out])
            clipped += sum(bool(o[4]["safety_clipped"]) for o in out)
            # a NaN/inf or malformed command is rejected, not clipped: the arm held
            rejected += sum("safety_rejected" in o[4] for o in out)
            suction_rejected += sum("suction_rejected" in o[4] for o in out)
            for e in envs:
                if e.render_mode == "rgb_array":
                    frames.append(e.render())
        for e in envs:
            finals.append(e.distance())
            successes.append(e.is_success())
            if task == "grasp":
                lifts.append(e.lift())
            e.close()
        done += n
    finals_a = np.array(finals)
    result = {
        "success_rate": float(np.mean(successes)),
        "episodes": episodes,
        "eval_seed": seed,
        "deterministic": deterministic,
        "final_distance_mean": float(finals_a.mean()),
        "final_distance_median": float(np.median(finals_a)),
        "final_distance_quantiles": {
            q: float(np.quantile(finals_a, float(q))) for q in ("0.1", "0.25", "0.5", "0.75", "0.9")
        },
        "final_distances": finals_a.tolist(),
        "safety_clipped_steps": int(clipped),
        "safety_rejected_steps": int(rejected),
    }
    if lifts:
        result["final_lift_median"] = float(np.median(lifts))
        result["suction_rejected_steps"] = int(suction_rejected)
    if video and frames:
        result["video"] = str(write_gif(frames, video))
    return result


def write_gif(frames: list[np.ndarray], path: str | os.PathLike, fps: int = 25) -> Path:
    from PIL import Image

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    images = [Image.fromarray(f) for f in frames[::2]]  # every other control step keeps it small
    images[0].save(path, save_all=True, append_images=images[1:], duration=int(2000 / fps), loop=0)
    return path
