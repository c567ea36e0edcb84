"""MAIRL's model-based policy gradient (§IV-C, eq. 19-22).

``ImaginedLearner.rollout_objective`` evaluates J = mean_starts sum_t gamma^t r_hat_t along a
differentiable rollout through the forward model; autograd of it must be the exact gradient of
J (checked against finite differences), must include the entropy term through log pi (the
reference code stopped gradient there), and must equal the SVG-style recursion of eq. 19-20.
"""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest
import torch
from _helpers import finite_difference
from torch import nn

from mairl_core.algos.config import AlgoConfig
from mairl_core.algos.imagined import ImaginedLearner
from mairl_core.models.nets import bounded
from mairl_core.models.policy import CategoricalPolicy, GaussianPolicy
from mairl_core.models.reward import AIRLDiscriminator

OBS, ACT, B, T = 3, 2, 5, 3


def _cfg(**over):
    base = dict(
        rollout_horizon=T,
        gamma=0.9,
        entropy_weight=0.1,
        rollout_mode="imagined",
        dynamics="mlp",
        d_model=8,
        n_heads=2,
        embed_hidden=8,
    )
    base.update(over)
    return AlgoConfig(**base)


def _continuous_setup(seed=0, dynamics="mlp", **cfg_over):
    """Policy, learner (with its forward model) and AIRL discriminator, all float64."""
    assert torch.get_default_dtype() == torch.float64
    torch.manual_seed(seed)
    env = SimpleNamespace(obs_dim=OBS, act_dim=ACT, discrete=False, dynamics_head="gaussian")
    policy = GaussianPolicy(OBS, ACT, hidden=(8, 8), log_std_init=-0.3)
    with torch.no_grad():  # move off the tiny-output init so every parameter matters
        for p in policy.mean_net.parameters():
            p.add_(0.3 * torch.randn_like(p))
        policy.log_std.set_(torch.tensor([-0.3, 0.2]))
    learner = ImaginedLearner(
        _cfg(dynamics=dynamics, **cfg_over), env, policy, torch.Generator().manual_seed(seed)
    )
    with torch.no_grad():
        for p in learner.dynamics.parameters():
            p.add_(0.1 * torch.randn_like(p))
    disc = AIRLDiscriminator(OBS, ACT, hidden=(8, 8), gamma=0.9, state_only=False)
    g = torch.Generator().manual_seed(seed + 100)
    s0 = torch.randn(B, OBS, generator=g)
    noises = [torch.randn(B, ACT, generator=g) for _ in range(T)]
    return policy, learner, disc, s0, noises


def _flat_grad(obj, params):
    grads = torch.autograd.grad(obj, params)
    return torch.cat([g.reshape(-1) for g in grads])


@pytest.mark.parametrize("dynamics", ["mlp", "attention", "gru"])
def test_rollout_gradient_matches_finite_differences(float64, dynamics):
    policy, learner, disc, s0, noises = _continuous_setup(dynamics=dynamics)
    params = list(policy.parameters())
    names = [n for n, _ in policy.named_parameters()]
    assert "log_std.raw" in names

    obj = learner.rollout_objective(disc, s0, noises)
    assert obj.dtype == torch.float64 and obj.dim() == 0
    # deterministic given the noises
    assert learner.rollout_objective(disc, s0, noises).item() == obj.item()
    auto = _flat_grad(obj, params)
    fd = finite_difference(lambda: learner.rollout_objective(disc, s0, noises), params)
    assert torch.isfinite(auto).all()
    torch.testing.assert_close(auto, fd, rtol=1e-5, atol=1e-8)
    # every parameter tensor receives gradient, log_std included
    for name, g in zip(names, torch.autograd.grad(learner.rollout_objective(disc, s0, noises), params)):
        assert g.abs().max() > 1e-8, name


def test_rollout_objective_value_by_hand(float64):
    """J = mean over starts of sum_t gamma^t (f(s_t, a_t, s_{t+1}) - alpha log pi), s_{t+1} = F."""
    policy, learner, disc, s0, noises = _continuous_setup(seed=1)
    total = torch.zeros(B)
    s = s0
    for t in range(T):
        mean, log_std = policy(s)
        a = mean + log_std.exp() * noises[t]
        logp = torch.distributions.Normal(mean, log_std.exp()).log_prob(a).sum(-1)
        nxt = learner.dynamics.predict(s, a)
        total = total + 0.9**t * (disc.f(s, a, nxt, torch.zeros(B)) - 0.1 * logp)
        s = nxt
    torch.testing.assert_close(
        learner.rollout_objective(disc, s0, noises), total.mean(), rtol=1e-12, atol=1e-12
    )


