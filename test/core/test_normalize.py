"""Squashed Gaussian policy, demo-based normalisation and logit centring (robot tasks)."""

from __future__ import annotations

import math

import pytest
import torch
from torch.distributions import AffineTransform, Normal, TanhTransform, TransformedDistribution

from mairl_core.algos.normalize import NormalizedPolicy, NormalizedVecEnv, ObsNorm
from mairl_core.models.policy import GaussianPolicy


def _policy(bound, seed=0):
    torch.manual_seed(seed)
    pol = GaussianPolicy(3, 2, hidden=(8,), log_std_init=-0.7, action_scale=bound)
    with torch.no_grad():
        for p in pol.mean_net.parameters():
            p.add_(0.5 * torch.randn_like(p))
    return pol


@pytest.mark.parametrize("bound", [0.3, [0.1, 2.0]])
def test_squashed_log_prob_matches_torch_distributions(bound):
    """log pi of a = c tanh(u / c) equals torch's TransformedDistribution of the same chain,
    for sampled actions, and rsample's log pi equals log_prob at the sample."""
    pol = _policy(bound)
    obs = torch.randn(64, 3)
    a, logp = pol.rsample(obs)
    c = torch.as_tensor(bound, dtype=torch.float32).expand(2)
    assert (a.abs() <= c).all()  # float32 tanh may round to exactly 1 far out
    mean, log_std = pol(obs)
    ref = TransformedDistribution(
        Normal(mean, log_std.exp()), [AffineTransform(0.0, 1.0 / c), TanhTransform(), AffineTransform(0.0, c)]
    )
    keep = (a.abs() < 0.99 * c).all(-1)  # away from the edge clamp
    torch.testing.assert_close(
        pol.log_prob(obs, a)[keep], ref.log_prob(a).sum(-1)[keep], rtol=1e-4, atol=1e-4
    )
    torch.testing.assert_close(logp[keep], pol.log_prob(obs, a)[keep], rtol=1e-4, atol=1e-4)


def test_squashed_density_integrates_to_one():
    """1-D check by quadrature over the open interval (-c, c)."""
    torch.manual_seed(1)
    pol = GaussianPolicy(1, 1, hidden=(4,), log_std_init=-1.0, action_scale=0.5)
    obs = torch.zeros(1, 1)
    a = torch.linspace(-0.5, 0.5, 200_001)[1:-1].unsqueeze(-1)
    dens = pol.log_prob(obs.expand(len(a), 1), a).exp()
    assert abs(torch.trapezoid(dens, a.squeeze(-1)).item() - 1.0) < 1e-3


def test_edge_actions_have_finite_log_prob_and_unbounded_policy_is_unchanged():
    pol = _policy(0.3)
    obs = torch.randn(4, 3)
    edge = torch.full((4, 2), 0.3)
    assert torch.isfinite(pol.log_prob(obs, edge)).all()
    plain = GaussianPolicy(3, 2, hidden=(8,))
    a = torch.randn(4, 2) * 5
    mean, log_std = plain(obs)
    ref = Normal(mean, log_std.exp()).log_prob(a).sum(-1)
    torch.testing.assert_close(plain.log_prob(obs, a), ref)
    assert plain.act(obs).abs().max() < 5  # no squashing without a bound: noise is Gaussian
    with pytest.raises(ValueError, match="action_scale"):
        GaussianPolicy(3, 2, action_scale=[0.1, 0.0])


class _RecEnv:
    obs_dim, act_dim, n_envs, horizon, discrete, action_scale = 2, 2, 1, 5, False, 0.5

    def __init__(self):
        self.sent = None

    def reset(self):
        return torch.tensor([[10.0, -1.0]])

    def step(self, a):
        self.sent = a
        return torch.tensor([[12.0, -1.0]]), [0.0], False


