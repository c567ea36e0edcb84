"""UR5Reach-v0: gymnasium API, safety on every command, and a scripted DLS controller succeeds."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import mairl_core.envs  # noqa: F401 - registers the envs
from mairl_core.algos.svg import SVGConfig
from mairl_core.envs.kinematics import dls_step
from mairl_core.safety import box_excess


@pytest.fixture
def env():
    e = gym.make("mairl/UR5Reach-v0").unwrapped
    yield e
    e.close()


def test_env_checker(env):
    check_env(env, skip_render_check=True)
    check_env(gym.make("mairl/UR5Reach-v0", render_mode="rgb_array").unwrapped)


def test_start_pose_and_target(env):
    obs, info = env.reset(seed=0)
    lo, hi = env.limits.box_lower, env.limits.box_upper
    tip = obs[12:] + env.target
    m = env.limits.box_margin  # on the +x face, the safety margin inside it
    assert m > 0
    np.testing.assert_allclose(tip, [hi[0] - m, (lo[1] + hi[1]) / 2, (lo[2] + hi[2]) / 2], atol=1e-3)
    assert np.all(env.target >= lo) and np.all(env.target <= hi)
    obs2, _ = env.reset(seed=0)
    np.testing.assert_array_equal(obs, obs2)  # seeded
    assert obs.shape == (15,) and obs.dtype == np.float32


def test_every_command_is_safe(env):
    env.reset(seed=1)
    rng = np.random.default_rng(1)
    for _ in range(40):
        q = env.data.qpos.copy()
        _, _, _, _, info = env.step(rng.uniform(-5, 5, 6))  # far outside the action space
        cmd = info["command"]
        assert np.all(np.abs(cmd - q) <= env.limits.max_step + 1e-9)
        assert np.all(cmd >= env.limits.joint_lower) and np.all(cmd <= env.limits.joint_upper)
        before = box_excess(env._tip(q), env.limits.box_lower, env.limits.box_upper)
        after = box_excess(env._tip(cmd), env.limits.box_lower, env.limits.box_upper)
        assert after == 0.0 or after <= before + 1e-9
    _, _, _, _, info = env.step(np.full(6, np.nan))
    assert "NaN" in info["safety_rejected"]


def test_scripted_controller_reaches(env):
    successes = 0
    for ep in range(8):
        obs, _ = env.reset(seed=100 + ep)
        done = False
        while not done:
            q = env.data.qpos.copy()
            action = np.clip(
                dls_step(env.robot, q, -0.5 * obs[12:]), -env.limits.max_step, env.limits.max_step
            )
            obs, _, _, done, info = env.step(action)
        successes += info["is_success"]
    assert successes >= 7


# what these tests check is not the learner's: a small, cheap SVG(1) (the default is SAC's size,
# 256x256 nets and one update of 256 per env step: 30 s for one iteration here)
TINY_SVG = SVGConfig(hidden=(16,), batch_size=32, model_d=16, updates_per_step=0.05)


def _tiny_trainer_setup(**overrides):
    """A 2-env reach VecEnv, one all-zero demo episode and a tiny AlgoConfig with ``overrides``."""
    import dataclasses

    import torch

    from mairl_core.algos.config import AlgoConfig
    from mairl_core.algos.transitions import Transitions
    from mairl_core.envs.ur5_reach import UR5ReachVecEnv

    zeros = torch.zeros
    expert = Transitions(zeros(1, 100, 15), zeros(1, 100, 6), zeros(1, 100, 15), zeros(1, 100))
    cfg = dataclasses.replace(
        AlgoConfig(),
        n_envs=2,
        batch_size=32,
        rollout_batch=8,
        model_steps=1,
        disc_steps=1,
        policy_steps=1,
        rollout_horizon=2,
        svg=TINY_SVG,
        **overrides,
    )
    return UR5ReachVecEnv(2, seed=0), expert, cfg


def test_vec_env_runs_a_training_iteration():
    import torch

    from mairl_core.algos.adversarial import AdversarialTrainer

    venv, expert, cfg = _tiny_trainer_setup()
    obs = venv.reset()
    assert obs.shape == (2, 15) and obs.dtype == torch.float32
    trainer = AdversarialTrainer("mairl", cfg, venv, expert, seed=0)
    m = trainer.train_iteration()
    assert trainer.env_steps == 200 and np.isfinite(m["model/nll"])
    with pytest.raises(NotImplementedError, match="imagined"):
        venv.step_from(obs, obs.new_zeros(2, 6))
    state = venv.rng_state()
    a = venv.reset()
    venv.set_rng_state(state)
    assert torch.equal(venv.reset(), a)


def test_rgb_array_rendering_headless():
    """render_mode='rgb_array' draws the arm, table and block without a display."""
    import numpy as np

    from mairl_core.envs.ur5_reach import UR5ReachEnv

    env = UR5ReachEnv(render_mode="rgb_array")
    env.reset(seed=3)
    frame = env.render()
    assert frame.shape == (240, 320, 3) and frame.dtype == np.uint8
    assert frame.std() > 20  # a lit scene, not a blank image
    for _ in range(3):  # shoulder lift: into the box (a step out of it would be refused)
        env.step(np.array([0.0, -0.1, 0.0, 0.0, 0.0, 0.0]))
    assert not np.array_equal(env.render(), frame)  # the arm moved, and frames are not aliased
    env.close()
    assert UR5ReachEnv().render() is None
    import pytest

    with pytest.raises(ValueError, match="render_mode"):
        UR5ReachEnv(render_mode="human")


def test_relabeled_negatives_are_demos_aimed_at_another_demos_block():
    """relabeled_negatives: D's agent batches end with demo transitions whose block is another
    demo episode's (never their own), with the demo's own actions; the env reads back the
    block from a relabeled observation exactly; the normaliser is respected."""
    import dataclasses

    import torch

    from mairl_core.algos.adversarial import AdversarialTrainer
    from mairl_core.algos.config import AlgoConfig
    from mairl_core.algos.transitions import Transitions
    from mairl_core.envs.ur5_reach import UR5ReachEnv, UR5ReachVecEnv

    env = UR5ReachEnv()
    targets = np.array([[0.2, -0.6, 0.2], [-0.2, -0.4, 0.3], [0.0, -0.5, 0.1]])
    rng = np.random.default_rng(0)
    eps = []
    for t in targets:  # small random motions of the arm, one block per episode
        obs, _ = env.reset(options={"target": t})
        o, a, n = [], [], []
        for _ in range(env.cfg.episode_steps):
            act = rng.uniform(-0.05, 0.05, 6).astype(np.float32)
            nxt, *_ = env.step(act)
            o.append(obs), a.append(act), n.append(nxt)
            obs = nxt
        eps.append([torch.as_tensor(np.array(x)) for x in (o, a, n)])
    expert = Transitions(
        *(torch.stack([e[i] for e in eps]) for i in range(3)), torch.zeros(3, env.cfg.episode_steps)
    )
    venv = UR5ReachVecEnv(2, seed=0)
    np.testing.assert_allclose(venv.goal_positions(expert.obs[:, 5]).numpy(), targets, atol=1e-5)
    cfg = dataclasses.replace(
        AlgoConfig(),
        n_envs=2,
        batch_size=40,
        rollout_batch=8,
        model_steps=1,
        disc_steps=1,
        policy_steps=1,
        rollout_horizon=2,
        normalize_obs=True,
        relabeled_negatives=0.25,
        svg=TINY_SVG,
    )
    trainer = AdversarialTrainer("mairl", cfg, venv, expert, seed=0)
    seen = []
    orig = trainer._disc_logits
    trainer._disc_logits = lambda b, traj: (seen.append(b), orig(b, traj))[1]
    trainer.train_iteration()
    rel = seen[1].index(slice(30, 40))  # D's agent batch: 30 agent transitions, 10 relabeled
    raw = trainer.obs_norm.inverse(rel.obs)
    goals = venv.goal_positions(raw).numpy()
    d = np.linalg.norm(goals[:, None] - targets[None], axis=-1)
    assert (d.min(1) < 1e-4).all()  # each is one of the demos' blocks ...
    demo_acts = expert.act.reshape(-1, 6) / trainer.obs_norm.act_scale
    rows = torch.stack([torch.isclose(demo_acts, a).all(-1).nonzero()[0, 0] for a in rel.act])
    own = rows // env.cfg.episode_steps  # ... with a demo's own action, from its episode
    assert all(d[i, own[i]] > 0.1 for i in range(10))  # ... aimed at another episode's block
    # what the relabeling leaves alone: joints and velocities of that demo transition
    np.testing.assert_allclose(raw[:, :12].numpy(), expert.obs.reshape(-1, 15)[rows, :12].numpy(), atol=1e-5)
    with pytest.raises(ValueError, match="relabeled_negatives needs"):
        AdversarialTrainer("gan-gcl", cfg, UR5ReachVecEnv(2, seed=0), expert, seed=0)
    # a frozen reward trains no D: the option is moot, and no demos are needed (reward transfer)
    frozen = dataclasses.replace(cfg, freeze_reward=True, rollout_expert_frac=0.0, bc_weight=0.0)
    assert (
        AdversarialTrainer(
            "mairl", frozen, UR5ReachVecEnv(2, seed=0), None, seed=0, obs_norm=trainer.obs_norm
        ).relabeler
        is None
    )
    with pytest.raises(ValueError, match="relabeled_negatives must be"):
        dataclasses.replace(cfg, relabeled_negatives=1.0)


def test_explorer_negatives_come_from_a_demo_free_policy_sharing_the_model():
    """explorer_negatives: a second policy collects its own episodes (env steps counted, its own
    buffer), trains by the model-based update on the current reward with no demo terms and
    the agent's forward model, fills its share of D's agent batches, and is checkpointed."""
    import dataclasses

    import torch

    from mairl_core.algos.adversarial import AdversarialTrainer
    from mairl_core.algos.negatives import SVGExplorer
    from mairl_core.envs.ur5_reach import UR5ReachVecEnv

    _, exp0, cfg0 = _tiny_trainer_setup(explorer_negatives=0.5)  # the SVG learner's is SAC
    assert isinstance(
        AdversarialTrainer("mairl", cfg0, UR5ReachVecEnv(2, seed=0), exp0, seed=0).explorer, SVGExplorer
    )
    venv, expert, cfg = _tiny_trainer_setup(
        bc_weight=1.0, rollout_expert_frac=0.5, explorer_negatives=0.5, learner="imagined"
    )
    trainer = AdversarialTrainer("mairl", cfg, venv, expert, seed=0)
    xcfg = trainer.explorer.learner.cfg
    assert xcfg.bc_weight == 0 and xcfg.rollout_expert_frac == 0  # no demos reach the explorer
    assert trainer.explorer.learner.dynamics is trainer.learner.dynamics
    before = [p.detach().clone() for p in trainer.explorer.policy.parameters()]
    seen = []
    orig = trainer._disc_logits
    trainer._disc_logits = lambda b, traj: (seen.append(b.act), orig(b, traj))[1]
    metrics = trainer.train_iteration()
    assert trainer.env_steps == 400  # the agent's 2 episodes and the explorer's 2
    assert trainer.buffer.size == 2 and trainer.explorer.buffer.size == 2
    assert "explorer/objective" in metrics and "explorer/success" in metrics
    assert any(not torch.equal(a, b) for a, b in zip(before, trainer.explorer.policy.parameters()))
    # D's agent batch: 16 of the agent's transitions, then 16 of the explorer's
    mine = {tuple(r.tolist()) for r in trainer.buffer.data.act[:2].reshape(-1, 6)}
    theirs = {tuple(r.tolist()) for r in trainer.explorer.buffer.data.act[:2].reshape(-1, 6)}
    assert [tuple(r.tolist()) in mine for r in seen[1]] == [True] * 16 + [False] * 16
    assert [tuple(r.tolist()) in theirs for r in seen[1]] == [False] * 16 + [True] * 16
    other = AdversarialTrainer("mairl", cfg, UR5ReachVecEnv(2, seed=0), expert, seed=0)
    other.load_state_dict(trainer.state_dict())
    assert all(
        torch.equal(a, b)
        for a, b in zip(other.explorer.policy.parameters(), trainer.explorer.policy.parameters())
    )
    assert torch.equal(other.explorer.buffer.data.obs, trainer.explorer.buffer.data.obs)
    with pytest.raises(ValueError, match="not PPO"):
        AdversarialTrainer("airl", cfg, UR5ReachVecEnv(2, seed=0), expert, seed=0)
    with pytest.raises(ValueError, match="explorer_negatives must be"):
        dataclasses.replace(cfg, explorer_negatives=0.5, relabeled_negatives=0.5)
    # a frozen reward trains no D: no explorer (reward transfer)
    frozen = dataclasses.replace(cfg, freeze_reward=True, rollout_expert_frac=0.0, bc_weight=0.0)
    assert AdversarialTrainer("mairl", frozen, UR5ReachVecEnv(2, seed=0), None, seed=0).explorer is None


def test_grad_penalty_can_leave_out_the_goal_entries():
    """grad_penalty_goal=False: D's slope along the observation's goal entries (fingertip -
    block) is not penalised, its slope along the other entries still is."""
    import dataclasses

    import torch

    from mairl_core.algos.adversarial import AdversarialTrainer
    from mairl_core.algos.config import AlgoConfig
    from mairl_core.algos.transitions import Transitions
    from mairl_core.envs.ur5_reach import UR5ReachVecEnv

    venv = UR5ReachVecEnv(2, seed=0)
    obs = venv.reset()
    expert = Transitions(
        torch.randn(1, 100, 15), torch.randn(1, 100, 6), torch.randn(1, 100, 15), obs.new_zeros(1, 100)
    )

    def disc_loss(columns, **kw) -> float:
        """D's first loss with its first layers reading only ``columns`` of the observation."""
        cfg = dataclasses.replace(AlgoConfig(), n_envs=2, batch_size=32, disc_steps=1, **kw)
        trainer = AdversarialTrainer("mairl", cfg, UR5ReachVecEnv(2, seed=0), expert, seed=0)
        trainer.collect()
        with torch.no_grad():
            for net in (trainer.disc.g_net, trainer.disc.h_net):
                w = net[0].weight
                mask = torch.zeros(w.shape[1], dtype=torch.bool)
                mask[columns] = True
                w[:, ~mask] = 0.0
        return trainer.train_discriminator()["disc/loss"]

    goal, joints = slice(12, 15), slice(0, 6)
    bce = disc_loss(goal)
    assert disc_loss(goal, grad_penalty=10.0, grad_penalty_goal=False) == pytest.approx(bce, abs=1e-6)
    assert disc_loss(goal, grad_penalty=10.0) > bce + 1e-3  # penalised by default
    assert disc_loss(joints, grad_penalty=10.0, grad_penalty_goal=False) > disc_loss(joints) + 1e-3
