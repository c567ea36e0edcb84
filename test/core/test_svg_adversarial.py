"""MAIRL and MGAIL on the SVG learner, and AIRL (SAC): the adversarial trainer hands the learner
an explicit context (new transitions, the current discriminator's reward, demo states, BC),
checkpoints it whole, and learns a toy task from scratch from demos."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from mairl_core.algos.adversarial import AdversarialTrainer
from mairl_core.algos.config import AlgoConfig
from mairl_core.algos.svg import SVGConfig, SVGLearner
from mairl_core.algos.transitions import Transitions

HORIZON, N_ENVS = 40, 4


class PointMassVec:
    """x' = x + 0.2 a on n_envs copies; true reward -x^2 - 0.01 a^2; x0 ~ U(-2, 2)."""

    obs_dim, act_dim, discrete, dynamics_head = 1, 1, False, "gaussian"
    n_envs, horizon = N_ENVS, HORIZON

    def __init__(self, seed=0):
        self.rng = np.random.default_rng(seed)
        self.action_scale = torch.tensor([1.0])
        self.x = torch.zeros(N_ENVS, 1)
        self.t = 0

    def reset(self):
        self.x, self.t = torch.as_tensor(self.rng.uniform(-2, 2, (N_ENVS, 1)), dtype=torch.float32), 0
        return self.x.clone()

    def step(self, a):
        a = a.clamp(-1, 1)
        self.x, self.t = self.x + 0.2 * a, self.t + 1
        r = (-self.x.pow(2) - 0.01 * a.pow(2)).sum(-1).numpy()
        return self.x.clone(), r, self.t >= HORIZON

    def step_from(self, obs, a):
        raise NotImplementedError

    def rng_state(self):
        return {"bits": self.rng.bit_generator.state}

    def set_rng_state(self, s):
        self.rng.bit_generator.state = s["bits"]


def _demos(n=16, seed=1) -> Transitions:
    rng = np.random.default_rng(seed)
    x = torch.as_tensor(rng.uniform(-2, 2, (n, 1)), dtype=torch.float32)
    obs, act, nxt = [], [], []
    for _ in range(HORIZON):
        a = (-5 * x).clamp(-1, 1)
        obs.append(x), act.append(a), nxt.append(x + 0.2 * a)
        x = x + 0.2 * a
    return Transitions(torch.stack(obs, 1), torch.stack(act, 1), torch.stack(nxt, 1), torch.zeros(n, HORIZON))


def _cfg(**over) -> AlgoConfig:
    return AlgoConfig(
        state_only=False,
        horizon=HORIZON,
        n_envs=N_ENVS,
        policy_hidden=(32, 32),
        reward_hidden=(32, 32),
        disc_hidden=(32, 32),
        batch_size=64,
        disc_steps=5,
        disc_warmup_iters=1,
        gamma=0.9,
        learner="svg",
        dynamics="mlp",
        svg=SVGConfig(
            horizon=1,
            hidden=(32, 32),
            batch_size=64,
            lr=1e-3,
            model_d=32,
            reward_hidden=(32,),
            model_warmup=320,
        ),
        **over,
    )


@pytest.mark.parametrize("method", ["airl-sac", "mairl", "mgail"])
def test_the_learner_gets_an_explicit_context(method):
    tr = AdversarialTrainer(method, _cfg(), PointMassVec(), _demos(), seed=0)
    assert isinstance(tr.learner, SVGLearner)
    assert tr.learner.cfg.horizon == (0 if method == "airl-sac" else 1)
    assert tr.learner.cfg.gamma == 0.9 and tr.policy.state_std
    batch = tr.collect()
    ctx = tr.learner_context(batch)
    assert ctx.new.obs.shape == (N_ENVS * HORIZON, 1) and ctx.bc_loss is None
    assert ctx.new.first.sum() == N_ENVS and ctx.new.first[0] == 1  # each episode's start
    # the reward is the current discriminator's, without its entropy term
    s, a, s2, d = ctx.new.obs[:8], ctx.new.act[:8], ctx.new.next_obs[:8], ctx.new.terminal[:8]
    expect = tr.disc.policy_reward(s, a, s2, d, torch.zeros(8), 0.0)
    torch.testing.assert_close(ctx.reward(s, a, s2, d), expect)
    with torch.no_grad():
        for p in tr.disc.parameters():
            p.add_(0.1)
    assert not torch.allclose(ctx.reward(s, a, s2, d), expect)  # relabelled by D as it is now
    env_steps = tr.env_steps
    tr.train_iteration()
    assert tr.learner.env_steps == N_ENVS * HORIZON  # D's warm-up: observed, not learned from
    assert tr.env_steps == env_steps + N_ENVS * HORIZON  # the learner never touched the trainer's
    m = tr.train_iteration()
    assert "critic/loss" in m and tr.learner.updates == N_ENVS * HORIZON