def test_obs_norm_env_and_deployed_policy_round_trip():
    obs = torch.tensor([[10.0, -1.0], [14.0, -1.0], [12.0, -1.0]])
    act = torch.tensor([[0.1, 0.0], [-0.1, 0.0], [0.0, 0.0]])
    norm = ObsNorm.fit(obs, act, min_std=0.5, act_min_std=0.05)
    torch.testing.assert_close(norm.mean, torch.tensor([12.0, -1.0]))
    torch.testing.assert_close(norm.std, torch.tensor([math.sqrt(8 / 3), 0.5]))  # floored
    torch.testing.assert_close(norm.act_scale, torch.tensor([math.sqrt(0.02 / 3), 0.05]))
    torch.testing.assert_close(norm.inverse(norm(obs)), obs)
    env = NormalizedVecEnv(_RecEnv(), norm)
    torch.testing.assert_close(env.reset(), norm(torch.tensor([[10.0, -1.0]])))
    assert env.horizon == 5  # other attributes pass through
    torch.testing.assert_close(env.action_scale, 0.5 / norm.act_scale)
    env.step(torch.tensor([[1.0, 2.0]]))
    torch.testing.assert_close(env.env.sent, torch.tensor([[1.0, 2.0]]) * norm.act_scale)
    # the deployed policy takes raw obs and returns robot-unit actions
    pol = GaussianPolicy(2, 2, hidden=(4,), action_scale=env.action_scale)
    dep = NormalizedPolicy(pol, norm)
    raw = torch.tensor([[11.0, -0.5]])
    torch.testing.assert_close(
        dep.act(raw, deterministic=True), pol.act(norm(raw), deterministic=True) * norm.act_scale
    )
    with pytest.raises(ValueError, match="NaN"):
        ObsNorm.fit(torch.tensor([[float("nan"), 0.0]]), act)
    with pytest.raises(ValueError, match="never varies"):
        ObsNorm.fit(obs, act)  # joint 2 never moves and no floor given


def test_centre_logits_shifts_once_to_zero_mean(gridworld_experiment, expert_demos, monkeypatch):
    """centre_logits: the first D step sees logits whose mean over its expert + agent batch
    is 0 (the shift goes through the output bias); later steps are not re-centred."""
    from _helpers import make_trainer

    tr = make_trainer(
        gridworld_experiment, expert_demos, method="airl", seed=0, centre_logits=True, disc_steps=2
    )
    seen = []
    orig = tr._disc_logits

    def spy(b, traj):
        out = orig(b, traj)
        seen.append(out.detach())
        return out

    monkeypatch.setattr(tr, "_disc_logits", spy)
    tr.collect()
    tr.train_discriminator()
    # calls: (e, g) before the shift, (e, g) after it, then (e, g) of the second step
    assert len(seen) == 6
    before = torch.cat(seen[0:2]).mean().item()
    after = torch.cat(seen[2:4]).mean().item()
    assert abs(before) > 1e-2 and abs(after) < 1e-5
    assert tr.disc_steps_done == 2
    seen.clear()
    tr.train_discriminator()
    assert len(seen) == 4  # no second centring


def test_behaviour_cloning_warm_start(gridworld_experiment, expert_demos):
    """bc_init_steps: the first iteration starts by raising the demos' log-likelihood."""
    from _helpers import make_trainer

    tr = make_trainer(gridworld_experiment, expert_demos, method="mairl", seed=0, bc_init_steps=100)
    e = tr.expert.flat()
    before = tr.policy.log_prob(e.obs, e.act).mean().item()
    clone = make_trainer(gridworld_experiment, expert_demos, method="mairl", seed=0)
    clone.behaviour_clone(100)
    tr.train_iteration()  # BC happens before collecting
    after_clone = clone.policy.log_prob(e.obs, e.act).mean().item()
    assert after_clone > before + 0.05, (before, after_clone)
    plain = make_trainer(gridworld_experiment, expert_demos, method="mairl", seed=0)
    plain.train_iteration()
    assert (
        tr.policy.log_prob(e.obs, e.act).mean().item()
        > plain.policy.log_prob(e.obs, e.act).mean().item() + 0.05
    )


# ----- binary (on/off) action entries: the grasp task's suction -----


def _switch_policy(**kw):
    torch.manual_seed(0)
    return GaussianPolicy(
        4, 3, hidden=(8,), log_std_init=-3.0, action_scale=torch.tensor([0.3, 0.3, 0.4]), binary=1, **kw
    )


