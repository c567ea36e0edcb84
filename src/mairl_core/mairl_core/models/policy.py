"""Stochastic policies with re-parameterised sampling.

Both policies expose the same interface so MAIRL's differentiable rollouts
(§IV-C) and the PPO baselines can use either:

- ``rsample(obs, noise=None) -> (action_vec, log_prob)``: a differentiable
  action (the vector fed to the reward net and the dynamics model) and its
  log-likelihood, both carrying gradient to the policy parameters.
- ``log_prob(obs, action_vec)`` and ``entropy(obs)`` for the discriminator
  and PPO.
- ``act(obs, deterministic)``: what the environment receives.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .nets import BoundedLogStd, bounded, mlp


class GaussianPolicy(nn.Module):
    """pi(a|s) = N(mu(s), sigma^2), a = mu(s) + sigma * eps (§IV-C b, eq. 21).

    log sigma is learned and kept smoothly inside (log_std_min, log_std_max) by a tanh
    rescaling (``nets.BoundedLogStd``; a clamp would stop its gradient for good once a step
    crossed a bound), starting at log_std_init, which must lie strictly inside. It is one
    vector for all states, or with ``state_std`` a second head of the mean network (as in
    SAC). The log-density uses sigma^2 (the reference code divided by 2 sigma, which is only
    right for sigma = 1).

    With ``action_scale`` c (a scalar or one bound per dimension) the action is
    squashed into the box (-c, c): a = c tanh(u / c), u ~ N(mu, sigma^2), and
    log pi(a) = log N(u) - sum log(1 - tanh^2(u / c)) (change of variables);
    near the origin a ~ u, so mu and sigma keep the action's units. Robot arms need this: the
    joint-step limit is a hard bound, so an unsquashed Gaussian's samples beyond it would be clipped
    by the safety function and the recorded action would not be the one
    whose log-likelihood the discriminator (eq. 3) and the entropy term use.

    ``binary`` = k makes the last k action entries on/off switches (a suction cup,
    a gripper): each is Bernoulli with a logit from the same network and takes the
    values -c/2 (off) or +c/2 (on), where c is its bound (1 unbounded); only its sign
    means anything to the env. ``rsample`` draws it with the binary concrete
    relaxation (eq. 22 for two outcomes) and a straight-through estimator, so the
    forward value is exactly on/off and the model gradient (eq. 19-21) still reaches
    the logit; ``log_prob`` and ``entropy`` are the exact Bernoulli ones, and ``rsample``'s log pi
    has the sampled switch's value with the gradient of its expectation (so that an entropy
    bonus reaches the logit).
    """

    discrete = False
    _EDGE = 1e-3
    """Squashed actions are evaluated at most (1 - _EDGE) c from the origin (|u| <= 3.8 c):
    demonstrated actions can sit exactly on the limit, where atanh is infinite."""

    def __init__(
        self,
        obs_dim: int,
        act_dim: int,
        hidden: Sequence[int] = (32, 32),
        log_std_init: float = -0.5,
        log_std_min: float = -5.0,
        log_std_max: float = 1.0,
        action_scale: float | Sequence[float] | torch.Tensor | None = None,
        binary: int = 0,
        temperature: float = 1.0,
        state_std: bool = False,
    ):
        super().__init__()
        if not 0 <= binary <= act_dim or temperature <= 0:
            raise ValueError(
                f"need 0 <= binary <= act_dim ({act_dim}) and temperature > 0, "
                f"got binary={binary}, temperature={temperature}"
            )
        self.obs_dim, self.act_dim = obs_dim, act_dim
        self.binary, self.n_cont, self.temperature = binary, act_dim - binary, temperature
        self.state_std = bool(state_std)
        # outputs: continuous means, binary logits, then (state_std) the raw log stds
        self.mean_net = mlp(obs_dim, hidden, act_dim + (self.n_cont if state_std else 0), out_gain=0.01)
        self.log_std = BoundedLogStd(self.n_cont, log_std_init, log_std_min, log_std_max)
        if self.state_std:  # the head's raw output starts near 0: offset it to the initial value
            self.log_std.raw.requires_grad_(False)
        self.log_std_min, self.log_std_max = log_std_min, log_std_max
        self.squashed = action_scale is not None
        bound = torch.ones(act_dim)
        if self.squashed:
            bound = torch.as_tensor(action_scale, dtype=torch.float32).expand(act_dim).clone()
            if not bool((bound > 0).all() and torch.isfinite(bound).all()):
                raise ValueError(f"action_scale must be finite and > 0, got {action_scale}")
        self.register_buffer("bound", bound)

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        self.log_std.upgrade(state_dict, prefix + "log_std")  # checkpoints of the clamped std
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def _std_log(self, out: torch.Tensor) -> torch.Tensor:
        """log std for the network output ``out``, shaped like the continuous means."""
        shape = out.shape[:-1] + (self.n_cont,)
        if not self.state_std:
            return self.log_std().expand(shape)
        return bounded(out[..., self.act_dim :] + self.log_std.raw, self.log_std_min, self.log_std_max)

    def forward(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(mean of the continuous entries, their log std); see ``logits`` for binary ones."""
        out = self.mean_net(obs)
        return out[..., : self.n_cont], self._std_log(out)

    def _heads(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(mean, log std, logits of the binary entries) from one network pass."""
        out = self.mean_net(obs)
        return (out[..., : self.n_cont], self._std_log(out), out[..., self.n_cont : self.act_dim])

    def _squash(self, u: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(a, log |da/du| summed over dims) for a = c tanh(u / c); identity without a bound."""
        if not self.squashed:
            return u, torch.zeros(u.shape[:-1], dtype=u.dtype)
        x = u / self.bound[: self.n_cont]
        # log(1 - tanh^2 x) = 2 (log 2 - x - softplus(-2x)), stable for large |x|
        log_det = (2.0 * (math.log(2.0) - x - F.softplus(-2.0 * x))).sum(-1)
        return self.bound[: self.n_cont] * torch.tanh(x), log_det

    def _unsquash(self, a: torch.Tensor) -> torch.Tensor:
        """u with c tanh(u / c) = a (the clamp edge for actions on the bound); identity unbounded."""
        if not self.squashed:
            return a
        c = self.bound[: self.n_cont]
        return c * torch.atanh((a / c).clamp(-1 + self._EDGE, 1 - self._EDGE))

    def _switch_value(self, on: torch.Tensor) -> torch.Tensor:
        """Binary entries as action values: on (1) -> +c/2, off (0) -> -c/2."""
        return (on - 0.5) * self.bound[self.n_cont :]

    @staticmethod
    def _bernoulli_logp(logits: torch.Tensor, on: torch.Tensor) -> torch.Tensor:
        return (on * F.logsigmoid(logits) + (1 - on) * F.logsigmoid(-logits)).sum(-1)

    @classmethod
    def _bernoulli_entropy(cls, logits: torch.Tensor) -> torch.Tensor:
        return -cls._bernoulli_logp(logits, torch.sigmoid(logits))  # -E[log p]

    def log_prob(self, obs: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        mean, log_std, logits = self._heads(obs)
        u = self._unsquash(action[..., : self.n_cont])
        z = (u - mean) / log_std.exp()
        logp = (-0.5 * z.pow(2) - log_std - 0.5 * math.log(2 * math.pi)).sum(-1) - self._squash(u)[1]
        if self.binary:
            logp = logp + self._bernoulli_logp(logits, (action[..., self.n_cont :] > 0).to(logits.dtype))
        return logp

    def entropy(self, obs: torch.Tensor) -> torch.Tensor:
        """Entropy of the Gaussian on u (for a squashed policy, of the pre-squash variable),
        plus the Bernoulli entropy of the binary entries."""
        _, log_std, logits = self._heads(obs)
        ent = (log_std + 0.5 * math.log(2 * math.pi * math.e)).sum(-1)
        if self.binary:
            ent = ent + self._bernoulli_entropy(logits)
        return ent

    def rsample(
        self, obs: torch.Tensor, noise: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``noise``: standard normal, one entry per action dimension (binary ones too: a
        normal variate is turned into the logistic noise of the binary concrete)."""
        mean, log_std, logits = self._heads(obs)
        if noise is None:
            noise = torch.randn(mean.shape[:-1] + (self.act_dim,), dtype=mean.dtype)
        eps = noise[..., : self.n_cont]
        action, log_det = self._squash(mean + log_std.exp() * eps)
        # log pi evaluated at the re-parameterised action keeps gradient to
        # mu and sigma (the reference stopped it, so eq. 4's entropy did nothing).
        logp = (-0.5 * eps.pow(2) - log_std - 0.5 * math.log(2 * math.pi)).sum(-1) - log_det
        if self.binary:
            # binary concrete: on iff logit + L > 0 with L = logit(U) logistic, U = Phi(noise)
            u = torch.special.ndtr(noise[..., self.n_cont :]).clamp(1e-6, 1 - 1e-6)
            soft = torch.sigmoid((logits + torch.log(u) - torch.log1p(-u)) / self.temperature)
            hard = (soft > 0.5).to(soft.dtype)
            on = hard + soft - soft.detach()  # straight-through: exact value, relaxed gradient
            action = torch.cat([action, self._switch_value(on)], -1)
            # value: the sampled switch's log-probability; gradient: that of its expectation,
            # -H(p). The sample's own gradient has mean zero (its score term is what carries
            # the entropy's gradient, and a pathwise estimate drops it), so without this the
            # entropy bonus would never act on a switch.
            neg_ent = -self._bernoulli_entropy(logits)
            logp = logp + self._bernoulli_logp(logits, hard).detach() + neg_ent - neg_ent.detach()
        return action, logp

    def env_action(self, action_vec: torch.Tensor) -> torch.Tensor:
        return action_vec

    @torch.no_grad()
    def act(self, obs: torch.Tensor, deterministic: bool = False) -> torch.Tensor:
        mean, log_std, logits = self._heads(obs)
        u = mean if deterministic else mean + log_std.exp() * torch.randn_like(mean)
        action = self._squash(u)[0]
        if self.binary:
            on = (logits > 0) if deterministic else (torch.rand_like(logits) < torch.sigmoid(logits))
            action = torch.cat([action, self._switch_value(on.to(action.dtype))], -1)
        return action


def gumbel_softmax_sample(
    logp_all: torch.Tensor, temperature: float, straight_through: bool, noise: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Concrete / Gumbel-softmax sample (eq. 22) from log-probabilities; returns (action, log pi).

    With ``straight_through`` the action is the one-hot argmax in the forward
    pass and carries the relaxed sample's gradient.
    """
    if noise is None:  # g_i = -log(-log U_i), U_i ~ U(0, 1)
        u = torch.rand_like(logp_all).clamp_(1e-10, 1.0 - 1e-10)
        noise = -torch.log(-torch.log(u))
    soft = F.softmax((logp_all + noise) / temperature, dim=-1)
    if straight_through:
        hard = F.one_hot(soft.argmax(-1), logp_all.shape[-1]).to(soft.dtype)
        action = hard - soft.detach() + soft
    else:
        action = soft
    return action, (logp_all * action).sum(-1)


class CategoricalPolicy(nn.Module):
    """Discrete policy; differentiable samples by the concrete relaxation (eq. 22).

    ``rsample`` draws a Gumbel-softmax sample with temperature ``tau``; with
    ``straight_through`` the forward value is the one-hot argmax (so the env,
    the reward and the model all see a real action) and the gradient is the
    relaxed sample's.
    """

    discrete = True

    def __init__(
        self,
        obs_dim: int,
        n_actions: int,
        hidden: Sequence[int] = (32, 32),
        temperature: float = 1.0,
        straight_through: bool = True,
    ):
        super().__init__()
        self.obs_dim, self.act_dim = obs_dim, n_actions
        self.logits_net = mlp(obs_dim, hidden, n_actions, out_gain=0.01)
        self.temperature = temperature
        self.straight_through = straight_through

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return F.log_softmax(self.logits_net(obs), dim=-1)

    def log_prob(self, obs: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        """log pi(a|s) for a one-hot (or relaxed) action vector."""
        return (self(obs) * action).sum(-1)

    def entropy(self, obs: torch.Tensor) -> torch.Tensor:
        logp = self(obs)
        return -(logp.exp() * logp).sum(-1)

    def rsample(
        self, obs: torch.Tensor, noise: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        return gumbel_softmax_sample(self(obs), self.temperature, self.straight_through, noise)

    def env_action(self, action_vec: torch.Tensor) -> torch.Tensor:
        return action_vec.argmax(-1)

    @torch.no_grad()
    def act(self, obs: torch.Tensor, deterministic: bool = False) -> torch.Tensor:
        logp = self(obs)
        if deterministic:
            return logp.argmax(-1)
        return torch.distributions.Categorical(logits=logp).sample()

    def one_hot(self, actions: torch.Tensor) -> torch.Tensor:
        return F.one_hot(actions.long(), self.act_dim).float()