def test_entropy_term_reaches_log_std(float64):
    """Gradient flows through log pi: alpha changes d J / d log_std by exactly
    alpha * sum_t gamma^t per action dim (d log pi / d log_std = -1 at a = mu + sigma eps),
    and leaves the mean network's gradient unchanged."""
    grads = {}
    for alpha in (0.0, 0.1):
        policy, learner, disc, s0, noises = _continuous_setup(seed=2, entropy_weight=alpha)
        obj = learner.rollout_objective(disc, s0, noises)
        grads[alpha] = dict(
            zip(
                [n for n, _ in policy.named_parameters()], torch.autograd.grad(obj, list(policy.parameters()))
            )
        )
    diff = grads[0.1]["log_std.raw"] - grads[0.0]["log_std.raw"]
    # the parameter is raw, log_std = bounded(raw): the chain rule's d log_std / d raw
    raw = policy.log_std.raw.detach().requires_grad_()
    dlog_draw = torch.autograd.grad(bounded(raw, policy.log_std.lo, policy.log_std.hi).sum(), raw)[0]
    expected = 0.1 * sum(0.9**t for t in range(T)) * dlog_draw
    assert diff.abs().min() > 0.05  # they differ ...
    torch.testing.assert_close(diff, expected, rtol=1e-9, atol=1e-12)  # ... by this
    for name in grads[0.0]:
        if name != "log_std.raw":
            torch.testing.assert_close(grads[0.1][name], grads[0.0][name], rtol=1e-9, atol=1e-12)


# ----- eq. 19-20 by hand on a linear-quadratic problem -----


class LinearPolicy(nn.Module):
    """a = k s + sigma eps (1-D), the GaussianPolicy interface that rollouts use."""

    discrete = False

    def __init__(self, k: float, log_sigma: float):
        super().__init__()
        self.k = nn.Parameter(torch.tensor([k]))
        self.log_sigma = log_sigma

    def rsample(self, obs, noise):
        action = self.k * obs + math.exp(self.log_sigma) * noise
        logp = (-0.5 * noise.pow(2) - self.log_sigma - 0.5 * math.log(2 * math.pi)).sum(-1)
        return action, logp


class LinearModel(nn.Module):
    """s' = A s + B a."""

    def __init__(self, a: float, b: float):
        super().__init__()
        self.a, self.b = a, b

    def predict(self, obs, act):
        return self.a * obs + self.b * act


class QuadraticReward:
    """r_hat(s, a, s') = -s'^2 + c s a - alpha log pi."""

    def __init__(self, c: float):
        self.c = c

    def policy_reward(self, obs, act, nxt, done, logp, alpha):
        return (-(nxt**2) + self.c * obs * act).sum(-1) - alpha * logp


@pytest.mark.parametrize(
    "k,a_coef,b_coef,c", [(0.3, 0.9, 0.5, 0.5), (-0.7, 1.1, -0.4, 0.0), (0.0, 0.5, 1.0, -1.0)]
)
def test_eq19_20_backward_recursion_linear(float64, k, a_coef, b_coef, c):
    gamma, horizon, n, sigma_log, alpha = 0.9, 4, 6, -0.7, 0.1
    env = SimpleNamespace(obs_dim=1, act_dim=1, discrete=False, dynamics_head="gaussian")
    policy = LinearPolicy(k, sigma_log)
    learner = ImaginedLearner(
        _cfg(rollout_horizon=horizon, gamma=gamma, entropy_weight=alpha),
        env,
        policy,
        torch.Generator().manual_seed(0),
    )
    learner.dynamics = LinearModel(a_coef, b_coef)
    g = torch.Generator().manual_seed(7)
    s0 = torch.randn(n, 1, generator=g)
    noises = [torch.randn(n, 1, generator=g) for _ in range(horizon)]

    obj = learner.rollout_objective(QuadraticReward(c), s0, noises)
    (auto,) = torch.autograd.grad(obj, [policy.k])

    # Forward pass by hand (plain floats), then eq. 19-20 from t = T-1 down to 0.
    sigma = math.exp(sigma_log)
    manual = 0.0
    for i in range(n):
        s = [s0[i, 0].item()]
        a = []
        for t in range(horizon):
            a.append(k * s[t] + sigma * noises[t][i, 0].item())
            s.append(a_coef * s[t] + b_coef * a[t])
        dj_ds_next, dj_dk_next = 0.0, 0.0  # J' beyond the horizon is 0
        for t in reversed(range(horizon)):
            nxt = a_coef * s[t] + b_coef * a[t]
            r_s = -2 * nxt * a_coef + c * a[t]  # d r_hat / d s (through s' = F(s, a))
            r_a = -2 * nxt * b_coef + c * s[t]  # d r_hat / d a
            pi_s, pi_k = k, s[t]  # d pi / d s, d pi / d theta
            f_s, f_a = a_coef, b_coef  # d F / d s, d F / d a
            dj_ds = r_s + r_a * pi_s + gamma * dj_ds_next * (f_s + f_a * pi_s)  # eq. 19
            dj_dk = r_a * pi_k + gamma * (dj_ds_next * f_a * pi_k + dj_dk_next)  # eq. 20
            dj_ds_next, dj_dk_next = dj_ds, dj_dk
        manual += dj_dk_next / n
    assert auto.item() == pytest.approx(manual, rel=1e-10, abs=1e-12)


