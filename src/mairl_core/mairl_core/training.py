"""Training runs as a user starts them: progress, TensorBoard, checkpoints, resume.

``train_run`` wraps an ``AdversarialTrainer`` with what a long run needs; the
checkpoint carries the task, method and full config, so ``load_policy`` can
rebuild the policy for evaluation from the file alone.
"""

from __future__ import annotations

import os
from pathlib import Path
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from .algos.adversarial import METHODS, AdversarialTrainer, make_policy
from .algos.config import AlgoConfig
from .checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from .config import from_dict, to_dict

ALGOS = (*METHODS, "bc")
TASKS = ("gridworld", "reach", "grasp")


def build_gridworld(cfg_path: str | os.PathLike, algo: str, state_only: bool, seed: int,
                    overrides: dict[str, Any] | None = None):
    """The GridWorld experiment and a trainer for one seed."""
    from .benchmarks.gridworld import load_experiment, make_trainer

    exp = load_experiment(cfg_path)
    return exp, make_trainer(exp, algo, state_only, seed, overrides)


def train_run(trainer: AdversarialTrainer, out_dir: str | os.PathLike, *, meta: dict[str, Any],
              env_steps: int | None = None, checkpoint_every: int = 20, resume: bool = False,
              progress: bool = True, tensorboard: bool = True,
              on_checkpoint: Callable[[Path], None] | None = None) -> list[dict[str, float]]:
    """Train to ``env_steps`` with a progress bar, TensorBoard scalars and periodic checkpoints.

    The checkpoint is ``out_dir/checkpoint.pt`` (written atomically: an
    interruption never loses the previous one). With ``resume`` an existing
    checkpoint is loaded first and training continues where it stopped.
    ``on_checkpoint(path)`` runs after every save (e.g. to tell a policy server to reload).
    """
    from tqdm import tqdm

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    ckpt = out / "checkpoint.pt"
    if resume and ckpt.exists():
        payload = load_checkpoint(ckpt)
        if payload["meta"].get("method") != meta.get("method"):
            raise CheckpointError(f"{ckpt} holds a '{payload['meta'].get('method')}' run; "
                                  f"asked to resume '{meta.get('method')}'")
        trainer.load_state_dict(payload["state"])
    elif ckpt.exists():
        raise FileExistsError(f"{ckpt} exists: pass --resume to continue it, or choose another --out")
    budget = trainer.cfg.env_steps if env_steps is None else env_steps
    meta = {**meta, **policy_meta(trainer.cfg, trainer.policy)}
    writer = None
    if tensorboard:
        from torch.utils.tensorboard import SummaryWriter
        writer = SummaryWriter(str(out / "tb"))
    bar = tqdm(total=budget, initial=min(trainer.env_steps, budget), unit="step",
               desc=f"{meta.get('method')} {meta.get('task')}", disable=not progress)
    history: list[dict[str, float]] = []
    try:
        while trainer.env_steps < budget:
            before = trainer.env_steps
            m = trainer.train_iteration()
            history.append(m)
            if writer is not None:
                for k, v in m.items():
                    if k != "env_steps":
                        writer.add_scalar(k, v, trainer.env_steps)
            bar.update(min(trainer.env_steps, budget) - min(before, budget))
            post = {"ret": f"{m['env/true_return']:.2f}"}
            if "disc/accuracy" in m:
                post["d_acc"] = f"{m['disc/accuracy']:.2f}"
            if "env/success" in m:
                post["success"] = f"{m['env/success']:.2f}"
            bar.set_postfix(post)
            if trainer.iteration % checkpoint_every == 0:
                save_checkpoint(ckpt, trainer.state_dict(), **meta)
                if on_checkpoint is not None:
                    on_checkpoint(ckpt)
    finally:
        bar.close()
        if writer is not None:
            writer.close()
    save_checkpoint(ckpt, trainer.state_dict(), **meta)
    if on_checkpoint is not None:
        on_checkpoint(ckpt)
    return history


def policy_meta(cfg: AlgoConfig, policy: torch.nn.Module) -> dict[str, Any]:
    """What ``load_policy`` needs to rebuild ``policy``: config, sizes, action bound."""
    bound = policy.bound.tolist() if getattr(policy, "squashed", False) else None
    return {"config": to_dict(cfg), "obs_dim": policy.obs_dim, "act_dim": policy.act_dim,
            "discrete": bool(policy.discrete), "action_scale": bound}


def load_policy(path: str | os.PathLike) -> tuple[torch.nn.Module, dict[str, Any]]:
    """The policy of a checkpoint written by ``train_run`` (or ``mairl train --algo bc``), taking
    raw observations (any normalisation folded in; the policy's moving average if the run
    kept one), and the checkpoint's metadata."""
    from .algos.normalize import NormalizedPolicy, ObsNorm

    payload = load_checkpoint(path)
    meta = payload["meta"]
    for key in ("config", "obs_dim", "act_dim", "discrete"):
        if key not in meta:
            raise CheckpointError(f"{path}: not a training checkpoint (no '{key}' in its metadata)")
    cfg = from_dict(AlgoConfig, meta["config"], where=f"{path}:config")
    bound = meta.get("action_scale")
    policy = make_policy(cfg, meta["obs_dim"], meta["act_dim"], meta["discrete"],
                         None if bound is None else torch.as_tensor(bound))
    norm = None
    try:
        modules = payload["state"]["modules"]
        if "policy_avg" in modules:  # policy_ema: the average is the deployed policy
            policy.load_state_dict({k[len("module."):]: v for k, v in modules["policy_avg"].items()
                                    if k.startswith("module.")})
        else:
            policy.load_state_dict(modules["policy"])
        if "obs_norm" in modules:
            norm = ObsNorm(meta["obs_dim"], meta["act_dim"])
            norm.load_state_dict(modules["obs_norm"])
    except (KeyError, RuntimeError, TypeError) as exc:
        raise CheckpointError(f"{path}: policy weights do not fit the recorded config: {exc}") from None
    return NormalizedPolicy(policy, norm).eval(), meta


def evaluate_gridworld_policy(policy: torch.nn.Module, cfg_path: str | os.PathLike, episodes: int,
                              seed: int) -> np.ndarray:
    """Returns of ``episodes`` test episodes of a GridWorld policy (sampled actions)."""
    from .benchmarks.gridworld import load_experiment, policy_table
    from .envs.gridworld import evaluate_tabular

    exp = load_experiment(cfg_path)
    n = exp.env.size ** 2
    if getattr(policy, "obs_dim", n) != n:
        raise ValueError(f"policy expects {policy.obs_dim} observations; this GridWorld has {n} states")
    return evaluate_tabular(exp.env, policy_table(policy, n), episodes, seed)
