"""One adversarial base for MAIRL, MGAIL, AIRL, GAIL and GAN-GCL.

A method is a discriminator (``models.reward``) plus a policy learner:

=========  ===============  ====================================================
method     discriminator    policy learner
=========  ===============  ====================================================
MAIRL      AIRL  f - log pi  model-based: exact gradients through F (§IV-C); by default
                             SVG(H) (algos/svg.py), or the paper's imagined rollouts
MGAIL      GAIL  D(s, a)     model-based, as MAIRL
AIRL (SAC) AIRL              SVG(0) = SAC: the off-policy learner without model gradients
AIRL       AIRL              PPO (a standard policy-gradient learner)
GAIL       GAIL              PPO
GAN-GCL    trajectory AIRL   PPO
=========  ===============  ====================================================

``AdversarialTrainer.train_iteration`` is one pass of Algorithm 1: collect T
steps with pi into the buffer, fit the forward model F (eq. 15, model-based
learners only), fit the discriminator (eq. 2), update pi.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..models.dynamics import make_dynamics
from ..models.nets import mlp
from ..models.policy import CategoricalPolicy, GaussianPolicy, gumbel_softmax_sample
from ..models.reward import make_discriminator
from .config import AlgoConfig
from .normalize import NormalizedPolicy, NormalizedVecEnv, ObsNorm
from .svg import Batch, LearnerContext, SVGLearner


class VecEnv(Protocol):
    """What the trainers need of an environment (all tensors are float32)."""

    obs_dim: int
    act_dim: int
    discrete: bool
    n_envs: int
    horizon: int
    dynamics_head: str  # 'gaussian' or 'categorical'

    def reset(self) -> torch.Tensor: ...
    def step(self, env_actions: torch.Tensor) -> tuple[torch.Tensor, np.ndarray, bool]: ...
    def step_from(self, obs: torch.Tensor, env_actions: torch.Tensor) -> torch.Tensor: ...
    def rng_state(self) -> dict: ...
    def set_rng_state(self, state: dict) -> None: ...


@dataclass
class Transitions:
    """Episodes of fixed length T: obs/next_obs (E, T, obs_dim), act (E, T, act_dim)."""

    obs: torch.Tensor
    act: torch.Tensor
    next_obs: torch.Tensor
    done: torch.Tensor
    env_reward: torch.Tensor | None = None
    logp: torch.Tensor | None = None

    def map(self, fn) -> Transitions:
        """Apply ``fn`` to every field that is present."""
        return Transitions(*(None if (x := getattr(self, k)) is None else fn(x) for k in FIELDS))

    def flat(self) -> Transitions:
        return self.map(lambda x: x.reshape(-1, *x.shape[2:]))

    def __len__(self) -> int:
        return self.obs.shape[0]

    def index(self, idx) -> Transitions:
        return self.map(lambda x: x[idx])


FIELDS = tuple(f.name for f in dataclasses.fields(Transitions))


def cat_transitions(*parts: Transitions) -> Transitions:
    """The fields F and D read (obs, act, next_obs, done) of ``parts``, one after another."""
    return Transitions(*(torch.cat([getattr(x, k) for x in parts])
                         for k in ("obs", "act", "next_obs", "done")))


class EpisodeBuffer:
    """Ring buffer of whole fixed-length episodes (the experience buffer D)."""

    def __init__(self, capacity_steps: int, horizon: int):
        self.capacity = max(1, capacity_steps // horizon)
        self.horizon = horizon
        self.data: Transitions | None = None
        self.size = 0
        self.ptr = 0

    def add(self, ep: Transitions) -> None:
        n = len(ep)
        if self.data is None:
            self.data = ep.map(lambda x: torch.zeros((self.capacity, *x.shape[1:]), dtype=x.dtype))
        idx = (self.ptr + torch.arange(n)) % self.capacity
        for k in FIELDS:
            src = getattr(ep, k)
            if src is not None:
                getattr(self.data, k)[idx] = src
        self.ptr = (self.ptr + n) % self.capacity
        self.size = min(self.size + n, self.capacity)

    def state_dict(self) -> dict:
        fields = {} if self.data is None else {
            k: getattr(self.data, k)[:self.size].clone() for k in FIELDS
            if getattr(self.data, k) is not None}
        return {"ptr": self.ptr, "size": self.size, "fields": fields}

    def load_state_dict(self, state: dict) -> None:
        self.data, self.size, self.ptr = None, 0, 0
        if state["fields"]:
            self.add(Transitions(**state["fields"]))
        self.ptr, self.size = int(state["ptr"]), int(state["size"])

    def recent_episodes(self, n_steps: int) -> Transitions:
        n = min(self.size, max(1, n_steps // self.horizon))
        idx = (self.ptr - 1 - torch.arange(n)) % self.capacity
        return self.data.index(idx)



class TrainingDiverged(RuntimeError):
    """A training iteration produced non-finite numbers (a loss, a return, a weight).

    Raised at the end of that iteration, before anything is logged as a result or
    saved, so the last checkpoint written is still the last good state."""


class ModelBasedLearner:
    """Policy learning through a differentiable forward model (§IV-C).

    The objective is J = sum_t gamma^t r_hat(s_t, a_t) over short rollouts
    (eq. 19-20 evaluated by autograd: backprop through time is exactly that
    recursion), with actions re-parameterised (eq. 21; eq. 22 for discrete)
    and s_{t+1} = F(s_t, a_t) (eq. 14). In ``real`` mode the forward value of
    s_{t+1} comes from the environment and its gradient from the model:
    s_{t+1} = F(s, a) + stop_grad(s_env - F(s, a)). For one-hot (categorical)
    states the imagined s_{t+1} is a sample from F's distribution with the
    same straight-through form.
    """

    model_based = True

    def __init__(self, cfg: AlgoConfig, env: VecEnv, policy: nn.Module, gen: torch.Generator,
                 expert: Transitions | None = None):
        self.cfg, self.env, self.policy, self.gen = cfg, env, policy, gen
        self.dynamics = make_dynamics(cfg.dynamics, env.obs_dim, env.act_dim, head=env.dynamics_head,
                                      d_model=cfg.d_model, n_heads=cfg.n_heads,
                                      embed_hidden=cfg.embed_hidden, gated_decoder=cfg.gated_decoder,
                                      attention_blocks=cfg.attention_blocks)
        self.expert = expert
        self.model_scaled = not (cfg.normalize_obs and env.dynamics_head == "gaussian")
        self.model_opt = torch.optim.Adam(self.dynamics.parameters(), lr=cfg.model_lr)
        self.policy_opt = torch.optim.Adam(self.policy.parameters(), lr=cfg.policy_lr)
        self.critic = self.critic_opt = None
        if cfg.rollout_critic:  # V(s_H) closes each differentiable rollout
            self.critic = mlp(env.obs_dim, cfg.policy_hidden, 1)
            self.critic_opt = torch.optim.Adam(self.critic.parameters(), lr=cfg.critic_lr)
        if cfg.rollout_mode == "replay" and (policy.discrete or getattr(policy, "binary", 0)):
            raise ValueError("rollout_mode 'replay' infers the noise of recorded actions: it needs "
                             "a continuous Gaussian policy (no discrete or binary actions)")

    def modules(self) -> dict[str, nn.Module]:
        return {"dynamics": self.dynamics, **({"critic": self.critic} if self.critic is not None else {})}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"model_opt": self.model_opt, "policy_opt": self.policy_opt,
                **({"critic_opt": self.critic_opt} if self.critic is not None else {})}

    def state_dict(self) -> dict:
        """What is not in a module or an optimiser: whether F's delta scale has been set (a
        resumed run that set it again would rescale a trained model)."""
        return {"model_scaled": self.model_scaled}

    def load_state_dict(self, state: dict) -> None:
        self.model_scaled = bool(state["model_scaled"])

    def train_critic(self, disc: nn.Module, episodes: list[Transitions]) -> dict[str, float]:
        """Fit V to TD(lambda) returns of the policy reward r_hat = f - alpha log pi (current D
        and policy) along recorded episodes, bootstrapped with V itself (the critic that ends
        each rollout with gamma^H V(s_H) when ``rollout_critic`` is on)."""
        cfg = self.cfg
        obs, targets = [], []
        with torch.no_grad():
            for ep in episodes:
                flat = ep.flat()
                r = disc.policy_reward(flat.obs, flat.act, flat.next_obs, flat.done,
                                       self.policy.log_prob(flat.obs, flat.act),
                                       cfg.entropy_weight).reshape(ep.done.shape)
                v_next = self.critic(flat.next_obs).reshape(ep.done.shape) * (1 - ep.done)
                ret = torch.zeros_like(r)
                nxt = v_next[:, -1]  # fixed-horizon episodes are truncated: bootstrap at the end
                for t in reversed(range(r.shape[1])):
                    nxt = r[:, t] + cfg.gamma * ((1 - cfg.critic_lambda) * v_next[:, t]
                                                 + cfg.critic_lambda * nxt)
                    ret[:, t] = nxt
                obs.append(flat.obs), targets.append(ret.reshape(-1))
        obs, targets = torch.cat(obs), torch.cat(targets)
        losses = []
        for _ in range(cfg.policy_steps):
            idx = torch.randint(0, len(obs), (cfg.batch_size,), generator=self.gen)
            loss = F.mse_loss(self.critic(obs[idx]).squeeze(-1), targets[idx])
            self.critic_opt.zero_grad()
            loss.backward()
            self.critic_opt.step()
            losses.append(loss.item())
        return {"critic/loss": float(np.mean(losses)), "critic/target": float(targets.mean())}

    def _close(self, total: torch.Tensor, discount: float, last_obs: torch.Tensor) -> torch.Tensor:
        """Add gamma^H V(s_H) when a critic closes the rollout."""
        if self.critic is None:
            return total
        return total + discount * self.critic(last_obs).squeeze(-1)

    def train_model(self, buffer: EpisodeBuffer, extra: EpisodeBuffer | None = None
                    ) -> dict[str, float]:
        """Maximum likelihood on the buffer (eq. 15), and on ``extra`` (the explorer's) if given."""
        losses, norms = [], []
        data = buffer.recent_episodes(buffer.capacity * buffer.horizon).flat()
        if extra is not None and extra.size:
            data = cat_transitions(data, extra.recent_episodes(extra.capacity * extra.horizon).flat())
        if self.cfg.model_uses_demos and self.expert is not None:
            # the demos are real transitions too, and half the rollouts may start from them
            data = cat_transitions(data, self.expert.flat())
        if not self.model_scaled:  # first call: scale the model to expert + first agent steps
            delta = torch.cat([(d.next_obs - d.obs).reshape(-1, self.env.obs_dim)
                               for d in (self.expert, data) if d is not None])
            self.dynamics.set_delta_scale(delta.std(0).clamp_min(self.cfg.delta_std_min))
            self.model_scaled = True
        for _ in range(self.cfg.model_steps):
            b = data.index(torch.randint(0, len(data), (self.cfg.batch_size,), generator=self.gen))
            loss = self.dynamics.nll(b.obs, b.act, b.next_obs)
            self.model_opt.zero_grad()
            loss.backward()
            norms.append(float(nn.utils.clip_grad_norm_(self.dynamics.parameters(),
                                                        self.cfg.model_grad_clip)))
            self.model_opt.step()
            losses.append(loss.item())
        return {"model/nll": float(np.mean(losses)), "model/grad_norm": float(np.max(norms))}

    def predict(self, obs: torch.Tensor, act: torch.Tensor) -> torch.Tensor:
        """F(s, a); for discrete actions the mixture sum_i a_i F(s, e_i).

        Discrete actions: the relaxation (eq. 22) is applied to the transition,
        not inside the network. F is only ever queried at the one-hot actions
        it was trained on, and d s'/d a_i = F(s, e_i) does not vanish, whereas
        the input gradient of a confident categorical model at a one-hot
        input is ~0 and would starve the policy of gradient.
        """
        if not self.policy.discrete:
            return self.dynamics.predict(obs, act)
        b, n = act.shape
        eye = torch.eye(n, dtype=act.dtype)
        per_action = self.dynamics.predict(obs.repeat_interleave(n, 0), eye.repeat(b, 1))
        return (act.unsqueeze(-1) * per_action.reshape(b, n, -1)).sum(1)

    def next_state(self, obs: torch.Tensor, act: torch.Tensor, pred: torch.Tensor) -> torch.Tensor:
        """s' = F(s,a) + stop_grad(target - F(s,a)): the value of the target, the model's gradient.

        The target is the env's next state ('real' mode), a sample of a
        categorical prediction (one-hot states), or the prediction itself.
        """
        if self.cfg.rollout_mode == "real":
            target = self.env.step_from(obs.detach(), self.policy.env_action(act.detach()))
        elif self.env.dynamics_head == "categorical":
            idx = torch.multinomial(pred.detach().clamp_min(1e-8), 1, generator=self.gen).squeeze(-1)
            target = F.one_hot(idx, pred.shape[-1]).to(pred.dtype)
        else:
            return pred
        return pred + (target - pred).detach()

    def rollout_objective(self, disc: nn.Module, start_obs: torch.Tensor,
                          noises: list[torch.Tensor] | None = None,
                          recorded: Transitions | None = None) -> torch.Tensor:
        """Mean over starts of sum_t gamma^t r_hat_t along a differentiable rollout; with
        ``recorded`` (B, H, dim) each next state's value is the recorded one (see
        ``replay_objective``)."""
        if self.env.dynamics_head == "categorical":
            return self._tabular_objective(disc, start_obs, noises)
        obs = start_obs
        total = torch.zeros(obs.shape[0], dtype=obs.dtype)
        discount = 1.0
        for t in range(self.cfg.rollout_horizon if recorded is None else recorded.obs.shape[1]):
            act, logp = self.policy.rsample(obs, None if noises is None else noises[t])
            pred = self.predict(obs, act)
            if recorded is None:
                nxt, done = self.next_state(obs, act, pred), torch.zeros_like(logp)
            else:
                nxt, done = pred + (recorded.next_obs[:, t] - pred).detach(), recorded.done[:, t]
            total = total + discount * disc.policy_reward(obs, act, nxt, done, logp,
                                                          self.cfg.entropy_weight)
            discount *= self.cfg.gamma
            obs = nxt
        return self._close(total, discount, obs).mean()

    def replay_objective(self, disc: nn.Module, seg: Transitions, noise: torch.Tensor
                         ) -> torch.Tensor:
        """Mean over recorded segments of sum_t gamma^t r_hat_t, SVG(inf)-style.

        ``seg`` holds real transitions, (B, H, dim), and ``noise`` the standard-normal
        noise each recorded action was inferred to have had (``GaussianPolicy.noise_of``,
        taken once per update, before the policy moves). The actions are re-drawn with that
        noise, a_t = pi(s_t, eps_t), and each next state is s_{t+1} = F(s_t, a_t) +
        stop_grad(s_env - F(s_t, a_t)): the states along the rollout are the recorded ones
        (no model error compounds, and D scores states that happened), every derivative
        is the model's (eq. 19-21). The noise stays fixed while the policy moves, so the
        action's value moves with it and the squashing and the reward can stop it.
        """
        return self.rollout_objective(disc, seg.obs[:, 0], list(noise.unbind(1)), recorded=seg)

    def _segments(self, episodes: Transitions, noise: torch.Tensor, n: int
                  ) -> tuple[Transitions, torch.Tensor]:
        """``n`` random windows of ``rollout_horizon`` consecutive steps of ``episodes``
        (E, T, ...) and of their inferred action noise (E, T, act_dim)."""
        n_eps, length = episodes.obs.shape[:2]
        h = min(self.cfg.rollout_horizon, length)
        e = torch.randint(0, n_eps, (n, 1), generator=self.gen)
        t = torch.randint(0, length - h + 1, (n, 1), generator=self.gen) + torch.arange(h)
        return (Transitions(episodes.obs[e, t], episodes.act[e, t], episodes.next_obs[e, t],
                            episodes.done[e, t]), noise[e, t])

    def _tabular_objective(self, disc: nn.Module, start_obs: torch.Tensor,
                           noises: list[torch.Tensor] | None = None) -> torch.Tensor:
        """The same rollout for a finite state space (one-hot states, e.g. GridWorld).

        pi, F and r_hat are tabulated over all (s, a, s') and the rollout uses
        their multilinear extension, e.g. r(s, a, s') = sum_kij s_k a_i s'_j R[k, i, j].
        It equals the networks at every real (one-hot) point, and its
        derivative between states is a difference of values; a ReLU network's
        slope at a one-hot input says nothing reliable about its value at
        another one-hot input, and misled the policy.
        """
        n_s, n_a = self.env.obs_dim, self.env.act_dim
        eye_s, eye_a = torch.eye(n_s), torch.eye(n_a)
        logp_tab = self.policy(eye_s)  # (S, A), differentiable in the policy's parameters
        k, i, j = (x.reshape(-1) for x in torch.meshgrid(torch.arange(n_s), torch.arange(n_a),
                                                        torch.arange(n_s), indexing="ij"))
        zeros = torch.zeros(k.shape[0])
        reward_tab = disc.policy_reward(eye_s[k], eye_a[i], eye_s[j], zeros, zeros, 0.0
                                        ).reshape(n_s, n_a, n_s)  # f only; -alpha log pi added below
        trans_tab = self.dynamics.predict(eye_s.repeat_interleave(n_a, 0), eye_a.repeat(n_s, 1)
                                          ).reshape(n_s, n_a, n_s)
        obs = start_obs
        total = torch.zeros(obs.shape[0], dtype=obs.dtype)
        discount = 1.0
        for t in range(self.cfg.rollout_horizon):
            logp_all = obs @ logp_tab
            act, logp = gumbel_softmax_sample(logp_all, self.cfg.gumbel_temperature,
                                              self.cfg.straight_through,
                                              None if noises is None else noises[t])
            nxt = self.next_state(obs, act, torch.einsum("bk,bi,kij->bj", obs, act, trans_tab))
            if self.cfg.exact_discrete_entropy:  # E_a[-log pi(a|s)] in closed form: same objective, no sampling bias
                neg_logp = -(logp_all.exp() * logp_all).sum(-1)
            else:
                neg_logp = -logp
            r = torch.einsum("bk,bi,bj,kij->b", obs, act, nxt, reward_tab) + self.cfg.entropy_weight * neg_logp
            total = total + discount * r
            discount *= self.cfg.gamma
            obs = nxt
        return self._close(total, discount, obs).mean()

    def update_policy(self, trainer: AdversarialTrainer, batch: Transitions,
                      buffer: EpisodeBuffer | None = None) -> dict[str, float]:
        """``policy_steps`` steps on the rollout objective (minus ``bc_weight`` x the BC term);
        rollouts start from ``buffer``'s recent states (default: the trainer's agent buffer)
        and ``rollout_expert_frac`` of them from demonstrated states."""
        objs, norms = [], []
        disc = trainer.policy_disc
        episodes = (trainer.buffer if buffer is None else buffer).recent_episodes(
            self.cfg.agent_recent)
        n_exp = int(round(self.cfg.rollout_expert_frac * self.cfg.rollout_batch))
        metrics = {}
        if self.critic is not None:
            metrics = self.train_critic(disc, [episodes] + ([trainer.expert] if n_exp else []))
        frozen = [*disc.parameters(), *self.dynamics.parameters(),
                  *(self.critic.parameters() if self.critic is not None else [])]
        for p in frozen:
            p.requires_grad_(False)
        try:
            replay = self.cfg.rollout_mode == "replay"
            if replay:  # recorded segments, the agent's and (rollout_expert_frac) the demos'
                noise = self.policy.noise_of(episodes.obs, episodes.act)
                expert_noise = self.policy.noise_of(trainer.expert.obs, trainer.expert.act) if n_exp else None
            else:  # imagined rollouts start from recorded states
                pool = episodes.flat().obs
                expert_pool = trainer.expert.flat().obs if n_exp else None
            for _ in range(self.cfg.policy_steps):
                if replay:
                    seg, eps = self._segments(episodes, noise, self.cfg.rollout_batch - n_exp)
                    if n_exp:
                        seg_x, eps_x = self._segments(trainer.expert, expert_noise, n_exp)
                        seg, eps = cat_transitions(seg, seg_x), torch.cat([eps, eps_x])
                    obj = self.replay_objective(disc, seg, eps)
                else:
                    starts = pool[torch.randint(0, len(pool), (self.cfg.rollout_batch - n_exp,),
                                                generator=self.gen)]
                    if n_exp:  # imagined rollouts may start anywhere: also from demonstrated states
                        starts = torch.cat([starts, expert_pool[torch.randint(
                            0, len(expert_pool), (n_exp,), generator=self.gen)]])
                    obj = self.rollout_objective(disc, starts)
                self.policy_opt.zero_grad()
                (trainer.bc_loss(self.cfg.bc_weight) - obj).backward()
                norms.append(float(torch.sqrt(sum(p.grad.pow(2).sum() for p in self.policy.parameters()
                                                  if p.grad is not None))))
                nn.utils.clip_grad_value_(self.policy.parameters(), self.cfg.policy_grad_clip)
                self.policy_opt.step()
                objs.append(obj.item())
                if self.cfg.rollout_mode == "real":
                    trainer.env_steps += self.cfg.rollout_batch * self.cfg.rollout_horizon
        finally:
            for p in frozen:
                p.requires_grad_(True)
        return {**metrics, "policy/objective": float(np.mean(objs)),
                "policy/grad_norm": float(np.mean(norms))}


class PPOLearner:
    """Clipped-surrogate PPO with GAE on the discriminator's reward (the model-free baselines).

    Rewards are the discriminator's ``policy_reward`` with the same entropy
    weight as MAIRL, so the only difference to MAIRL is how the gradient is
    estimated (likelihood ratio here, exact through the model there).
    """

    model_based = False

    def __init__(self, cfg: AlgoConfig, env: VecEnv, policy: nn.Module, gen: torch.Generator,
                 expert: Transitions | None = None):
        self.cfg, self.env, self.policy, self.gen = cfg, env, policy, gen
        self.value = mlp(env.obs_dim, cfg.policy_hidden, 1)
        self.opt = torch.optim.Adam([*policy.parameters(), *self.value.parameters()], lr=cfg.ppo_lr)

    def modules(self) -> dict[str, nn.Module]:
        return {"value": self.value}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"ppo_opt": self.opt}

    def state_dict(self) -> dict:
        return {}  # everything PPO keeps is in its modules and optimiser

    def load_state_dict(self, state: dict) -> None:
        pass

    def update_policy(self, trainer: AdversarialTrainer, batch: Transitions) -> dict[str, float]:
        cfg = self.cfg
        with torch.no_grad():
            rew = trainer.policy_disc.policy_reward(batch.obs, batch.act, batch.next_obs, batch.done,
                                             batch.logp, cfg.entropy_weight)
            v = self.value(batch.obs).squeeze(-1)
            v_next = self.value(batch.next_obs).squeeze(-1) * (1.0 - batch.done)
            adv = torch.zeros_like(rew)
            last = torch.zeros(rew.shape[0])
            for t in reversed(range(rew.shape[1])):  # GAE(lambda); T-end is truncation, bootstrapped
                delta = rew[:, t] + cfg.gamma * v_next[:, t] - v[:, t]
                last = delta + cfg.gamma * cfg.gae_lambda * (1.0 - batch.done[:, t]) * last
                adv[:, t] = last
            ret = adv + v
        flat = batch.flat()
        adv_f, ret_f = adv.reshape(-1), ret.reshape(-1)
        n = len(flat)
        mb = max(1, n // cfg.ppo_minibatches)
        losses = []
        for _ in range(cfg.ppo_epochs):
            perm = torch.randperm(n, generator=self.gen)
            for i in range(0, n, mb):
                idx = perm[i:i + mb]
                a = adv_f[idx]
                a = (a - a.mean()) / (a.std() + 1e-8)
                logp = self.policy.log_prob(flat.obs[idx], flat.act[idx])
                # A squashed action at its bound is evaluated at the clamp edge (GaussianPolicy
                # ._EDGE), where a pre-squash mean far outside gives log pi hundreds of nats off;
                # exp() then overflows to inf and the surrogate to NaN (seen: GAIL from scratch
                # on HalfCheetah, iteration 121). Capped at e^20 the ratio stays finite; below
                # the cap the value is unchanged.
                ratio = (logp - flat.logp[idx]).clamp(max=20.0).exp()
                pg = -torch.min(ratio * a, ratio.clamp(1 - cfg.ppo_clip, 1 + cfg.ppo_clip) * a).mean()
                vl = (self.value(flat.obs[idx]).squeeze(-1) - ret_f[idx]).pow(2).mean()
                loss = pg + cfg.value_coef * vl + trainer.bc_loss()
                self.opt.zero_grad()
                loss.backward()
                nn.utils.clip_grad_norm_([*self.policy.parameters(), *self.value.parameters()],
                                         cfg.ppo_max_grad_norm)
                self.opt.step()
                losses.append(pg.item())
        return {"policy/ppo_loss": float(np.mean(losses)), "policy/reward_mean": float(rew.mean())}


def make_policy(cfg: AlgoConfig, obs_dim: int, act_dim: int, discrete: bool,
                action_scale: float | None = None, state_std: bool = False) -> nn.Module:
    """The policy of ``cfg``: categorical (Gumbel-softmax) for discrete actions, else Gaussian
    (squashed into (-action_scale, action_scale) when the env has a hard action bound; a
    state-dependent std, as in SAC, with ``state_std``)."""
    if discrete:
        if cfg.binary_actions:
            raise ValueError("binary_actions is for continuous-action envs")
        return CategoricalPolicy(obs_dim, act_dim, cfg.policy_hidden, cfg.gumbel_temperature,
                                 cfg.straight_through)
    return GaussianPolicy(obs_dim, act_dim, cfg.policy_hidden, cfg.log_std_init, cfg.log_std_min,
                          cfg.log_std_max, action_scale, binary=cfg.binary_actions,
                          temperature=cfg.gumbel_temperature, bound_mean=cfg.bound_policy_mean,
                          state_std=state_std)


#: method -> (discriminator, policy learner); ModelBasedLearner stands for the model-based
#: learner ``AlgoConfig.learner`` names (SVG by default, or the imagined-rollout one)
METHODS: dict[str, tuple[str, type]] = {
    "mairl": ("airl", ModelBasedLearner),
    "mgail": ("gail", ModelBasedLearner),
    "airl-sac": ("airl", SVGLearner),
    "airl": ("airl", PPOLearner),
    "gail": ("gail", PPOLearner),
    "gan-gcl": ("gan-gcl", PPOLearner),
}


class AdversarialTrainer:
    """Algorithm 1, for any discriminator / learner pair in ``METHODS``."""

    def __init__(self, method: str, cfg: AlgoConfig, env: VecEnv, expert: Transitions | None,
                 seed: int = 0, log_fn: Callable[[dict[str, float], int], None] | None = None,
                 obs_norm: ObsNorm | None = None):
        """``expert`` may be None only with ``freeze_reward`` (then pass the ``obs_norm`` the
        reward was learned with, if it used one)."""
        if method not in METHODS:
            raise ValueError(f"unknown method '{method}' ({', '.join(METHODS)})")
        if expert is None and not (cfg.freeze_reward and cfg.rollout_expert_frac == 0
                                   and cfg.bc_weight == 0 and cfg.bc_init_steps == 0):
            raise ValueError("training without demos needs freeze_reward and no demo-based terms "
                             "(rollout_expert_frac, bc_weight, bc_init_steps = 0)")
        torch.manual_seed(seed)
        np.random.seed(seed)  # unused by training, but seeded and checkpointed as torch's: a
        random.seed(seed)     # resumed run's global streams then continue an uninterrupted one's
        self.method, self.cfg, self.env, self.seed = method, cfg, env, seed
        self.gen = torch.Generator().manual_seed(seed)
        self.obs_norm = obs_norm
        self.goal_shift: tuple[slice, torch.Tensor] | None = None  # cfg.relabeled_negatives
        # the observation entries D's gradient penalty covers (None: all of them)
        self.penalty_obs_cols: torch.Tensor | None = None
        goal = getattr(env, "goal_slice", None)
        if not cfg.grad_penalty_goal and goal is not None:
            keep = torch.ones(env.obs_dim, dtype=torch.bool)
            keep[goal] = False
            self.penalty_obs_cols = keep.nonzero().squeeze(-1)
        if cfg.relabeled_negatives > 0 and not cfg.freeze_reward:  # D trains: its negatives
            if expert is None or not hasattr(env, "goal_positions") or method == "gan-gcl":
                raise ValueError("relabeled_negatives needs demos, a goal-conditioned env "
                                 "(goal_slice, goal_positions) and a transition-level discriminator")
            # each demo episode's goal (constant within it), from its first raw observation
            self.goal_shift = (env.goal_slice, env.goal_positions(expert.obs[:, 0]))
        if cfg.normalize_obs:  # every network works in the demos' normalised coordinates
            if self.obs_norm is None:
                if expert is None:
                    raise ValueError("normalize_obs without demos needs the reward's obs_norm")
                bound = getattr(env, "action_scale", None)
                act_floor = 0.0 if bound is None else cfg.act_std_min_frac * torch.as_tensor(bound)
                self.obs_norm = ObsNorm.fit(expert.obs, expert.act, cfg.obs_std_min, act_floor)
            env = NormalizedVecEnv(env, self.obs_norm)
            if expert is not None:
                expert = dataclasses.replace(expert, obs=self.obs_norm(expert.obs),
                                             act=expert.act / self.obs_norm.act_scale,
                                             next_obs=self.obs_norm(expert.next_obs))
            self.env = env
        self.expert = expert
        self.action_scale = getattr(env, "action_scale", None)
        disc_kind, learner_cls = METHODS[method]
        if learner_cls is ModelBasedLearner and cfg.learner == "svg":
            learner_cls = SVGLearner
        if learner_cls is SVGLearner and env.discrete:
            raise ValueError(f"method '{method}' with the SVG learner needs continuous actions; "
                             f"for discrete ones set `learner: imagined` (GridWorld does)")
        self.policy = make_policy(cfg, env.obs_dim, env.act_dim, env.discrete, self.action_scale,
                                  state_std=learner_cls is SVGLearner)
        hidden = cfg.disc_hidden if disc_kind == "gail" else cfg.reward_hidden
        self.disc = make_discriminator(disc_kind, env.obs_dim, env.act_dim, hidden=hidden,
                                       gamma=cfg.gamma, state_only=cfg.state_only)
        self.disc_opt = torch.optim.Adam(self.disc.parameters(), lr=cfg.disc_lr)
        self.disc_avg = None
        if cfg.reward_ema > 0:
            self.disc_avg = torch.optim.swa_utils.AveragedModel(
                self.disc, multi_avg_fn=torch.optim.swa_utils.get_ema_multi_avg_fn(cfg.reward_ema))
        if learner_cls is SVGLearner:  # its own settings; AIRL (SAC) is SVG(0)
            svg_cfg = dataclasses.replace(cfg.svg, gamma=cfg.gamma, model=cfg.dynamics,
                                          horizon=0 if method == "airl-sac" else cfg.svg.horizon)
            self.learner = SVGLearner(svg_cfg, env.obs_dim, env.act_dim, self.policy, self.gen)
        else:
            self.learner = learner_cls(cfg, env, self.policy, self.gen, self.expert)
        self.policy_avg = None
        if cfg.policy_ema > 0:
            self.policy_avg = torch.optim.swa_utils.AveragedModel(
                self.policy, multi_avg_fn=torch.optim.swa_utils.get_ema_multi_avg_fn(cfg.policy_ema))
        self.buffer = EpisodeBuffer(cfg.buffer_size, env.horizon)
        self.random_pool: Transitions | None = None  # cfg.random_negatives' episodes
        if cfg.random_negatives and (env.discrete or cfg.binary_actions or method == "gan-gcl"
                                     or self.action_scale is None):
            raise ValueError("random_negatives needs bounded continuous actions and a "
                             "transition-level discriminator")
        self.explorer: nn.Module | None = None  # cfg.explorer_negatives
        if cfg.explorer_negatives > 0 and not cfg.freeze_reward:
            if learner_cls is not ModelBasedLearner:
                raise ValueError("explorer_negatives needs a model-based method (mairl, mgail) "
                                 "with `learner: imagined`")
            # a fresh policy with the learner of reward transfer (no demo terms), sharing F
            self.explorer = make_policy(cfg, env.obs_dim, env.act_dim, env.discrete, self.action_scale)
            self.explorer_learner = ModelBasedLearner(
                dataclasses.replace(cfg, rollout_expert_frac=0.0, bc_weight=0.0),
                env, self.explorer, self.gen, None)
            self.explorer_learner.dynamics = self.learner.dynamics
            self.explorer_buffer = EpisodeBuffer(cfg.explorer_window or cfg.buffer_size, env.horizon)
        self.iteration = 0
        self.env_steps = 0
        self.disc_steps_done = 0
        self.log_fn = log_fn

    # ----- Algorithm 1, step by step -----
    @torch.no_grad()
    def collect(self, random_actions: bool = False, policy: nn.Module | None = None,
                buffer: EpisodeBuffer | None = None) -> Transitions:
        """Run pi (or ``policy``) in the real environment for T steps in each of n_envs envs,
        adding the episodes to the agent's buffer (or ``buffer``); or uniformly random
        actions inside the action bound (added to no buffer)."""
        policy = self.policy if policy is None else policy
        obs = self.env.reset()
        o, a, n, d, r, lp = [], [], [], [], [], []
        for t in range(self.env.horizon):
            if random_actions:
                u = torch.rand((self.env.n_envs, self.env.act_dim), generator=self.gen)
                env_act = (2 * u - 1) * torch.as_tensor(self.action_scale, dtype=torch.float32)
            else:
                env_act = policy.act(obs)
            act_vec = policy.one_hot(env_act) if self.env.discrete else env_act
            nxt, rew, over = self.env.step(env_act)
            o.append(obs), a.append(act_vec), n.append(nxt), lp.append(policy.log_prob(obs, act_vec))
            r.append(torch.as_tensor(rew, dtype=torch.float32))
            d.append(torch.zeros(self.env.n_envs))  # fixed horizon: truncation, never terminal
            obs = nxt
        self.env_steps += self.env.n_envs * self.env.horizon
        batch = Transitions(*(torch.stack(x, 1) for x in (o, a, n, d, r, lp)))
        if not random_actions:
            (self.buffer if buffer is None else buffer).add(batch)
        return batch

    def collect_random_negatives(self) -> None:
        """``random_negatives`` episodes of random actions (rounded up to whole collections of
        n_envs episodes), D's extra negatives."""
        eps = []
        while sum(len(e) for e in eps) < self.cfg.random_negatives:
            eps.append(self.collect(random_actions=True))
        pool = Transitions(*(None if getattr(eps[0], k) is None else
                             torch.cat([getattr(e, k) for e in eps]) for k in FIELDS))
        self.random_pool = pool.flat()

    def _disc_logits(self, b: Transitions, trajectory: bool) -> torch.Tensor:
        with torch.no_grad():
            logp = self.policy.log_prob(b.obs, b.act)
        logits = self.disc.logits(b.obs, b.act, b.next_obs, b.done, logp)
        return logits.sum(-1) if trajectory else logits

    def train_discriminator(self) -> dict[str, float]:
        """Minimise eq. 2: binary cross-entropy, expert = 1, agent = 0."""
        cfg = self.cfg
        traj = getattr(self.disc, "trajectory_level", False)
        # trajectory-level discriminators draw whole episodes, the others transitions
        expert = self.expert if traj else self.expert.flat()
        agent = self.buffer.recent_episodes(cfg.agent_recent)
        agent = agent if traj else agent.flat()
        n = max(1, cfg.batch_size // self.env.horizon) if traj else cfg.batch_size
        n_rand = 0 if self.random_pool is None else int(round(cfg.random_negative_frac * n))
        n_rel = 0 if self.goal_shift is None else int(round(cfg.relabeled_negatives * n))
        explored = None if self.explorer is None else self.explorer_buffer.recent_episodes(
            self.explorer_buffer.capacity * self.env.horizon).flat()
        n_xp = 0 if explored is None else int(round(cfg.explorer_negatives * n))
        losses, accs = [], []
        for _ in range(cfg.disc_steps):
            e = expert.index(torch.randint(0, len(expert), (n,), generator=self.gen))
            g = agent.index(torch.randint(0, len(agent), (n - n_rand - n_rel - n_xp,),
                                          generator=self.gen))
            extra = []
            if n_rand:
                extra.append(self.random_pool.index(torch.randint(0, len(self.random_pool), (n_rand,),
                                                                  generator=self.gen)))
            if n_rel:
                extra.append(self.relabeled_demos(n_rel))
            if n_xp:
                extra.append(explored.index(torch.randint(0, len(explored), (n_xp,), generator=self.gen)))
            if extra:  # D reads obs, act, next_obs and done
                g = cat_transitions(g, *extra)
            le, lg = self._disc_logits(e, traj), self._disc_logits(g, traj)
            if cfg.centre_logits and self.disc_steps_done == 0:
                shift = -torch.cat([le, lg]).mean().item()
                self.disc.shift_logits(shift / self.env.horizon if traj else shift)
                le, lg = self._disc_logits(e, traj), self._disc_logits(g, traj)
            self.disc_steps_done += 1
            loss = (F.binary_cross_entropy_with_logits(le, torch.ones_like(le))
                    + F.binary_cross_entropy_with_logits(lg, torch.zeros_like(lg)))
            if cfg.grad_penalty > 0:
                obs = e.obs.clone().requires_grad_(True)
                act = e.act.clone().requires_grad_(True)
                out = self.disc.logits(obs, act, e.next_obs, e.done,
                                       self.policy.log_prob(e.obs, e.act).detach())
                grads = torch.autograd.grad(out.sum(), [obs, act], create_graph=True, allow_unused=True)
                if self.penalty_obs_cols is not None:
                    grads = (grads[0][..., self.penalty_obs_cols], grads[1])
                loss = loss + cfg.grad_penalty * sum(gr.pow(2).sum(-1).mean() for gr in grads
                                                     if gr is not None)
            self.disc_opt.zero_grad()
            loss.backward()
            self.disc_opt.step()
            if self.disc_avg is not None:
                self.disc_avg.update_parameters(self.disc)
            losses.append(loss.item())
            accs.append(0.5 * ((le > 0).float().mean() + (lg < 0).float().mean()).item())
        return {"disc/loss": float(np.mean(losses)), "disc/accuracy": float(np.mean(accs))}

    def relabeled_demos(self, n: int) -> Transitions:
        """``n`` random demo transitions, each with its goal swapped for another demo episode's
        (``relabeled_negatives``): obs[goal_slice] = tip - goal moves by goal - new goal."""
        goal_slice, goals = self.goal_shift
        n_eps, horizon = self.expert.obs.shape[:2]
        ep = torch.randint(0, n_eps, (n,), generator=self.gen)
        other = (ep + torch.randint(1, n_eps, (n,), generator=self.gen)) % n_eps  # never its own
        b = self.expert.index((ep, torch.randint(0, horizon, (n,), generator=self.gen)))
        shift = torch.zeros(n, b.obs.shape[-1])
        shift[:, goal_slice] = goals[ep] - goals[other]
        if self.obs_norm is not None:
            shift = shift / self.obs_norm.std
        return dataclasses.replace(b, obs=b.obs + shift, next_obs=b.next_obs + shift)

    def bc_loss(self, weight: float | None = None) -> torch.Tensor:
        """``weight`` x the mean -log pi(a|s) of batch_size random demo transitions
        (default weight: ``bc_weight``; a zero weight costs nothing and draws no random numbers)."""
        weight = self.cfg.bc_weight if weight is None else weight
        if weight == 0:
            return torch.zeros(())
        data = self.expert.flat()
        b = data.index(torch.randint(0, len(data), (self.cfg.batch_size,), generator=self.gen))
        return -weight * self.policy.log_prob(b.obs, b.act).mean()

    def behaviour_clone(self, steps: int) -> float:
        """Maximise the demos' log-likelihood under pi for ``steps`` Adam steps; the last loss."""
        opt = torch.optim.Adam(self.policy.parameters(), lr=self.cfg.bc_lr)
        loss = torch.zeros(())
        for _ in range(steps):
            loss = self.bc_loss(1.0)
            opt.zero_grad()
            loss.backward()
            opt.step()
        if self.policy_avg is not None:  # the average restarts from the cloned policy (it held
            # the initial weights, and deployable_policy() would otherwise be untrained)
            self.policy_avg.module.load_state_dict(self.policy.state_dict())
        return float(loss.detach())

    def train_iteration(self) -> dict[str, float]:
        """One iteration of Algorithm 1; TrainingDiverged if it leaves NaN or inf behind
        (also when torch itself trips over them part-way, e.g. sampling from NaN probabilities)."""
        try:
            return self._iteration()
        except RuntimeError as exc:
            bad = [] if isinstance(exc, TrainingDiverged) else self._non_finite_weights()
            if bad:
                raise TrainingDiverged(self._diverged_message(bad)) from exc
            raise

    def _iteration(self) -> dict[str, float]:
        if self.iteration == 0 and self.cfg.bc_init_steps > 0:
            self.behaviour_clone(self.cfg.bc_init_steps)
        if (self.iteration == 0 and self.cfg.random_negatives and not self.cfg.freeze_reward
                and self.random_pool is None):
            self.collect_random_negatives()
        batch = self.collect()
        metrics: dict[str, float] = {"env/true_return": float(batch.env_reward.sum(1).mean())}
        if hasattr(self.env, "success_rate"):  # robot tasks: success at the end of the episodes
            metrics["env/success"] = float(self.env.success_rate())
        explored = None
        if self.explorer is not None and self.iteration % self.cfg.explorer_every == 0:
            explored = self.collect(policy=self.explorer, buffer=self.explorer_buffer)
            metrics["explorer/true_return"] = float(explored.env_reward.sum(1).mean())
            if hasattr(self.env, "success_rate"):
                metrics["explorer/success"] = float(self.env.success_rate())
        if isinstance(self.learner, ModelBasedLearner):
            metrics.update(self.learner.train_model(
                self.buffer, None if self.explorer is None else self.explorer_buffer))
        if not self.cfg.freeze_reward:
            metrics.update(self.train_discriminator())
        if isinstance(self.learner, SVGLearner) and self.iteration < self.cfg.disc_warmup_iters:
            self.learner.observe(self._replay_batch(batch))  # D warms up: keep, do not learn
        if self.iteration >= self.cfg.disc_warmup_iters:
            if isinstance(self.learner, SVGLearner):
                metrics.update(self.learner.update(self.learner_context(batch)))
            else:
                metrics.update(self.learner.update_policy(self, batch))
            if self.policy_avg is not None:
                self.policy_avg.update_parameters(self.policy)
            if self.explorer is not None:
                xm = self.explorer_learner.update_policy(self, explored, self.explorer_buffer)
                metrics.update({f"explorer/{k.split('/')[-1]}": v for k, v in xm.items()})
        self._check_finite(metrics)
        self.iteration += 1
        metrics["env_steps"] = float(self.env_steps)
        if self.log_fn is not None:
            self.log_fn(metrics, self.env_steps)
        return metrics

    @staticmethod
    def _replay_batch(batch: Transitions) -> Batch:
        """Collected episodes (E, T) as the replay buffer's flat transitions, in time order;
        the env's reward as the recorded one, each episode's first step marked."""
        e, t = batch.done.shape
        first = torch.zeros(e, t)
        first[:, 0] = 1.0
        return Batch(batch.obs.reshape(e * t, -1), batch.act.reshape(e * t, -1),
                     batch.next_obs.reshape(e * t, -1), batch.env_reward.reshape(-1),
                     batch.done.reshape(-1), first.reshape(-1))

    def learner_context(self, batch: Transitions) -> LearnerContext:
        """What the SVG learner gets: the new transitions, the current discriminator's reward
        without its entropy term (the learner's alpha weighs that: algos/svg.py), the demos'
        states to start rollouts from, and the BC term if ``bc_weight`` is on."""
        disc = self.policy_disc

        def reward(s, a, s2, d):
            return disc.policy_reward(s, a, s2, d, torch.zeros(s.shape[:-1]), 0.0)

        return LearnerContext(self._replay_batch(batch), reward=reward,
                              demo_obs=None if self.expert is None else self.expert.flat().obs,
                              bc_loss=(lambda: self.bc_loss()) if self.cfg.bc_weight else None)

    def _non_finite_weights(self) -> list[str]:
        return [f"{name} weights" for name, mod in self.modules().items()
                if not all(bool(torch.isfinite(p).all()) for p in mod.parameters())]

    def _diverged_message(self, bad: list[str]) -> str:
        return (f"training diverged in iteration {self.iteration} ({self.env_steps} env steps, "
                f"method {self.method}): non-finite {', '.join(bad)}. Nothing from this iteration "
                f"was saved; lower the learning rates or check the demos and the environment")

    def _check_finite(self, metrics: dict[str, float]) -> None:
        """Raise TrainingDiverged if a metric or a network weight is NaN or infinite."""
        bad = [k for k, v in metrics.items() if not np.isfinite(v)] + self._non_finite_weights()
        if bad:
            raise TrainingDiverged(self._diverged_message(bad))

    def train(self, env_steps: int | None = None,
              callback: Callable[[AdversarialTrainer, dict[str, float]], None] | None = None
              ) -> list[dict[str, float]]:
        budget = self.cfg.env_steps if env_steps is None else env_steps
        history = []
        while self.env_steps < budget:
            m = self.train_iteration()
            history.append(m)
            if callback is not None:
                callback(self, m)
        return history

    def deployable_policy(self) -> nn.Module:
        """The policy taking raw observations (the normaliser folded in); the policy's moving
        average if ``policy_ema`` is on."""
        policy = self.policy if self.policy_avg is None else self.policy_avg.module
        return NormalizedPolicy(policy, self.obs_norm)

    @property
    def policy_disc(self) -> nn.Module:
        """The discriminator whose reward trains the policy: D, or its EMA with ``policy_uses_ema``
        (a slowly moving reward target, as target networks are for value learning)."""
        return self.disc_avg.module if (self.cfg.policy_uses_ema and self.disc_avg is not None) \
            else self.disc

    @property
    def reward_net(self) -> nn.Module:
        """The learned reward: the EMA of the discriminator if ``reward_ema`` is on, else D."""
        return self.disc if self.disc_avg is None else self.disc_avg.module

    # ----- checkpoints -----
    def modules(self) -> dict[str, nn.Module]:
        extra = {} if self.disc_avg is None else {"disc_avg": self.disc_avg}
        if self.policy_avg is not None:
            extra["policy_avg"] = self.policy_avg
        if self.obs_norm is not None:
            extra["obs_norm"] = self.obs_norm
        if self.explorer is not None:
            extra["explorer"] = self.explorer
            if self.explorer_learner.critic is not None:  # its own V (F is shared)
                extra["explorer_critic"] = self.explorer_learner.critic
        return {"policy": self.policy, "disc": self.disc, **extra, **self.learner.modules()}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        # the explorer learner's model_opt is never stepped: F is fitted by self.learner
        extra = {} if self.explorer is None else {"explorer_opt": self.explorer_learner.policy_opt}
        if self.explorer is not None and self.explorer_learner.critic is not None:
            extra["explorer_critic_opt"] = self.explorer_learner.critic_opt
        return {"disc_opt": self.disc_opt, **self.learner.optimizers(), **extra}

    def state_dict(self) -> dict:
        """Everything a resumed run needs to continue bit for bit as an uninterrupted one: the
        networks (with their buffers: F's delta scale, the EMAs' counts, the normaliser), the
        optimisers' moments, the learners' own state, the counters, the episode buffers and
        D's random negatives, and every random stream (torch's global one and the trainer's
        generator, numpy's and Python's global ones, the environments'). Only tensors,
        numbers, strings, lists and dicts: ``torch.load(weights_only=True)`` reads it."""
        return {
            "version": STATE_VERSION,
            "method": self.method,
            "iteration": self.iteration,
            "env_steps": self.env_steps,
            "disc_steps_done": self.disc_steps_done,
            "modules": {k: m.state_dict() for k, m in self.modules().items()},
            "optimizers": {k: o.state_dict() for k, o in self.optimizers().items()},
            "learner": self.learner.state_dict(),
            "rng": {"torch": torch.get_rng_state(), "gen": self.gen.get_state(),
                    "env": self.env.rng_state(), "numpy": _numpy_rng_state(),
                    "python": _python_rng_state()},
            "buffer": self.buffer.state_dict(),
            **({} if self.explorer is None else {
                "explorer_buffer": self.explorer_buffer.state_dict(),
                "explorer_learner": self.explorer_learner.state_dict()}),
            **({} if self.random_pool is None else {"random_pool": {
                k: getattr(self.random_pool, k).clone() for k in FIELDS
                if getattr(self.random_pool, k) is not None}}),
        }

    def load_state_dict(self, state: dict) -> None:
        """Continue from ``state_dict()``'s output. ValueError, in one line, if it is another
        method's, lacks something this trainer needs, or its weights do not fit; checked before
        anything is changed. Version 1 states (before ``version``) load: what they lack is
        either implied (F was scaled iff an iteration ran: each one fits F first) or unused
        by training (numpy's and Python's global random streams)."""
        if state.get("method") != self.method:
            raise ValueError(f"checkpoint is for method '{state.get('method')}', not '{self.method}'")
        version = int(state.get("version", 1))
        if version > STATE_VERSION:
            raise ValueError(f"checkpoint state version {version} is newer than this mairl's "
                             f"({STATE_VERSION}): update mairl to resume it")
        missing = ([f"module '{k}'" for k in self.modules() if k not in state["modules"]]
                   + [f"optimiser '{k}'" for k in self.optimizers() if k not in state["optimizers"]]
                   + (["the explorer's buffer"] if self.explorer is not None
                      and "explorer_buffer" not in state else []))
        if missing:
            raise ValueError(f"checkpoint lacks {', '.join(missing)} (an older mairl or another "
                             f"configuration wrote it): it cannot be resumed exactly; start a new run")
        learner = state.get("learner")
        if learner is None:  # version 1
            learner = {"model_scaled": self.learner.model_scaled or int(state["iteration"]) > 0
                       } if isinstance(self.learner, ModelBasedLearner) else {}
        for k, m in self.modules().items():
            try:
                m.load_state_dict(state["modules"][k])
            except RuntimeError as exc:
                raise ValueError(f"checkpoint's '{k}' does not fit this trainer (another "
                                 f"configuration?): {str(exc).strip().splitlines()[-1].strip()}") from None
        for k, o in self.optimizers().items():
            o.load_state_dict(state["optimizers"][k])
        self.learner.load_state_dict(learner)
        if self.explorer is not None and "explorer_learner" in state:
            self.explorer_learner.load_state_dict(state["explorer_learner"])
        self.iteration = int(state["iteration"])
        self.env_steps = int(state["env_steps"])
        self.disc_steps_done = int(state.get("disc_steps_done", self.iteration * self.cfg.disc_steps))
        rng = state["rng"]
        torch.set_rng_state(rng["torch"])
        self.gen.set_state(rng["gen"])
        self.env.set_rng_state(rng["env"])
        if "numpy" in rng:
            _set_numpy_rng_state(rng["numpy"])
        if "python" in rng:
            _set_python_rng_state(rng["python"])
        self.buffer.load_state_dict(state["buffer"])
        if self.explorer is not None:
            self.explorer_buffer.load_state_dict(state["explorer_buffer"])
        pool = state.get("random_pool")
        self.random_pool = None if pool is None else Transitions(**pool)


STATE_VERSION = 2
"""Of ``AdversarialTrainer.state_dict``. 2 added the version, the learners' own state
(``ModelBasedLearner.model_scaled``: without it a resumed MAIRL run rescaled its trained
model), the explorer's critic and numpy's and Python's global random streams."""


def _numpy_rng_state() -> dict:
    """numpy's global (legacy) random state as tensors and numbers (weights-only loadable)."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    return {"kind": kind, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
            "has_gauss": int(has_gauss), "cached_gaussian": float(cached)}


def _set_numpy_rng_state(s: dict) -> None:
    np.random.set_state((s["kind"], s["keys"].numpy().astype(np.uint32), s["pos"], s["has_gauss"],
                         s["cached_gaussian"]))


def _python_rng_state() -> dict:
    version, internal, gauss_next = random.getstate()
    return {"version": version, "internal": list(internal), "gauss_next": gauss_next}


def _set_python_rng_state(s: dict) -> None:
    random.setstate((s["version"], tuple(s["internal"]), s["gauss_next"]))
