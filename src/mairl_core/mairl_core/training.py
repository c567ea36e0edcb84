"""Training runs as a user starts them: progress, TensorBoard, checkpoints, resume.

``train_run`` wraps an ``AdversarialTrainer`` with what a long run needs; the
checkpoint carries the task, method and full config, so ``load_policy`` can
rebuild the policy for evaluation from the file alone.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .algos.adversarial import AdversarialTrainer, make_policy
from .algos.config import AlgoConfig
from .checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from .config import from_dict, to_dict


def build_gridworld(
    cfg_path: str | os.PathLike,
    algo: str,
    state_only: bool,
    seed: int,
    overrides: dict[str, Any] | None = None,
):
    """The GridWorld experiment and a trainer for one seed."""
    from .benchmarks.gridworld import load_experiment, make_trainer

    exp = load_experiment(cfg_path)
    return exp, make_trainer(exp, algo, state_only, seed, overrides)


def train_run(
    trainer: AdversarialTrainer,
    out_dir: str | os.PathLike,
    *,
    meta: dict[str, Any],
    env_steps: int | None = None,
    checkpoint_every: int = 20,
    resume: bool = False,
    progress: bool = True,
    tensorboard: bool = True,
    on_checkpoint: Callable[[Path], None] | None = None,
    images: Callable[[], dict[str, np.ndarray]] | None = None,
) -> list[dict[str, float]]:
    """Train to ``env_steps`` with a progress bar, TensorBoard scalars and periodic checkpoints;
    returns the run's curve (one dict of metrics per iteration, from the run's start).

    The checkpoint is ``out_dir/checkpoint.pt``, written every ``checkpoint_every`` iterations
    and at the end, atomically (a temporary file renamed over it: a reader, or a run killed
    while writing, never sees half a file). It holds the trainer's whole state and the curve
    so far. With ``resume`` an existing checkpoint is loaded first and training continues
    where it stopped, exactly as if never stopped (what a killed run did after its last
    checkpoint is redone, and TensorBoard hides the events it had logged). A checkpoint of
    another method, task, mode, seed or config (the budget aside) is refused with a
    CheckpointError before anything is written. ``on_checkpoint(path)`` runs after every save
    (e.g. to tell a policy server to reload). ``images()``: pictures (name -> H x W x 3
    uint8) logged to TensorBoard at every save, e.g. GridWorld's learned reward map.
    """
    from tqdm import tqdm

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    ckpt = out / "checkpoint.pt"
    remove_unfinished_saves(ckpt)
    meta = {**meta, **policy_meta(trainer.cfg, trainer.policy)}
    history: list[dict[str, float]] = []
    resumed = False
    if resume and ckpt.exists():
        payload = load_checkpoint(ckpt)
        _check_same_run(ckpt, payload["meta"], meta)
        try:
            trainer.load_state_dict(payload["state"])
        except (ValueError, KeyError, TypeError) as exc:
            raise CheckpointError(f"cannot resume {ckpt}: {exc}") from None
        history = list(payload["state"].get("curve", []))
        resumed = True
    elif ckpt.exists():
        raise FileExistsError(
            f"{ckpt} exists: resume it (--resume; mairl-trainer: resume:=true), or choose another --out"
        )
    budget = trainer.cfg.env_steps if env_steps is None else env_steps
    writer = None
    if tensorboard:
        from torch.utils.tensorboard import SummaryWriter

        # resumed: hide the events a killed run logged after its last checkpoint (redone now)
        writer = SummaryWriter(str(out / "tb"), purge_step=trainer.env_steps + 1 if resumed else None)
    bar = tqdm(
        total=budget,
        initial=min(trainer.env_steps, budget),
        unit="step",
        desc=f"{meta.get('method')} {meta.get('task')}",
        disable=not progress,
    )

    saved_at = None

    def save() -> None:
        nonlocal saved_at
        save_checkpoint(ckpt, {**trainer.state_dict(), "curve": history}, **meta)
        saved_at = trainer.iteration
        if writer is not None and images is not None:
            for name, img in images().items():
                writer.add_image(name, img, trainer.env_steps, dataformats="HWC")
        if on_checkpoint is not None:
            on_checkpoint(ckpt)

    try:
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
                    save()
        finally:
            bar.close()
        if saved_at != trainer.iteration:  # the end is not on disk yet (or nothing ran: hook anyway)
            save()
    finally:
        if writer is not None:
            writer.close()
    return history


def remove_unfinished_saves(path: str | os.PathLike) -> list[Path]:
    """Delete the temporary files of saves of ``path`` that never finished (``save_checkpoint``
    writes ``.NAME.*.tmp`` beside it and renames it over ``path``; a process killed meanwhile
    leaves it behind). Only for a path no other process is saving now. Returns them."""
    path = Path(path)
    stale = sorted(path.parent.glob(f".{path.name}.*.tmp")) if path.parent.is_dir() else []
    for p in stale:
        p.unlink(missing_ok=True)
    return stale


#: what may change between a run and its resumption: the budget
_RESUMABLE_CHANGES = {"env_steps"}


def _check_same_run(ckpt: Path, saved: dict[str, Any], asked: dict[str, Any]) -> None:
    """CheckpointError (one line) if ``ckpt`` is not the run ``asked`` describes: another
    method, task, reward mode, seed or algorithm config (the env-step budget may grow).
    Keys an older checkpoint does not record are not compared."""
    for key in ("method", "task", "mode", "seed"):
        if key in saved and key in asked and saved[key] != asked[key]:
            raise CheckpointError(
                f"{ckpt} holds a {key} '{saved[key]}' run; asked to resume "
                f"{key} '{asked[key]}' (use the run's own settings, or another --out)"
            )
    old, new = saved.get("config"), asked.get("config")
    if isinstance(old, dict) and isinstance(new, dict):
        old = {
            k: v
            for k, v in old.items()  # deleted options, off in that run: not a change
            if not (k in REMOVED_OPTIONS and k not in new and v == REMOVED_OPTIONS[k])
        }
        changed = sorted(
            k for k in set(old) | set(new) if k not in _RESUMABLE_CHANGES and old.get(k) != new.get(k)
        )
        if changed:
            shown = ", ".join(f"{k} {old.get(k)!r} -> {new.get(k)!r}" for k in changed[:3])
            raise CheckpointError(
                f"{ckpt} was trained with another config ({shown}"
                f"{', ...' if len(changed) > 3 else ''}); a resumed run must use "
                f"the same one (only the env-step budget may change)"
            )


def policy_meta(cfg: AlgoConfig, policy: torch.nn.Module) -> dict[str, Any]:
    """What ``load_policy`` needs to rebuild ``policy``: config, sizes, action bound."""
    bound = policy.bound.tolist() if getattr(policy, "squashed", False) else None
    return {
        "config": to_dict(cfg),
        "obs_dim": policy.obs_dim,
        "act_dim": policy.act_dim,
        "discrete": bool(policy.discrete),
        "action_scale": bound,
        "state_std": bool(getattr(policy, "state_std", False)),
    }


#: training options measured not to help and deleted (bench/NOTEBOOK.md has their history),
#: with the values that meant "off"; older checkpoints' configs still name them
REMOVED_OPTIONS = {
    "policy_uses_ema": False,
    "rollout_critic": False,
    "critic_lr": 3e-4,
    "critic_lambda": 0.95,
    "bound_policy_mean": False,
    "random_negatives": 0,
    "random_negative_frac": 0.25,
    "disc_log_pi_weight": None,
    "disc_log_pi_std_min": 0.1,
}


def _older_config(meta: dict[str, Any], path: str | os.PathLike) -> dict[str, Any]:
    """The config of a checkpoint written by an older mairl: the deleted options dropped
    (``REMOVED_OPTIONS``; a policy trained with the bounded mean is refused), and where it
    predates the policy's smooth log-std bound (no ``state_std`` in its metadata) and
    ``log_std_init`` sits on ``log_std_max``, moved just inside, as only the loaded weights
    matter (the std is moved likewise)."""
    conf = {k: v for k, v in meta["config"].items() if k not in REMOVED_OPTIONS}
    if meta["config"].get("bound_policy_mean") is True:
        raise CheckpointError(
            f"{path}: its policy was trained with bound_policy_mean, an option "
            f"this mairl no longer has; load it with mairl at commit 0c86130"
        )
    if "state_std" in meta or not all(
        isinstance(conf.get(k), (int, float)) for k in ("log_std_init", "log_std_min", "log_std_max")
    ):
        return conf
    lo, init, hi = (float(conf[k]) for k in ("log_std_min", "log_std_init", "log_std_max"))
    if lo < init < hi:
        return conf
    hi = max(hi, lo + 1e-3)
    return {**conf, "log_std_max": hi, "log_std_init": min(max(init, lo + 1e-4), hi - 1e-4)}


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
    if not isinstance(meta["config"], dict):
        raise CheckpointError(f"{path}: its metadata's 'config' is not a mapping")
    for key in ("obs_dim", "act_dim"):
        if isinstance(meta[key], bool) or not isinstance(meta[key], int) or meta[key] < 1:
            raise CheckpointError(f"{path}: its metadata's '{key}' is {meta[key]!r}, not a whole number >= 1")
    if not isinstance(meta["discrete"], bool):
        raise CheckpointError(f"{path}: its metadata's 'discrete' is {meta['discrete']!r}, not true/false")
    cfg = from_dict(AlgoConfig, _older_config(meta, path), where=f"{path}:config")
    bound = meta.get("action_scale")
    try:
        policy = make_policy(
            cfg,
            meta["obs_dim"],
            meta["act_dim"],
            meta["discrete"],
            None if bound is None else torch.as_tensor(bound, dtype=torch.float32),
            state_std=meta.get("state_std") is True,
        )  # (older: state-independent)
    except (TypeError, ValueError, RuntimeError) as exc:
        raise CheckpointError(f"{path}: its metadata does not describe a policy: {exc}") from None
    norm = None
    try:
        modules = payload["state"]["modules"]
        if "policy_avg" in modules:  # policy_ema: the average is the deployed policy
            policy.load_state_dict(
                {k[len("module.") :]: v for k, v in modules["policy_avg"].items() if k.startswith("module.")}
            )
        else:
            policy.load_state_dict(modules["policy"])
        if "obs_norm" in modules:
            norm = ObsNorm(meta["obs_dim"], meta["act_dim"])
            norm.load_state_dict(modules["obs_norm"])
    except (KeyError, RuntimeError, TypeError) as exc:
        raise CheckpointError(f"{path}: policy weights do not fit the recorded config: {exc}") from None
    return NormalizedPolicy(policy, norm).eval(), meta


def evaluate_gridworld_policy(
    policy: torch.nn.Module, cfg_path: str | os.PathLike, episodes: int, seed: int
) -> np.ndarray:
    """Returns of ``episodes`` test episodes of a GridWorld policy (sampled actions)."""
    from .benchmarks.gridworld import load_experiment, policy_table
    from .envs.gridworld import evaluate_tabular

    exp = load_experiment(cfg_path)
    n = exp.env.size**2
    if getattr(policy, "obs_dim", n) != n:
        raise ValueError(f"policy expects {policy.obs_dim} observations; this GridWorld has {n} states")
    return evaluate_tabular(exp.env, policy_table(policy, n), episodes, seed)
