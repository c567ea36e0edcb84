"""Shared fixtures for the mairl_core unit tests."""

from __future__ import annotations

import pytest
import torch
from _helpers import CONFIG_DIR


@pytest.fixture(autouse=True)
def _repo_config_dir(monkeypatch):
    """Every test reads the checkout's config/ folder, whatever the caller's environment."""
    monkeypatch.setenv("MAIRL_CONFIG_DIR", str(CONFIG_DIR))


@pytest.fixture(autouse=True)
def _restore_torch_global_state():
    """Tests may reseed torch or change the default dtype; undo it afterwards."""
    rng = torch.get_rng_state()
    dtype = torch.get_default_dtype()
    yield
    torch.set_default_dtype(dtype)
    torch.set_rng_state(rng)


@pytest.fixture
def float64():
    """Run the test body with torch's default dtype set to float64."""
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        yield
    finally:
        torch.set_default_dtype(old)


@pytest.fixture(scope="session")
def gridworld_experiment():
    """The repo's config/gridworld.yaml (env, demos, algo merged with mairl.yaml, bench)."""
    mp = pytest.MonkeyPatch()
    mp.setenv("MAIRL_CONFIG_DIR", str(CONFIG_DIR))
    try:
        from mairl_core.benchmarks.gridworld import load_experiment

        return load_experiment("gridworld")
    finally:
        mp.undo()


@pytest.fixture(scope="session")
def expert_demos(gridworld_experiment):
    """20 soft-optimal expert demos on the repo's GridWorld."""
    from mairl_core.envs.gridworld import GridWorld, sample_demos, soft_value_iteration

    env_cfg = gridworld_experiment.env
    _, pi = soft_value_iteration(GridWorld(env_cfg), env_cfg.expert_beta, env_cfg.gamma)
    return sample_demos(env_cfg, pi, 20, seed=0)


@pytest.fixture(autouse=True, scope="session")
def _single_torch_thread():
    """The networks here are tiny: one intra-op thread is fastest, and on a 2-core VM the
    OpenMP pool of 2 stalls for tens of seconds at random (measured: 1 s vs 18-55 s)."""
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)
