"""The paper's 5x5 GridWorld (§V-B): dynamics, soft-optimal expert, demos, gymnasium API."""

from __future__ import annotations

import math

import gymnasium as gym
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import mairl_core.envs  # noqa: F401 - registers mairl/GridWorld-v0
from mairl_core.config import ConfigError, from_dict
from mairl_core.envs.gridworld import (
    ACTIONS,
    GridWorld,
    GridWorldConfig,
    GridWorldEnv,
    GridWorldVecEnv,
    evaluate_tabular,
    sample_demos,
    soft_value_iteration,
)

STOP, LEFT, RIGHT, UP, DOWN = range(5)


def _cfg(size=5, **kw):
    rng = np.random.default_rng(size)
    kw.setdefault("reward_map", rng.random((size, size)).round(3).tolist())
    return GridWorldConfig(size=size, **kw)


def test_action_names():
    assert ACTIONS == ("Stop", "Left", "Right", "Up", "Down")


def test_transition_table_moves_and_walls():
    env = GridWorld(_cfg())
    t = env.next_state
    assert t.shape == (25, 5)
    # centre (row 2, col 2) = state 12
    assert [t[12, a] for a in range(5)] == [12, 11, 13, 7, 17]
    # corners: moves into walls leave the agent in place
    assert [t[0, a] for a in range(5)] == [0, 0, 1, 0, 5]
    assert [t[4, a] for a in range(5)] == [4, 3, 4, 4, 9]
    assert [t[20, a] for a in range(5)] == [20, 20, 21, 15, 20]
    assert [t[24, a] for a in range(5)] == [24, 23, 24, 19, 24]
    # left edge, right edge: no wrap-around to the neighbouring row
    assert t[10, LEFT] == 10 and t[14, RIGHT] == 14
    assert (t[:, STOP] == np.arange(25)).all()


@settings(max_examples=30, deadline=None, derandomize=True, database=None)
@given(size=st.integers(2, 7), data=st.data())
def test_transition_table_any_size(size, data):
    env = GridWorld(_cfg(size))
    s = data.draw(st.integers(0, size * size - 1))
    r, c = divmod(s, size)
    expected = {
        STOP: (r, c),
        LEFT: (r, max(c - 1, 0)),
        RIGHT: (r, min(c + 1, size - 1)),
        UP: (max(r - 1, 0), c),
        DOWN: (min(r + 1, size - 1), c),
    }
    for a, (rr, cc) in expected.items():
        assert env.next_state[s, a] == rr * size + cc
    p = env.transition_matrix()
    np.testing.assert_allclose(p.sum(-1), 1.0)
    assert (p[np.arange(size * size)[:, None], np.arange(5), env.next_state] == 1.0).all()


def test_transition_matrix_with_slip():
    env = GridWorld(_cfg(slip=0.5))
    p = env.transition_matrix()
    np.testing.assert_allclose(p.sum(-1), 1.0)
    # centre: intended move 0.5 + 0.5/5, each other neighbour 0.1
    np.testing.assert_allclose(p[12, RIGHT, 13], 0.6)
    np.testing.assert_allclose(p[12, RIGHT, 11], 0.1)
    # corner 0: Stop, Left and Up all stay -> 3 * 0.1 of the slip mass stays
    np.testing.assert_allclose(p[0, STOP, 0], 0.5 + 0.3)


def test_slip_frequency_matches_matrix():
    env = GridWorld(_cfg(slip=0.4), n_envs=20_000, seed=0)
    nxt = env.step_from(np.full(20_000, 12), np.full(20_000, RIGHT))
    freq = np.bincount(nxt, minlength=25) / 20_000
    np.testing.assert_allclose(freq, env.transition_matrix()[12, RIGHT], atol=0.015)


def test_step_matches_step_from_and_rewards_on_arrival():
    cfg = _cfg(horizon=3)
    env = GridWorld(cfg, n_envs=25 * 5, seed=0)
    states = np.repeat(np.arange(25), 5)
    actions = np.tile(np.arange(5), 25)
    expected = env.step_from(states, actions)
    assert (expected == env.next_state[states, actions]).all()
    env.reset(states)
    nxt, rew, over = env.step(actions)
    assert (nxt == expected).all()
    np.testing.assert_array_equal(rew, np.asarray(cfg.reward_map).reshape(-1)[nxt])
    assert over is False
    # step_from did not move the env; step did
    assert (env.state == nxt).all()
    _, _, over2 = env.step(actions)
    _, _, over3 = env.step(actions)
    assert (over2, over3) == (False, True)