def test_binary_entry_is_exactly_on_or_off_and_log_prob_is_bernoulli():
    pol = _switch_policy()
    obs = torch.randn(64, 4)
    for act in (pol.rsample(obs)[0], pol.act(obs), pol.act(obs, deterministic=True)):
        torch.testing.assert_close(act[:, 2].detach().abs(), torch.full((64,), 0.2))  # +-c/2
    logits = pol._heads(obs)[2][:, 0]
    act, logp = pol.rsample(obs)
    torch.testing.assert_close(logp, pol.log_prob(obs, act), rtol=1e-4, atol=1e-4)
    cont_only = GaussianPolicy(4, 2, hidden=(8,), action_scale=0.3)
    cont_only.load_state_dict(
        {
            "mean_net.0.weight": pol.mean_net[0].weight,
            "mean_net.0.bias": pol.mean_net[0].bias,
            "mean_net.2.weight": pol.mean_net[2].weight[:2],
            "mean_net.2.bias": pol.mean_net[2].bias[:2],
            "log_std.raw": pol.log_std.raw,
            "bound": torch.full((2,), 0.3),
        }
    )
    on = act[:, 2] > 0
    bern = torch.where(on, torch.nn.functional.logsigmoid(logits), torch.nn.functional.logsigmoid(-logits))
    torch.testing.assert_close(pol.log_prob(obs, act), cont_only.log_prob(obs, act[:, :2]) + bern)
    # deterministic: on iff the logit is positive
    assert torch.equal(pol.act(obs, deterministic=True)[:, 2] > 0, logits > 0)


def test_binary_sampling_frequency_and_entropy_match_the_bernoulli():
    pol = _switch_policy()
    obs = torch.randn(1, 4).expand(20000, 4)
    p = torch.sigmoid(pol._heads(obs[:1])[2][0, 0])
    freq = (pol.rsample(obs)[0][:, 2] > 0).float().mean()
    assert abs(freq - p) < 0.015
    assert abs((pol.act(obs)[:, 2] > 0).float().mean() - p) < 0.015
    gauss = GaussianPolicy(4, 2, hidden=(8,), log_std_init=-3.0).entropy(obs[:1])
    bern = -(p * p.log() + (1 - p) * (1 - p).log())
    torch.testing.assert_close(pol.entropy(obs[:1])[0], gauss[0] + bern)


def test_binary_entry_passes_a_straight_through_gradient_to_its_logit():
    pol = _switch_policy(temperature=0.5)
    obs = torch.randn(32, 4)
    act, _ = pol.rsample(obs)
    act[:, 2].sum().backward()  # d(value)/d(logit) > 0 through the relaxation
    w = pol.mean_net[2].weight.grad
    assert w[2].abs().sum() > 0 and w[:2].abs().sum() == 0


def test_an_entropy_bonus_on_rsample_moves_the_switch_toward_even_odds():
    """Maximising -log pi of rsample's actions (the actor's entropy bonus) must push a switch's
    logit toward 0, by the gradient of the Bernoulli entropy; the sampled switch's
    log-probability alone has a gradient of mean zero, so it would not move."""
    pol = _switch_policy()
    obs = torch.zeros(1, 4).expand(4000, 4)
    with torch.no_grad():
        pol.mean_net[2].bias[2] += 2.0 - pol._heads(obs[:1])[2][0, 0]  # the switch's logit: 2
    _, logp = pol.rsample(obs)
    (-logp.mean()).backward()
    p = torch.sigmoid(torch.tensor(2.0))
    want = -2.0 * p * (1 - p)  # dH/dlogit of a Bernoulli at logit 2
    torch.testing.assert_close(pol.mean_net[2].bias.grad[2], want, rtol=1e-4, atol=1e-6)


def test_binary_head_learns_a_switch_by_maximum_likelihood():
    """BC on a switch that is on iff obs[0] > 0: the Bernoulli head gets it right."""
    pol = _switch_policy()
    gen = torch.Generator().manual_seed(1)
    obs = torch.randn(512, 4, generator=gen)
    act = torch.cat([torch.zeros(512, 2), torch.where(obs[:, :1] > 0, 0.2, -0.2)], 1)
    opt = torch.optim.Adam(pol.parameters(), lr=1e-2)
    for _ in range(300):
        loss = -pol.log_prob(obs, act).mean()
        opt.zero_grad(), loss.backward(), opt.step()
    test = torch.randn(256, 4, generator=gen)
    agree = ((pol.act(test, deterministic=True)[:, 2] > 0) == (test[:, 0] > 0)).float().mean()
    assert agree > 0.95


def test_binary_actions_config_is_checked():
    with pytest.raises(ValueError, match="binary"):
        GaussianPolicy(4, 2, binary=3)
    from mairl_core.algos.adversarial import make_policy
    from mairl_core.algos.config import AlgoConfig

    with pytest.raises(ValueError, match="continuous"):
        make_policy(AlgoConfig(binary_actions=1), 4, 3, True)
    pol = make_policy(AlgoConfig(binary_actions=1), 4, 3, False, 0.3)
    assert pol.binary == 1 and pol.log_std().shape == (2,)