def test_svg_trainer_resumes_bit_for_bit():
    def run(split: bool):
        tr = AdversarialTrainer("mairl", _cfg(), PointMassVec(), _demos(), seed=3)
        for _ in range(2):
            tr.train_iteration()
        if split:
            state = tr.state_dict()
            tr = AdversarialTrainer("mairl", _cfg(), PointMassVec(), _demos(), seed=3)
            tr.load_state_dict(state)
        tr.train_iteration()
        return torch.cat([p.detach().reshape(-1) for p in tr.policy.parameters()])

    assert torch.equal(run(False), run(True))


def test_discrete_actions_train_on_the_svg_learner_with_eq3_d_and_a_held_temperature():
    """GridWorld on the SVG learner: D reads log pi (eq. 3) and alpha stays at entropy_weight."""
    from mairl_core.benchmarks import gridworld

    exp = gridworld.load_experiment("gridworld_svg")
    svg = dataclasses.replace(exp.algo.svg, model_warmup=0, batch_size=32, updates_per_step=0.05)
    exp = dataclasses.replace(exp, algo=dataclasses.replace(exp.algo, svg=svg, entropy_weight=0.7))
    tr = gridworld.make_trainer(exp, "mairl", True, seed=0)
    assert isinstance(tr.learner, SVGLearner) and tr.learner.discrete and tr.disc_reads_log_pi
    ms = [tr.train_iteration() for _ in range(2)]
    assert all(np.isfinite(v) for m in ms for v in m.values())
    assert ms[-1]["policy/alpha"] == pytest.approx(0.7) and float(tr.learner.alpha) == pytest.approx(0.7)
    obs, act = tr.expert.obs[0, :3], tr.expert.act[0, :3]
    assert torch.equal(tr.disc_log_pi(obs, act), tr.policy.log_prob(obs, act).detach())


def test_airl_sac_learns_the_toy_task_from_scratch():
    """From scratch, no BC: the policy's true return rises from a random policy's towards
    the demonstrator's within 4k env steps."""
    tr = AdversarialTrainer("airl-sac", _cfg(), PointMassVec(), _demos(), seed=0)
    returns = [tr.train_iteration()["env/true_return"] for _ in range(25)]
    demo = float((-(_demos().next_obs.pow(2)).sum((1, 2)) - 0.01 * _demos().act.pow(2).sum((1, 2))).mean())
    assert np.mean(returns[:2]) < 2 * demo  # far below the demonstrator at first ...
    assert np.mean(returns[-3:]) > 0.5 * np.mean(returns[:2]), (returns, demo)  # ... then closer


def _narrow_policy(tr: AdversarialTrainer) -> None:
    """The policy's mean pinned at +0.95 and its std at its floor: a soft actor-critic policy
    that narrowed away from the demonstrated actions (which lie in [-1, 1])."""
    with torch.no_grad():
        last = tr.policy.mean_net[-1]
        last.weight.zero_()
        last.bias.zero_()
        last.bias[0] = float(torch.atanh(torch.tensor(0.95)))
        if tr.policy.state_std:  # far below log_std_min: the std sits at its floor
            last.bias[1] = -50.0
        else:
            tr.policy.log_std.raw.fill_(-50.0)


@pytest.mark.parametrize("method", ["mairl", "airl"])
def test_the_svg_learners_discriminator_keeps_learning_against_a_narrow_policy(method):
    """With the SVG learner AIRL's discriminator is sigmoid(f): against a narrow policy eq. 3's
    logit f - log pi classifies every demo by log pi alone (thousands of nats) and the
    cross-entropy's gradient to f vanishes; the PPO learner's (on-policy) keeps eq. 3."""
    cfg = (
        _cfg(grad_penalty=0.0)
        if method == "mairl"
        else dataclasses.replace(_cfg(grad_penalty=0.0), learner="imagined")
    )
    tr = AdversarialTrainer(method, cfg, PointMassVec(), _demos(), seed=0)
    tr.collect()
    _narrow_policy(tr)
    e = tr.expert.flat()
    le = tr._disc_logits(e, False)
    f = tr.disc.f(e.obs, e.act, e.next_obs, e.done)
    g = torch.autograd.grad(
        F.binary_cross_entropy_with_logits(le, torch.ones_like(le)),
        list(tr.disc.parameters()),
        allow_unused=True,
    )
    norm = float(sum(x.pow(2).sum() for x in g if x is not None).sqrt())
    if method == "mairl":
        torch.testing.assert_close(le, f)
        assert norm > 1e-3
    else:  # eq. 3, and the defect it has against a narrow policy
        torch.testing.assert_close(le, f - tr.policy.log_prob(e.obs, e.act))
        assert float((le - f).mean()) > 1e3 and norm < 1e-6


