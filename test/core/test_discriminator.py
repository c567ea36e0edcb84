"""Discriminators (paper eq. 2-4): AIRL's f = g + gamma h(s') - h(s), D = e^f / (e^f + pi),
the generator reward log D - log(1 - D), GAIL's -log(1 - D) and GAN-GCL's unshaped cost."""

from __future__ import annotations

import pytest
import torch
from _helpers import make_trainer

from mairl_core.models.reward import (
    AIRLDiscriminator,
    GAILDiscriminator,
    GANGCLDiscriminator,
    make_discriminator,
)

OBS, ACT, B = 4, 3, 16


def _batch(seed=0):
    g = torch.Generator().manual_seed(seed)
    obs = torch.randn(B, OBS, generator=g)
    act = torch.randn(B, ACT, generator=g)
    nxt = torch.randn(B, OBS, generator=g)
    done = (torch.arange(B) % 3 == 0).to(obs.dtype)  # a mix of terminal and non-terminal
    log_pi = -torch.rand(B, generator=g) * 3.0 - 0.1
    return obs, act, nxt, done, log_pi


@pytest.mark.parametrize("state_only", [True, False])
def test_airl_f_is_shaped_reward_by_hand(float64, state_only):
    torch.manual_seed(1)
    disc = AIRLDiscriminator(OBS, ACT, hidden=(8, 8), gamma=0.9, state_only=state_only)
    obs, act, nxt, done, _ = _batch()
    g_in = obs if state_only else torch.cat([obs, act], -1)
    g = disc.g_net(g_in).squeeze(-1)
    h_s = disc.h_net(obs).squeeze(-1)
    h_next = disc.h_net(nxt).squeeze(-1)
    expected = g + 0.9 * (1.0 - done) * h_next - h_s
    f = disc.f(obs, act, nxt, done)
    assert f.shape == (B,)
    torch.testing.assert_close(f, expected, rtol=1e-12, atol=1e-12)
    # the shaping term must actually be present (h is not trivially zero)
    assert (f - g).abs().max() > 1e-3

    act2 = act + 1.0
    if state_only:
        torch.testing.assert_close(disc.f(obs, act2, nxt, done), f, rtol=0, atol=0)
    else:
        assert (disc.f(obs, act2, nxt, done) - f).abs().max() > 1e-6


def test_airl_terminal_drops_next_potential(float64):
    torch.manual_seed(2)
    disc = AIRLDiscriminator(OBS, ACT, hidden=(8, 8), gamma=0.99, state_only=True)
    obs, act, nxt, _, _ = _batch()
    ones, zeros = torch.ones(B), torch.zeros(B)
    f_term = disc.f(obs, act, nxt, ones)
    torch.testing.assert_close(f_term, disc.g(obs, act) - disc.h(obs), rtol=1e-12, atol=1e-12)
    # s' is irrelevant at a terminal transition, relevant otherwise
    other = nxt + 5.0
    torch.testing.assert_close(disc.f(obs, act, other, ones), f_term, rtol=0, atol=0)
    assert (disc.f(obs, act, other, zeros) - disc.f(obs, act, nxt, zeros)).abs().max() > 1e-4


@pytest.mark.parametrize("state_only", [True, False])
def test_airl_logits_and_eq3_eq4(float64, state_only):
    torch.manual_seed(3)
    disc = AIRLDiscriminator(OBS, ACT, hidden=(8, 8), gamma=0.9, state_only=state_only)
    obs, act, nxt, done, log_pi = _batch(1)
    f = disc.f(obs, act, nxt, done)
    logit = disc.logits(obs, act, nxt, done, log_pi)
    torch.testing.assert_close(logit, f - log_pi, rtol=1e-12, atol=1e-12)

    # eq. 3: D = exp(f) / (exp(f) + pi), computed independently of the logit form
    pi = log_pi.exp()
    d_eq3 = f.exp() / (f.exp() + pi)
    d = torch.sigmoid(logit)
    torch.testing.assert_close(d, d_eq3, rtol=1e-10, atol=1e-12)

    # eq. 4 with alpha = 1: r = log D - log(1 - D) (= f - log pi)
    r = disc.policy_reward(obs, act, nxt, done, log_pi, alpha=1.0)
    torch.testing.assert_close(r, d_eq3.log() - (1.0 - d_eq3).log(), rtol=1e-9, atol=1e-9)
    # general alpha weights only the entropy term
    r_a = disc.policy_reward(obs, act, nxt, done, log_pi, alpha=0.1)
    torch.testing.assert_close(r_a, f - 0.1 * log_pi, rtol=1e-12, atol=1e-12)
    # policy_reward is differentiable in log pi (the entropy bonus reaches the policy)
    lp = log_pi.clone().requires_grad_(True)
    disc.policy_reward(obs, act, nxt, done, lp, alpha=0.1).sum().backward()
    torch.testing.assert_close(lp.grad, torch.full_like(lp, -0.1))