def test_eq19_20_recursion_differs_from_myopic_gradient(float64):
    """The backward recursion matters: dropping the state stream (gamma dJ'/ds' dF/da) changes
    the gradient, so the test above would catch a learner that detached s_{t+1}."""
    env = SimpleNamespace(obs_dim=1, act_dim=1, discrete=False, dynamics_head="gaussian")
    policy = LinearPolicy(0.3, -0.7)
    learner = ImaginedLearner(
        _cfg(rollout_horizon=4, gamma=0.9), env, policy, torch.Generator().manual_seed(0)
    )
    model = LinearModel(0.9, 0.5)
    g = torch.Generator().manual_seed(7)
    s0 = torch.randn(6, 1, generator=g)
    noises = [torch.randn(6, 1, generator=g) for _ in range(4)]

    learner.dynamics = model
    (full,) = torch.autograd.grad(learner.rollout_objective(QuadraticReward(0.5), s0, noises), [policy.k])

    class Detached(LinearModel):
        def predict(self, obs, act):
            return self.a * obs.detach() + self.b * act

    learner.dynamics = Detached(0.9, 0.5)
    (myopic,) = torch.autograd.grad(learner.rollout_objective(QuadraticReward(0.5), s0, noises), [policy.k])
    assert abs(full.item() - myopic.item()) > 1e-2


# ----- discrete actions: the mixture transition and the concrete relaxation (eq. 22) -----

N_STATES, N_ACT = 6, 4


def _discrete_setup(seed=0):
    torch.manual_seed(seed)
    env = SimpleNamespace(obs_dim=N_STATES, act_dim=N_ACT, discrete=True, dynamics_head="categorical")
    policy = CategoricalPolicy(N_STATES, N_ACT, hidden=(8,), temperature=1.0, straight_through=True)
    with torch.no_grad():
        for p in policy.logits_net.parameters():
            p.add_(0.5 * torch.randn_like(p))
    learner = ImaginedLearner(
        _cfg(rollout_horizon=3, dynamics="attention"), env, policy, torch.Generator().manual_seed(seed)
    )
    disc = AIRLDiscriminator(N_STATES, N_ACT, hidden=(8,), gamma=0.9, state_only=False)
    return policy, learner, disc


def test_discrete_predict_is_mixture_over_actions():
    policy, learner, _ = _discrete_setup()
    obs = torch.eye(N_STATES)[torch.tensor([0, 3, 5, 2])]
    for i in range(N_ACT):
        one_hot = torch.eye(N_ACT)[torch.full((4,), i)]
        torch.testing.assert_close(
            learner.predict(obs, one_hot), learner.dynamics.predict(obs, one_hot), rtol=1e-6, atol=1e-7
        )
    # a relaxed action gives the convex mixture sum_i a_i F(s, e_i), a distribution again
    w = torch.softmax(torch.randn(4, N_ACT, generator=torch.Generator().manual_seed(1)), -1)
    mixed = learner.predict(obs, w)
    expected = sum(
        w[:, i : i + 1] * learner.dynamics.predict(obs, torch.eye(N_ACT)[[i] * 4]) for i in range(N_ACT)
    )
    torch.testing.assert_close(mixed, expected, rtol=1e-6, atol=1e-7)
    torch.testing.assert_close(mixed.sum(-1), torch.ones(4), rtol=1e-6, atol=1e-6)
    # d s' / d a_i = F(s, e_i): the gradient does not vanish at one-hot actions
    a = torch.eye(N_ACT)[[1]].clone().requires_grad_(True)
    jac = torch.autograd.functional.jacobian(lambda x: learner.predict(obs[:1], x), a)
    for i in range(N_ACT):
        torch.testing.assert_close(
            jac[0, :, 0, i], learner.dynamics.predict(obs[:1], torch.eye(N_ACT)[[i]])[0], rtol=1e-6, atol=1e-7
        )


def test_discrete_rollout_gradient_reaches_policy_logits():
    policy, learner, disc = _discrete_setup(seed=1)
    starts = torch.eye(N_STATES)[torch.tensor([0, 1, 2, 3, 4, 5, 0, 3])]
    g = torch.Generator().manual_seed(3)
    noises = [
        -torch.log(-torch.log(torch.rand(8, N_ACT, generator=g).clamp(1e-10, 1 - 1e-10))) for _ in range(3)
    ]
    learner.gen.manual_seed(5)  # the categorical model's next-state samples
    obj = learner.rollout_objective(disc, starts, noises)
    params = list(policy.logits_net.parameters())
    grads = torch.autograd.grad(obj, params)
    flat = torch.cat([g.reshape(-1) for g in grads])
    assert torch.isfinite(flat).all()
    assert flat.abs().max() > 1e-4
    for p, gr in zip(params, grads):
        assert gr.abs().max() > 0, p.shape
    # straight-through: the forward actions are exact one-hots, so the reward sees real actions
    act, logp = policy.rsample(starts, noises[0])
    assert torch.equal(act.detach(), torch.eye(N_ACT)[act.detach().argmax(-1)])
    torch.testing.assert_close(logp, policy(starts).gather(1, act.argmax(-1, keepdim=True))[:, 0])
    # reproducible given noises and the learner's generator
    learner.gen.manual_seed(5)
    assert learner.rollout_objective(disc, starts, noises).item() == obj.item()