@pytest.mark.parametrize("explorer_horizon", [0, 1])
def test_the_svg_learners_explorer_learns_on_the_reward_feeds_d_and_resumes_exactly(explorer_horizon):
    """``explorer_negatives`` with the SVG learner: a demo-free SAC (or SVG(1), with a model
    of its own) policy on the current reward, its episodes a share of D's negatives, its
    state in the checkpoint."""
    from mairl_core.algos.negatives import SVGExplorer

    cfg = _cfg(explorer_negatives=0.25, explorer_horizon=explorer_horizon)
    tr = AdversarialTrainer("mairl", cfg, PointMassVec(), _demos(), seed=1)
    assert isinstance(tr.explorer, SVGExplorer) and tr.explorer.learner.cfg.horizon == explorer_horizon
    assert ("explorer_dynamics" in tr.modules()) == (explorer_horizon > 0)
    before = [p.detach().clone() for p in tr.explorer.policy.parameters()]
    for _ in range(2):
        m = tr.train_iteration()
    assert "explorer/true_return" in m and "explorer/critic/loss" not in m and "explorer/loss" in m
    assert tr.env_steps == 4 * N_ENVS * HORIZON  # its episodes count in the budget
    assert len(tr.explorer.negatives()) == 2 * N_ENVS * HORIZON
    assert tr.explorer.learner.env_steps == 2 * N_ENVS * HORIZON  # observed in D's warm-up too
    assert any(not torch.equal(a, b) for a, b in zip(before, tr.explorer.policy.parameters()))
    assert {"explorer", "explorer_q", "explorer_q_target"} <= set(tr.modules())
    assert {"explorer_opt", "explorer_q_opt", "explorer_alpha_opt"} <= set(tr.optimizers())
    assert ("explorer_model_opt" in tr.optimizers()) == (explorer_horizon > 0)

    def run(split: bool):  # each run restores torch's global random stream from its own state
        t = AdversarialTrainer("mairl", cfg, PointMassVec(), _demos(), seed=1)
        for _ in range(2):
            t.train_iteration()
        if split:
            state = t.state_dict()
            t = AdversarialTrainer("mairl", cfg, PointMassVec(), _demos(), seed=1)
            t.load_state_dict(state)
        t.train_iteration()
        return torch.cat([p.detach().reshape(-1) for p in t.explorer.policy.parameters()])

    assert torch.equal(run(False), run(True))


def test_the_ppo_rows_refuse_an_explorer():
    with pytest.raises(ValueError, match="not PPO"):
        AdversarialTrainer("airl", _cfg(explorer_negatives=0.25), PointMassVec(), _demos(), seed=0)


class RestartingPointMass(PointMassVec):
    """PointMassVec whose env 0 is reset to x = 5 after step 10, within the episode (as
    envs.locomotion's reset_turned_over does), exposing ``current`` as that env does."""

    def step(self, a):
        obs, r, over = super().step(a)
        self.current = obs
        if self.t == 10:
            self.x = self.x.clone()
            self.x[0] = 5.0
            self.current = self.x.clone()
        return obs, r, over


def test_an_env_reset_within_an_episode_starts_a_new_run_in_the_replay():
    tr = AdversarialTrainer("mairl", _cfg(), RestartingPointMass(), _demos(), seed=0)
    batch = tr.collect()
    assert batch.obs[0, 10, 0] == 5.0  # the next step acts from where the env was reset to
    assert batch.next_obs[0, 9, 0] != 5.0  # the transition before ends where the env was
    first = tr.learner_context(batch).new.first.reshape(N_ENVS, HORIZON)
    assert first[:, 0].all() and first[0, 10] == 1  # the replay's sequences never cross it
    assert first.sum() == N_ENVS + 1


def test_an_ant_on_its_back_is_reset_when_asked():
    from mairl_core.algos.normalize import NormalizedVecEnv, ObsNorm
    from mairl_core.envs.locomotion import LocomotionVecEnv, torso_up

    def on_its_back(env):
        env.reset()
        inner = env.envs[0].unwrapped
        qpos, qvel = inner.data.qpos.copy(), inner.data.qvel.copy()
        qpos[3:7] = [0.0, 1.0, 0.0, 0.0]  # half a turn about x: the torso's z axis points down
        inner.set_state(qpos, qvel)
        assert torso_up(env.envs[0]) < 0
        return env.step(torch.zeros(1, env.act_dim))[0]

    kept = LocomotionVecEnv("Ant-v5", 1, seed=0, horizon=250)
    obs = on_its_back(kept)
    assert kept.resets == 0 and torch.equal(kept.current, obs)  # off: the Ant stays on its back
    env = LocomotionVecEnv("Ant-v5", 1, seed=0, horizon=250, reset_turned_over=True)
    obs = on_its_back(env)
    assert env.resets == 1 and torso_up(env.envs[0]) > 0
    assert not torch.equal(env.current, obs)  # the transition ends on its back, the next starts anew
    norm = ObsNorm(env.obs_dim, env.act_dim)
    norm.std.fill_(2.0)
    torch.testing.assert_close(NormalizedVecEnv(env, norm).current, env.current / 2)
    with pytest.raises(ValueError, match="no turned-over test"):
        LocomotionVecEnv("HalfCheetah-v5", 1, reset_turned_over=True)