@pytest.mark.parametrize("state_only", [True, False])
def test_gail_policy_reward(float64, state_only):
    torch.manual_seed(4)
    disc = GAILDiscriminator(OBS, ACT, hidden=(8, 8), state_only=state_only)
    obs, act, nxt, done, log_pi = _batch(2)
    logit = disc.logits(obs, act, nxt, done, log_pi)
    # GAIL's logit is an unstructured classifier: it ignores log pi, s' and done
    torch.testing.assert_close(disc.logits(obs, act, nxt * 0, 1 - done, log_pi * 2), logit, rtol=0, atol=0)
    x = obs if state_only else torch.cat([obs, act], -1)
    torch.testing.assert_close(logit, disc.net(x).squeeze(-1), rtol=1e-12, atol=1e-12)
    for alpha in (0.0, 0.1, 1.0):
        r = disc.policy_reward(obs, act, nxt, done, log_pi, alpha)
        expected = -torch.log(1.0 - torch.sigmoid(logit)) - alpha * log_pi
        torch.testing.assert_close(r, expected, rtol=1e-9, atol=1e-9)
    torch.testing.assert_close(disc.reward_map(obs, act), logit, rtol=0, atol=0)


def test_gangcl_is_unshaped_and_trajectory_level(float64):
    torch.manual_seed(5)
    disc = GANGCLDiscriminator(OBS, ACT, hidden=(8, 8), gamma=0.9, state_only=False)
    obs, act, nxt, done, log_pi = _batch(3)
    f = disc.f(obs, act, nxt, done)
    torch.testing.assert_close(f, disc.g(obs, act), rtol=0, atol=0)
    # no shaping: s' and done do not matter, although an h_net exists
    torch.testing.assert_close(disc.f(obs, act, nxt + 3.0, 1 - done), f, rtol=0, atol=0)
    torch.testing.assert_close(disc.logits(obs, act, nxt, done, log_pi), f - log_pi)
    assert disc.trajectory_level is True
    assert disc.shaped is False
    # the shaped AIRL discriminator is transition-level
    assert getattr(AIRLDiscriminator(OBS, ACT), "trajectory_level", False) is False
    assert AIRLDiscriminator.shaped is True


def test_make_discriminator_kinds():
    kw = dict(hidden=(8,), gamma=0.9, state_only=True)
    assert type(make_discriminator("airl", OBS, ACT, **kw)) is AIRLDiscriminator
    assert type(make_discriminator("gail", OBS, ACT, **kw)) is GAILDiscriminator
    assert type(make_discriminator("gan-gcl", OBS, ACT, **kw)) is GANGCLDiscriminator
    d = make_discriminator("airl", OBS, ACT, hidden=(8,), gamma=0.5, state_only=False)
    assert d.gamma == 0.5 and d.state_only is False
    assert d.g_net[0].in_features == OBS + ACT
    for bad in ("AIRL", "gan_gcl", "wgan", ""):
        with pytest.raises(ValueError, match="unknown discriminator"):
            make_discriminator(bad, OBS, ACT, **kw)


@pytest.mark.parametrize("method", ["airl", "mairl"])
def test_discriminator_loss_falls(gridworld_experiment, expert_demos, method):
    """Minimising eq. 2 on expert vs. a near-uniform policy's GridWorld data separates them."""
    tr = make_trainer(
        gridworld_experiment,
        expert_demos,
        method=method,
        seed=0,
        n_envs=8,
        disc_steps=20,
        batch_size=256,
        agent_recent=2000,
    )
    tr.collect()
    first = tr.train_discriminator()
    for _ in range(8):
        last = tr.train_discriminator()
    assert first["disc/loss"] > 1.2  # ~2 log 2 or worse at the start
    assert last["disc/loss"] < 0.6 * first["disc/loss"], (first, last)
    assert last["disc/accuracy"] > 0.7, last
    assert last["disc/accuracy"] > first["disc/accuracy"]

    # the classifier's evaluation agrees with its reported numbers: expert logits above agent's
    with torch.no_grad():
        e, a = tr.expert.flat(), tr.buffer.recent_episodes(10_000).flat()
        le = tr._disc_logits(e, False)
        la = tr._disc_logits(a, False)
    assert le.mean() > la.mean() + 0.5