def test_reset_random_and_given_states():
    env = GridWorld(_cfg(), n_envs=1000, seed=3)
    s = env.reset()
    assert s.min() >= 0 and s.max() < 25 and len(np.unique(s)) == 25
    again = GridWorld(_cfg(), n_envs=1000, seed=3).reset()
    assert (s == again).all()
    given_states = np.arange(1000) % 25
    assert (env.reset(given_states) == given_states).all()
    assert env.t == 0


def test_soft_value_iteration_bellman():
    cfg = GridWorldConfig(size=5, gamma=0.9, expert_beta=5.0, slip=0.2, reward_map=_cfg().reward_map)
    env = GridWorld(cfg)
    q, pi = soft_value_iteration(env, beta=cfg.expert_beta, gamma=cfg.gamma)
    beta, gamma = cfg.expert_beta, cfg.gamma
    v = np.log(np.exp(beta * q).sum(1)) / beta
    p = env.transition_matrix()
    rhs = np.einsum("sat,t->sa", p, env.rewards + gamma * v)
    np.testing.assert_allclose(q, rhs, atol=1e-6, rtol=0)
    np.testing.assert_allclose(pi, np.exp(beta * q) / np.exp(beta * q).sum(1, keepdims=True), atol=1e-12)
    np.testing.assert_allclose(pi.sum(1), 1.0)
    # a wrong gamma does not satisfy the same equation (the check is discriminative)
    rhs_wrong = np.einsum("sat,t->sa", p, env.rewards + 0.8 * v)
    assert np.abs(q - rhs_wrong).max() > 1e-2


def test_expert_beats_uniform(gridworld_experiment):
    cfg = gridworld_experiment.env
    env = GridWorld(cfg)
    _, pi = soft_value_iteration(env, cfg.expert_beta, cfg.gamma)
    expert = evaluate_tabular(cfg, pi, episodes=200, seed=1)
    uniform = evaluate_tabular(cfg, np.full((25, 5), 0.2), episodes=200, seed=1)
    assert expert.shape == uniform.shape == (200,)
    # the paper's Table I has 15.09 for the expert; the maximum is 20 (horizon * max reward)
    assert 13.0 < expert.mean() <= 20.0
    assert expert.mean() > uniform.mean() + 5.0
    # the expert prefers moving to the better neighbour: from (0, 1) it goes Left to the 1.0 cell
    assert pi[1].argmax() == LEFT


def test_evaluate_tabular_deterministic_policy():
    """Always-Stop from a known reward: every return is horizon * R[start]."""
    cfg = GridWorldConfig(size=5, horizon=7, reward_map=_cfg().reward_map)
    stop = np.zeros((25, 5))
    stop[:, STOP] = 1.0
    ret = evaluate_tabular(cfg, stop, episodes=50, seed=4)
    starts = GridWorld(cfg, n_envs=50, seed=4).reset()
    np.testing.assert_allclose(ret, 7 * np.asarray(cfg.reward_map).reshape(-1)[starts])


def test_sample_demos_shapes_and_consistency(gridworld_experiment):
    cfg = gridworld_experiment.env
    env = GridWorld(cfg)
    _, pi = soft_value_iteration(env, cfg.expert_beta, cfg.gamma)
    demos = sample_demos(cfg, pi, n_demos=30, seed=5)
    assert demos.n == 30
    assert demos.states.shape == (30, cfg.horizon + 1)
    assert demos.actions.shape == (30, cfg.horizon)
    assert demos.actions.min() >= 0 and demos.actions.max() < 5
    np.testing.assert_array_equal(demos.states[:, 1:], env.next_state[demos.states[:, :-1], demos.actions])
    again = sample_demos(cfg, pi, n_demos=30, seed=5)
    np.testing.assert_array_equal(again.actions, demos.actions)
    assert not np.array_equal(sample_demos(cfg, pi, n_demos=30, seed=6).actions, demos.actions)


def test_sample_demos_follow_pi():
    cfg = _cfg(horizon=10)
    rng = np.random.default_rng(0)
    # deterministic per-state policy: actions are exactly the argmax
    det = np.eye(5)[rng.integers(0, 5, 25)]
    demos = sample_demos(cfg, det, n_demos=40, seed=1)
    np.testing.assert_array_equal(demos.actions, det[demos.states[:, :-1]].argmax(-1))
    # stochastic: only Stop/Right, 30% Right
    stoch = np.zeros((25, 5))
    stoch[:, STOP], stoch[:, RIGHT] = 0.7, 0.3
    demos = sample_demos(cfg, stoch, n_demos=1000, seed=2)
    assert set(np.unique(demos.actions)) == {STOP, RIGHT}
    assert abs((demos.actions == RIGHT).mean() - 0.3) < 0.02


