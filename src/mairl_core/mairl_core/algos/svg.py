"""SVG(H): a soft actor-critic whose actor objective runs H steps through a learned model.

The stochastic value gradient recipe (Heess et al. 2015; SAC-SVG(H), Amos et al. 2021),
as MAIRL's policy learner (§IV-C: exact gradients through the forward model F, eq. 19-21):

- **off-policy**: every environment transition goes to a replay buffer; updates sample it.
- **critic**: twin soft Q-functions with Polyak-averaged targets, trained by one-step soft
  TD on real replay transitions,
  ``y = r + gamma (1 - terminal) (min_i Qbar_i(s', a') - alpha log pi(a'|s'))``,
  a' ~ pi(s'). A time-limit truncation is not a terminal (it bootstraps). With a learned
  reward (``LearnerContext.reward``) every sampled batch is relabelled by the current
  reward function, as the discriminator keeps changing.
- **actor**: re-parameterised actions through H model steps,
  ``J = sum_{t<H} gamma^t (r_t - alpha log pi_t) + gamma^H (min_i Q_i(s_H, a_H) - alpha log pi_H)``
  with s_{t+1} = F(s_t, a_t) (the model's mean), starting at replay states. H = 0 is plain
  SAC. Model gradients are used only after ``model_warmup`` env steps (SAC until then).
  Terminals inside a rollout are not modelled (the rollouts are short).
- **alpha**: tuned to keep the policy's entropy at ``target_entropy`` (-act_dim by default).
- **the model**: F (attention, GRU or MLP, ``models.dynamics``) trained on a multi-step
  Gaussian likelihood over replay sequences of ``model_seq`` steps (the prediction fed back
  as the next input), so that it stays accurate over the H steps the actor uses.

**The reward and the entropy.** AIRL's policy reward is r_hat = f - log pi (eq. 4-5): the
discriminator's logit already holds an entropy bonus with weight 1. This learner takes the
reward *without* that term (``policy_reward(..., log_pi=0, alpha=0)``: f for AIRL, GAIL's
-log(1 - D) for MGAIL) and lets its own tuned alpha weigh the entropy: counting it in both
places would double the temperature. With this learner the trainer's AIRL discriminator is
D = sigmoid(f), without eq. 3's log pi (``AdversarialTrainer.disc_reads_log_pi`` says why), so
f estimates log(rho_E / rho_agent), the demos' over the replay's state-action occupancy, and
the actor maximises E[f] + alpha H(pi), the adversarial objective of eq. 4 with a tuned
temperature.

With the task's true reward (``reward=None``) the critic uses the recorded rewards and the
model rollouts a reward model fitted to them (``reward_model``), as SVG does.

**Discrete actions** (a ``CategoricalPolicy``; GridWorld): the critics take the one-hot
action; the soft value of a state is the exact expectation over the actions,
``V(s) = sum_a pi(a|s) (min_i Q_i(s, a) - alpha log pi(a|s))``, in the TD target and at the
end of the actor's rollout (H = 0 is discrete SAC); over the H model steps before it the
objective is the exact expectation over every action sequence (A^H model calls per start
state), which has neither the variance of sampled actions nor the bias of the
straight-through Gumbel-softmax (eq. 22): on GridWorld's two worst seeds with it, MAIRL(s)
went from 0.74 and 0.87 of the expert to 1.00 (bench/NOTEBOOK.md). With
``fixed_alpha`` the temperature is held (the trainer holds it at the entropy weight of eq. 4
when its AIRL discriminator reads log pi, as it does for discrete actions).
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..models.dynamics import MODEL_KINDS, make_dynamics, width_for_params
from ..models.nets import adam, mlp

RewardFn = Callable[[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


@dataclass
class SVGConfig:
    """Settings of the SVG(H) learner (defaults: SVG(1), with SAC's usual MuJoCo settings)."""

    horizon: int = 1
    """H, model steps in the actor objective; 0 = SAC (no model gradients)."""
    hidden: tuple[int, ...] = (256, 256)
    """Policy, Q-function and reward-model layers."""
    lr: float = 3e-4
    batch_size: int = 256
    gamma: float = 0.99
    tau: float = 0.005
    """Polyak rate of the target Q-functions."""
    updates_per_step: float = 1.0
    """Gradient updates per new env transition."""
    alpha_init: float = 1.0
    target_entropy: float | None = None
    """None: -act_dim (continuous actions), 0.5 log(n_actions) (discrete)."""
    fixed_alpha: float | None = None
    """Hold the temperature at this value instead of tuning it to ``target_entropy``."""
    log_std_min: float = -5.0
    log_std_max: float = 2.0
    model: str = "mlp"
    model_d: int = 200
    model_params: int | None = None
    """Size F by its parameter count instead: the width nearest this many parameters, for
    comparing model kinds at equal size (``models.dynamics.width_for_params``)."""
    model_seq: int = 3
    """Steps of the model's multi-step training loss (at least H)."""
    model_lr: float = 1e-3
    model_every: int = 1
    """Fit the model (and the reward model) every this many updates (its cost is most of an
    SVG(H > 0) update's)."""
    reward_hidden: tuple[int, ...] = (256, 256)
    """Layers of the reward model fitted to the task's rewards (true-reward runs, H > 0)."""
    model_warmup: int = 5_000
    """Env steps before the actor uses model gradients (H > 0)."""
    replay_size: int = 1_000_000
    demo_start_frac: float = 0.0
    """Share of the actor's start states drawn from the demos (adversarial runs)."""
    onehot_states: bool = False
    """The states are one-hot cells (GridWorld): each model prediction in the actor's rollout
    is the likeliest cell, straight-through (a valid state forward, the prediction's gradient)."""

    def __post_init__(self):
        if (
            self.horizon < 0
            or self.model_seq < 1
            or self.batch_size < 1
            or self.replay_size < 1
            or self.model_every < 1
        ):
            raise ValueError("need horizon >= 0 and model_seq, model_every, batch_size, replay_size >= 1")
        if not 0 < self.gamma <= 1 or not 0 < self.tau <= 1:
            raise ValueError(f"need 0 < gamma <= 1 and 0 < tau <= 1, got {self.gamma}, {self.tau}")
        if self.updates_per_step <= 0 or self.alpha_init <= 0 or self.lr <= 0:
            raise ValueError("updates_per_step, alpha_init and lr must be > 0")
        if self.fixed_alpha is not None and not self.fixed_alpha >= 0:
            raise ValueError(f"fixed_alpha must be >= 0, got {self.fixed_alpha}")
        if not 0 <= self.demo_start_frac <= 1:
            raise ValueError(f"demo_start_frac must be in [0, 1], got {self.demo_start_frac}")
        if self.model_params is not None and self.model_params < 1:
            raise ValueError(f"model_params must be >= 1, got {self.model_params}")
        if self.model not in MODEL_KINDS:
            raise ValueError(f"unknown model '{self.model}' ({', '.join(MODEL_KINDS)})")


@dataclass
class Batch:
    """Flat transitions (N, dim). ``terminal``: the episode ended in a terminal state (no
    bootstrap); ``first``: the transition starts an episode (sequences never cross one)."""

    obs: torch.Tensor
    act: torch.Tensor
    next_obs: torch.Tensor
    reward: torch.Tensor
    terminal: torch.Tensor
    first: torch.Tensor

    def index(self, idx) -> Batch:
        return Batch(*(getattr(self, f.name)[idx] for f in dataclasses.fields(self)))


class ReplayBuffer:
    """A ring buffer of flat transitions kept in the order they happened."""

    FIELDS = tuple(f.name for f in dataclasses.fields(Batch))

    def __init__(self, capacity: int):
        self.capacity, self.size, self.ptr = capacity, 0, 0
        self.data: dict[str, torch.Tensor] = {}

    def add(self, b: Batch) -> None:
        n = b.obs.shape[0]
        if not self.data:
            self.data = {
                k: torch.zeros((self.capacity, *getattr(b, k).shape[1:]), dtype=torch.get_default_dtype())
                for k in self.FIELDS
            }
        idx = (self.ptr + torch.arange(n)) % self.capacity
        for k in self.FIELDS:
            self.data[k][idx] = getattr(b, k).to(self.data[k].dtype)
        self.ptr, self.size = (self.ptr + n) % self.capacity, min(self.size + n, self.capacity)

    def sample(self, n: int, gen: torch.Generator) -> Batch:
        idx = torch.randint(0, self.size, (n,), generator=gen)
        return Batch(*(self.data[k][idx] for k in self.FIELDS))

    def sample_sequences(self, n: int, length: int, gen: torch.Generator) -> Batch | None:
        """``n`` runs of ``length`` consecutive transitions of one episode, fields (n, length,
        ...); None while the buffer holds too few. Runs that cross an episode start or the
        ring's write position are redrawn (a few tries, then dropped)."""
        if self.size < length + 1:
            return None
        idx = torch.zeros((0, length), dtype=torch.long)
        for _ in range(4):
            start = torch.randint(0, self.size - length + 1, (2 * n,), generator=gen)
            if self.size == self.capacity:  # oldest entry first: offsets from the write position
                start = (self.ptr + start) % self.capacity
            run = (start[:, None] + torch.arange(length)) % self.capacity
            ok = (
                ~self.data["first"][run[:, 1:]].bool().any(1)
                if length > 1
                else torch.ones(len(run), dtype=torch.bool)
            )
            idx = torch.cat([idx, run[ok]])[:n]
            if len(idx) == n:
                break
        if not len(idx):
            return None
        return Batch(*(self.data[k][idx] for k in self.FIELDS))

    def state_dict(self) -> dict:
        return {
            "capacity": self.capacity,
            "size": self.size,
            "ptr": self.ptr,
            "data": {k: v[: self.size].clone() for k, v in self.data.items()},
        }

    def load_state_dict(self, s: dict) -> None:
        self.capacity, self.size, self.ptr = int(s["capacity"]), 0, 0
        self.data = {}
        if s["data"]:
            self.add(Batch(**s["data"]))
        self.size, self.ptr = int(s["size"]), int(s["ptr"])


@dataclass
class LearnerContext:
    """What a policy learner is given for one update, and all it may use.

    ``new``: the transitions collected since the last update. ``reward``: the learned reward
    r(s, a, s', terminal), differentiable in a and s' (None: the task's recorded rewards).
    ``demo_obs``: demonstrated states the actor may start rollouts from. ``bc_loss``: an extra
    policy loss (behaviour cloning), added to the actor's."""

    new: Batch
    reward: RewardFn | None = None
    demo_obs: torch.Tensor | None = None
    bc_loss: Callable[[], torch.Tensor] | None = None


def entropy_free_reward(disc: nn.Module) -> RewardFn:
    """The reward an SVG learner is handed from an adversarial discriminator: D's policy reward
    without its entropy term (f for AIRL, -log(1 - D) for GAIL); the learner's alpha weighs
    the entropy (module docstring)."""

    def reward(s, a, s2, d):
        return disc.policy_reward(s, a, s2, d, torch.zeros(s.shape[:-1]), 0.0)

    return reward


class SVGLearner:
    """The SVG(H) policy learner (module docstring). It owns its replay buffer, critics,
    model and temperature; ``update`` returns metrics and changes nothing outside it."""

    model_based = True

    def __init__(self, cfg: SVGConfig, obs_dim: int, act_dim: int, policy: nn.Module, gen: torch.Generator):
        self.cfg, self.policy, self.gen = cfg, policy, gen
        self.discrete = bool(getattr(policy, "discrete", False))
        self.obs_dim, self.act_dim = obs_dim, act_dim
        self.q = nn.ModuleList(mlp(obs_dim + act_dim, cfg.hidden, 1) for _ in range(2))
        self.q_target = copy.deepcopy(self.q).requires_grad_(False)
        alpha0 = cfg.alpha_init if cfg.fixed_alpha is None else max(cfg.fixed_alpha, 1e-12)
        self.log_alpha = nn.Parameter(torch.tensor(float(np.log(alpha0))))
        self.target_entropy = cfg.target_entropy
        if self.target_entropy is None:
            self.target_entropy = 0.5 * float(np.log(act_dim)) if self.discrete else -float(act_dim)
        self.policy_opt = adam(policy.parameters(), cfg.lr)
        self.q_opt = adam(self.q.parameters(), cfg.lr)
        self.alpha_opt = adam([self.log_alpha], cfg.lr)
        self.dynamics = self.reward_model = None
        if cfg.horizon > 0:
            d = cfg.model_d
            if cfg.model_params is not None:
                d = width_for_params(cfg.model, obs_dim, act_dim, cfg.model_params)
            self.dynamics = make_dynamics(cfg.model, obs_dim, act_dim, d_model=d, embed_hidden=d)
            self.model_opt = adam(self.dynamics.parameters(), cfg.model_lr)
            self.reward_model = mlp(2 * obs_dim + act_dim, cfg.reward_hidden, 1)
            self.reward_opt = adam(self.reward_model.parameters(), cfg.lr)
        self.replay = ReplayBuffer(cfg.replay_size)
        self.env_steps = 0
        self.updates = 0
        self._owed = 0.0  # fractional updates carried over (updates_per_step)
        self.model_scaled = False

    # ----- bookkeeping -----
    def modules(self) -> dict[str, nn.Module]:
        out = {"q": self.q, "q_target": self.q_target}
        if self.dynamics is not None:
            out.update(dynamics=self.dynamics, reward_model=self.reward_model)
        return out

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        out = {"policy_opt": self.policy_opt, "q_opt": self.q_opt, "alpha_opt": self.alpha_opt}
        if self.dynamics is not None:
            out.update(model_opt=self.model_opt, reward_opt=self.reward_opt)
        return out

    def state_dict(self) -> dict:
        return {
            "log_alpha": self.log_alpha.detach().clone(),
            "env_steps": self.env_steps,
            "updates": self.updates,
            "owed": self._owed,
            "model_scaled": self.model_scaled,
            "replay": self.replay.state_dict(),
        }

    def load_state_dict(self, s: dict) -> None:
        with torch.no_grad():
            self.log_alpha.copy_(s["log_alpha"])
        self.env_steps, self.updates = int(s["env_steps"]), int(s["updates"])
        self._owed, self.model_scaled = float(s["owed"]), bool(s["model_scaled"])
        self.replay.load_state_dict(s["replay"])

    @property
    def alpha(self) -> torch.Tensor:
        if self.cfg.fixed_alpha is not None:
            return torch.tensor(float(self.cfg.fixed_alpha))
        return self.log_alpha.exp().detach()

    # ----- the pieces -----
    def min_q(self, obs: torch.Tensor, act: torch.Tensor, target: bool = False) -> torch.Tensor:
        x = torch.cat([obs, act], -1)
        qs = self.q_target if target else self.q
        return torch.min(qs[0](x), qs[1](x)).squeeze(-1)

    def rewards(self, b: Batch, reward: RewardFn | None) -> torch.Tensor:
        """The batch's rewards: the recorded ones, or relabelled by the current ``reward``."""
        if reward is None:
            return b.reward
        with torch.no_grad():
            return reward(b.obs, b.act, b.next_obs, b.terminal)

    def soft_value(self, obs: torch.Tensor, target: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        """Discrete actions: (V(s), entropy of pi(.|s)), the exact expectation over actions."""
        logp = self.policy(obs)  # (N, A) log-probabilities
        n, k = logp.shape
        eye = torch.eye(k, dtype=obs.dtype)
        q = self.min_q(obs.unsqueeze(1).expand(n, k, obs.shape[-1]), eye.expand(n, k, k), target)
        probs = logp.exp()
        return (probs * (q - self.alpha * logp)).sum(-1), -(probs * logp).sum(-1)

    def td_target(self, b: Batch, r: torch.Tensor) -> torch.Tensor:
        """One-step soft TD target: a' drawn from the current policy at s' (the exact
        expectation over a' for discrete actions)."""
        with torch.no_grad():
            if self.discrete:
                soft = self.soft_value(b.next_obs, target=True)[0]
            else:
                a2, logp2 = self.policy.rsample(b.next_obs)
                soft = self.min_q(b.next_obs, a2, target=True) - self.alpha * logp2
            return r + self.cfg.gamma * (1.0 - b.terminal) * soft

    def critic_loss(self, b: Batch, r: torch.Tensor) -> torch.Tensor:
        y = self.td_target(b, r)
        x = torch.cat([b.obs, b.act], -1)
        return sum(F.mse_loss(q(x).squeeze(-1), y) for q in self.q)

    def _model_reward(self, reward: RewardFn | None) -> RewardFn:
        if reward is not None:
            return reward
        return lambda s, a, s2, d: self.reward_model(torch.cat([s, a, s2], -1)).squeeze(-1)

    def actor_objective(
        self,
        start: torch.Tensor,
        horizon: int,
        reward: RewardFn | None,
        noises: list[torch.Tensor] | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(J per start state, an estimate of the policy's entropy at the start states: -log pi
        of the first action, or the exact entropy for discrete actions): the SVG(H) objective."""
        r_fn = self._model_reward(reward) if horizon else None
        if self.discrete:
            return self._discrete_objective(start, horizon, r_fn)
        s, total, discount, first_ent = start, torch.zeros(start.shape[0]), 1.0, None
        for t in range(horizon + 1):
            a, logp = self.policy.rsample(s, None if noises is None else noises[t])
            ent = -logp
            first_ent = ent if first_ent is None else first_ent
            if t == horizon:
                return total + discount * (self.min_q(s, a) + self.alpha * ent), first_ent
            s2 = self._predict(s, a)
            total = total + discount * (r_fn(s, a, s2, torch.zeros_like(ent)) + self.alpha * ent)
            discount *= self.cfg.gamma
            s = s2
        raise AssertionError("unreachable")

    def _predict(self, s: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        s2 = self.dynamics.predict(s, a)
        if self.cfg.onehot_states:
            s2 = F.one_hot(s2.argmax(-1), s2.shape[-1]).to(s2.dtype) - s2.detach() + s2
        return s2

    def _discrete_objective(
        self, s: torch.Tensor, horizon: int, r_fn: RewardFn | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Discrete actions: the exact expectation of the H-step objective over every action
        sequence (A^H model steps per start state; H is 1-3), J_H(s) = sum_a pi(a|s) (r(s, a, s')
        - alpha log pi(a|s) + gamma J_{H-1}(s')), s' = F(s, a), J_0 = V. No sampling, so no
        Gumbel-softmax bias; (J, the exact entropy of pi(.|s))."""
        if horizon == 0:
            return self.soft_value(s)
        logp = self.policy(s)  # (N, A)
        n, k = logp.shape
        s_all = s.unsqueeze(1).expand(n, k, s.shape[-1]).reshape(n * k, -1)
        a_all = torch.eye(k, dtype=s.dtype).expand(n, k, k).reshape(n * k, k)
        s2 = self._predict(s_all, a_all)
        r = r_fn(s_all, a_all, s2, torch.zeros(n * k, dtype=s.dtype)).reshape(n, k)
        rest = self._discrete_objective(s2, horizon - 1, r_fn)[0].reshape(n, k)
        probs = logp.exp()
        j = (probs * (r - self.alpha * logp + self.cfg.gamma * rest)).sum(-1)
        return j, -(probs * logp).sum(-1)

    def model_loss(self, seq: Batch) -> torch.Tensor:
        """Multi-step Gaussian NLL: the model's own mean prediction is the next step's input."""
        s, loss = seq.obs[:, 0], 0.0
        for j in range(seq.obs.shape[1]):
            s = self.dynamics.predict(s, seq.act[:, j])
            loss = loss + self.dynamics.gaussian_nll(s, seq.next_obs[:, j])
        return loss / seq.obs.shape[1]

    # ----- one update round -----
    def observe(self, new: Batch) -> int:
        """Add transitions to the replay buffer without updating (a warm-up); how many."""
        self.replay.add(new)
        self.env_steps += new.obs.shape[0]
        return new.obs.shape[0]

    def update(self, ctx: LearnerContext) -> dict[str, float]:
        """Add ``ctx.new`` to the replay buffer and run ``updates_per_step`` gradient updates
        per new transition."""
        n_new = self.observe(ctx.new)
        self._owed += self.cfg.updates_per_step * n_new
        n_updates, self._owed = int(self._owed), self._owed - int(self._owed)
        if self.dynamics is not None and not self.model_scaled:
            delta = (
                self.replay.data["next_obs"][: self.replay.size] - self.replay.data["obs"][: self.replay.size]
            )
            self.dynamics.set_delta_scale(delta.std(0).clamp_min(1e-3))
            self.model_scaled = True
        logs: dict[str, list[float]] = {}
        for _ in range(n_updates):
            for k, v in self.update_once(ctx).items():
                logs.setdefault(k, []).append(v)
        return {k: float(np.mean(v)) for k, v in logs.items()}

    def _starts(self, b: Batch, demo_obs: torch.Tensor | None) -> torch.Tensor:
        n_demo = 0 if demo_obs is None else int(round(self.cfg.demo_start_frac * len(b.obs)))
        if not n_demo:
            return b.obs
        pick = torch.randint(0, len(demo_obs), (n_demo,), generator=self.gen)
        return torch.cat([b.obs[n_demo:], demo_obs[pick]])

    def update_once(self, ctx: LearnerContext) -> dict[str, float]:
        cfg = self.cfg
        out: dict[str, float] = {}
        b = self.replay.sample(cfg.batch_size, self.gen)
        r = self.rewards(b, ctx.reward)
        # critic
        q_loss = self.critic_loss(b, r)
        self.q_opt.zero_grad()
        q_loss.backward()
        self.q_opt.step()
        out["critic/loss"] = q_loss.item()
        # model and reward model (H > 0)
        use_model = self.dynamics is not None and self.env_steps >= cfg.model_warmup
        if self.dynamics is not None and self.updates % cfg.model_every == 0:
            seq = self.replay.sample_sequences(cfg.batch_size, max(cfg.model_seq, cfg.horizon), self.gen)
            if seq is not None:
                m_loss = self.model_loss(seq)
                self.model_opt.zero_grad()
                m_loss.backward()
                nn.utils.clip_grad_norm_(self.dynamics.parameters(), 10.0)
                self.model_opt.step()
                out["model/nll"] = m_loss.item()
            if ctx.reward is None:
                pred = self.reward_model(torch.cat([b.obs, b.act, b.next_obs], -1)).squeeze(-1)
                r_loss = F.mse_loss(pred, b.reward)
                self.reward_opt.zero_grad()
                r_loss.backward()
                self.reward_opt.step()
                out["reward_model/mse"] = r_loss.item()
        # actor: model gradients once the model had its warm-up
        frozen = [
            *self.q.parameters(),
            *(self.dynamics.parameters() if use_model else []),
            *(self.reward_model.parameters() if use_model and ctx.reward is None else []),
        ]
        for p in frozen:
            p.requires_grad_(False)
        try:
            j, ent = self.actor_objective(
                self._starts(b, ctx.demo_obs), cfg.horizon if use_model else 0, ctx.reward
            )
            loss = -j.mean()
            if ctx.bc_loss is not None:
                loss = loss + ctx.bc_loss()
            self.policy_opt.zero_grad()
            loss.backward()
            self.policy_opt.step()
        finally:
            for p in frozen:
                p.requires_grad_(True)
        out["policy/objective"] = float(j.detach().mean())
        # temperature
        if self.cfg.fixed_alpha is None:
            a_loss = (self.log_alpha * (ent.detach() - self.target_entropy)).mean()
            self.alpha_opt.zero_grad()
            a_loss.backward()
            self.alpha_opt.step()
        out["policy/alpha"] = float(self.alpha)
        out["policy/entropy"] = float(ent.detach().mean())
        # targets
        with torch.no_grad():
            for p, pt in zip(self.q.parameters(), self.q_target.parameters()):
                pt.mul_(1 - cfg.tau).add_(cfg.tau * p)
        self.updates += 1
        return out