@pytest.mark.parametrize("method", ["airl", "gail"])
def test_trainer_loss_is_eq2_expert_one_agent_zero(gridworld_experiment, expert_demos, method):
    """The reported loss is -E_expert log D - E_agent log(1 - D) on the batch the trainer drew."""
    tr = make_trainer(gridworld_experiment, expert_demos, method=method, seed=3, disc_steps=1)
    tr.collect()
    gen_state = tr.gen.get_state()
    ef, gf = tr.expert.flat(), tr.buffer.recent_episodes(tr.cfg.agent_recent).flat()
    g = torch.Generator().manual_seed(0)
    g.set_state(gen_state)  # replay the trainer's draws
    e = ef.index(torch.randint(0, len(ef), (tr.cfg.batch_size,), generator=g))
    a = gf.index(torch.randint(0, len(gf), (tr.cfg.batch_size,), generator=g))
    with torch.no_grad():
        de = torch.sigmoid(tr.disc.logits(e.obs, e.act, e.next_obs, e.done, tr.policy.log_prob(e.obs, e.act)))
        da = torch.sigmoid(tr.disc.logits(a.obs, a.act, a.next_obs, a.done, tr.policy.log_prob(a.obs, a.act)))
    expected = -(de.log().mean() + (1 - da).log().mean())
    acc = 0.5 * ((de > 0.5).float().mean() + (da < 0.5).float().mean())
    m = tr.train_discriminator()
    assert m["disc/loss"] == pytest.approx(expected.item(), rel=1e-5)
    assert m["disc/accuracy"] == pytest.approx(acc.item(), abs=1e-6)


@pytest.mark.parametrize("decay", [0.0, 0.75])
def test_reward_ema_is_an_exponential_average_of_d(gridworld_experiment, expert_demos, decay):
    """``reward_ema``: the reported reward is the EMA of D's weights (its first value a copy),
    and D itself, which trains the policy, is unaffected; 0 reports D itself."""
    from _helpers import make_trainer

    tr = make_trainer(
        gridworld_experiment, expert_demos, method="airl", seed=0, reward_ema=decay, disc_steps=1
    )
    if decay == 0:
        assert tr.reward_net is tr.disc
        return
    tr.train_iteration()
    first = {k: v.clone() for k, v in tr.disc.state_dict().items()}
    for k, v in tr.reward_net.state_dict().items():
        assert torch.equal(v, first[k]), k
    tr.train_iteration()
    changed = 0
    for k, v in tr.reward_net.state_dict().items():
        now = tr.disc.state_dict()[k]
        torch.testing.assert_close(v, decay * first[k] + (1 - decay) * now)
        changed += int(not torch.equal(now, first[k]))
    assert changed, "D did not move, so the average proves nothing"


def test_policy_ema_is_the_deployed_policy(gridworld_experiment, expert_demos):
    """``policy_ema``: the deployed policy is the per-iteration EMA of the policy's weights
    (its first value a copy); the policy itself keeps training and collecting."""
    from _helpers import make_trainer

    decay = 0.6
    tr = make_trainer(gridworld_experiment, expert_demos, method="airl", seed=0, policy_ema=decay)
    tr.train_iteration()
    first = {k: v.clone() for k, v in tr.policy.state_dict().items()}
    deployed = tr.deployable_policy().policy
    assert deployed is not tr.policy
    for k, v in deployed.state_dict().items():
        torch.testing.assert_close(v, first[k])
    tr.train_iteration()
    now = tr.policy.state_dict()
    assert any(not torch.equal(now[k], first[k]) for k in first), "the policy did not move"
    for k, v in tr.deployable_policy().policy.state_dict().items():
        torch.testing.assert_close(v, decay * first[k] + (1 - decay) * now[k])
    assert "policy_avg" in tr.state_dict()["modules"]


def test_behaviour_cloning_is_what_the_policy_average_deploys(gridworld_experiment, expert_demos):
    """BC before any iteration (the Table II BC row, bc_init_steps): the deployed average is
    the cloned policy, not the untrained weights it was built from."""
    from _helpers import make_trainer

    tr = make_trainer(gridworld_experiment, expert_demos, method="airl", seed=0, policy_ema=0.8)
    before = {k: v.clone() for k, v in tr.policy.state_dict().items()}
    tr.behaviour_clone(20)
    assert any(not torch.equal(v, before[k]) for k, v in tr.policy.state_dict().items())
    for k, v in tr.deployable_policy().policy.state_dict().items():
        torch.testing.assert_close(v, tr.policy.state_dict()[k])


def test_load_policy_returns_the_policy_average(tmp_path, gridworld_experiment, expert_demos):
    from _helpers import make_trainer

    from mairl_core.checkpoint import save_checkpoint
    from mairl_core.training import load_policy, policy_meta

    tr = make_trainer(gridworld_experiment, expert_demos, method="airl", seed=0, policy_ema=0.5)
    tr.train_iteration()
    tr.train_iteration()
    save_checkpoint(
        tmp_path / "c.pt", tr.state_dict(), task="gridworld", method="airl", **policy_meta(tr.cfg, tr.policy)
    )
    loaded, _ = load_policy(tmp_path / "c.pt")
    for k, v in tr.deployable_policy().policy.state_dict().items():
        torch.testing.assert_close(loaded.policy.state_dict()[k], v)
    assert any(not torch.equal(v, tr.policy.state_dict()[k]) for k, v in loaded.policy.state_dict().items())