def test_vec_env_and_demo_transitions(gridworld_experiment, expert_demos):
    cfg = gridworld_experiment.env
    env = GridWorldVecEnv(cfg, n_envs=4, seed=0)
    assert (env.obs_dim, env.act_dim, env.horizon) == (25, 5, cfg.horizon)
    obs = env.reset()
    assert obs.shape == (4, 25) and obs.dtype == torch.float32
    torch.testing.assert_close(obs.sum(-1), torch.ones(4))
    nxt, rew, over = env.step(torch.tensor([RIGHT] * 4))
    expected = env.core.next_state[obs.argmax(-1).numpy(), RIGHT]
    assert (nxt.argmax(-1).numpy() == expected).all()
    assert (env.step_from(obs, torch.tensor([RIGHT] * 4)).argmax(-1).numpy() == expected).all()
    tr = env.demos_to_transitions(expert_demos)
    n, t = expert_demos.actions.shape
    assert tr.obs.shape == tr.next_obs.shape == (n, t, 25)
    assert tr.act.shape == (n, t, 5) and tr.done.shape == (n, t)
    assert (tr.obs.argmax(-1).numpy() == expert_demos.states[:, :-1]).all()
    assert (tr.next_obs.argmax(-1).numpy() == expert_demos.states[:, 1:]).all()
    assert (tr.act.argmax(-1).numpy() == expert_demos.actions).all()
    assert tr.done.sum() == 0


@pytest.mark.filterwarnings("ignore:.*No render fps was declared")
def test_gymnasium_env_checker():
    from gymnasium.utils.env_checker import check_env

    env = gym.make("mairl/GridWorld-v0").unwrapped
    assert isinstance(env, GridWorldEnv)
    check_env(env, skip_render_check=False)
    assert env.observation_space == gym.spaces.Discrete(25)
    assert env.action_space == gym.spaces.Discrete(5)


def test_gymnasium_episode_and_errors():
    env = GridWorldEnv(GridWorldConfig(size=5, horizon=4, reward_map=_cfg().reward_map))
    obs, info = env.reset(seed=11, options={"state": 12})
    assert obs == 12 and info == {}
    assert env.render().splitlines()[2].split()[2] == "A"
    obs, r, term, trunc, _ = env.step(RIGHT)
    assert obs == 13 and r == pytest.approx(env.cfg.reward_map[2][3]) and not term and not trunc
    for _ in range(2):
        *_, trunc = env.step(STOP)[:4]
        assert not trunc
    *_, term, trunc = env.step(STOP)[:4]
    assert trunc and not term  # fixed horizon: truncation, not termination
    for bad in (5, -1, 2.5, "Up"):
        with pytest.raises(ValueError, match="invalid GridWorld action"):
            env.step(bad)


def test_gymnasium_reset_seed_reproducible():
    def rollout(seed):
        env = gym.make("mairl/GridWorld-v0")
        obs, _ = env.reset(seed=seed)
        env.action_space.seed(seed)
        traj = [obs]
        for _ in range(10):
            obs, *_ = env.step(env.action_space.sample())
            traj.append(obs)
        return traj

    assert rollout(123) == rollout(123)
    starts = {gym.make("mairl/GridWorld-v0").reset(seed=s)[0] for s in range(30)}
    assert len(starts) > 5  # the seed matters


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(reward_map=[[0.0] * 5] * 4), "reward_map must be 5x5"),
        (dict(reward_map=[[0.0] * 4] * 5), "reward_map must be 5x5"),
        (dict(size=4, reward_map=[[0.0] * 5] * 5), "reward_map must be 4x4"),
        (dict(reward_map=[[0.0] * 5] * 4 + [[0.0, math.nan, 0.0, 0.0, 0.0]]), "non-finite"),
        (dict(reward_map=[[math.inf] * 5] * 5), "non-finite"),
        (dict(slip=1.0), "slip"),
        (dict(slip=-0.1), "slip"),
        (dict(horizon=0), "horizon"),
        (dict(gamma=1.0), "gamma"),
    ],
)
def test_gridworld_config_rejects(kwargs, match):
    with pytest.raises(ValueError, match=match):
        GridWorldConfig(**kwargs)


def test_gridworld_config_errors_via_loader():
    with pytest.raises(ConfigError, match="reward_map must be 5x5"):
        from_dict(GridWorldConfig, {"reward_map": [[1.0, 2.0]]}, "env")
    with pytest.raises(ConfigError, match=r"env\.reward_map\[0\]\[1\]"):
        from_dict(GridWorldConfig, {"reward_map": [[1.0, "x"]]}, "env")
