"""Helpers shared by the mairl_core tests (imported as ``_helpers``)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import torch

REPO_ROOT = Path(__file__).resolve().parents[2]
CONFIG_DIR = REPO_ROOT / "config"


def finite_difference(fn, params, eps=1e-6) -> torch.Tensor:
    """Central differences of the scalar ``fn()`` in every entry of ``params``, flattened."""
    out = []
    with torch.no_grad():
        for p in params:
            flat = p.view(-1)
            for i in range(flat.numel()):
                old = flat[i].item()
                flat[i] = old + eps
                up = fn().item()
                flat[i] = old - eps
                down = fn().item()
                flat[i] = old
                out.append((up - down) / (2 * eps))
    return torch.tensor(out)


def tiny_algo(exp, **over):
    """The experiment's AlgoConfig shrunk so one training iteration takes well under a second."""
    small = dict(
        n_envs=4,
        batch_size=64,
        rollout_batch=16,
        rollout_horizon=3,
        model_steps=2,
        disc_steps=2,
        policy_steps=2,
        d_model=16,
        n_heads=2,
        embed_hidden=16,
        buffer_size=10_000,
        agent_recent=400,
        ppo_epochs=1,
        ppo_minibatches=2,
    )
    small.update(over)
    return dataclasses.replace(exp.algo, **small)


def make_trainer(exp, demos, method="mairl", seed=0, **over):
    from mairl_core.algos.adversarial import AdversarialTrainer
    from mairl_core.envs.gridworld import GridWorldVecEnv

    cfg = tiny_algo(exp, **over)
    env = GridWorldVecEnv(exp.env, cfg.n_envs, seed=seed)
    return AdversarialTrainer(method, cfg, env, env.demos_to_transitions(demos), seed=seed)


def assert_tree_equal(a, b, path="state"):
    """Recursive, bitwise equality of nested dicts/lists of tensors and plain values."""
    if isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor), f"{path}: tensor vs {type(b).__name__}"
        assert a.dtype == b.dtype and a.shape == b.shape, (
            f"{path}: {a.dtype}{tuple(a.shape)} vs {b.dtype}{tuple(b.shape)}"
        )
        assert torch.equal(a, b), f"{path}: tensors differ"
    elif isinstance(a, dict):
        assert isinstance(b, dict) and set(a) == set(b), (
            f"{path}: keys {sorted(map(str, a))} vs {sorted(map(str, b)) if isinstance(b, dict) else b}"
        )
        for k in a:
            assert_tree_equal(a[k], b[k], f"{path}.{k}")
    elif isinstance(a, (list, tuple)):
        assert isinstance(b, (list, tuple)) and len(a) == len(b), f"{path}: length differs"
        for i, (x, y) in enumerate(zip(a, b)):
            assert_tree_equal(x, y, f"{path}[{i}]")
    else:
        assert a == b, f"{path}: {a!r} != {b!r}"


def small_robot_config(tmp_path, name: str, n_demos: int, bc_steps: int, **algo):
    """A copy of config/NAME.yaml (reach_train, grasp_train) with a budget a test can afford."""
    import yaml

    data = yaml.safe_load((CONFIG_DIR / f"{name}.yaml").read_text())
    data["bc_steps"] = bc_steps
    data["demos"]["n_demos"] = n_demos
    data["algo"].update(
        n_envs=2, model_steps=2, policy_steps=2, disc_steps=2, rollout_batch=16, batch_size=64, **algo
    )
    path = tmp_path / f"{name}_small.yaml"
    path.write_text(yaml.safe_dump(data))
    return path
