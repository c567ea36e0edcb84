"""The paper's policy update (§IV-C): exact gradients of short imagined rollouts through F.

The objective is J = sum_{t<H} gamma^t r_hat(s_t, a_t) over ``rollout_horizon``-step
rollouts (eq. 19-20 evaluated by autograd: backprop through time is exactly that
recursion), with actions re-parameterised (eq. 21; eq. 22 for discrete ones) and
s_{t+1} = F(s_t, a_t) (eq. 14). No critic closes the rollout. It is the learner of
GridWorld (the only one for discrete actions) and of the tables measured before the SVG
learner (algos/svg.py); on HalfCheetah from scratch it does not learn even the true reward
(bench/RESULTS.md, the policy learner section).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..models.dynamics import make_dynamics
from ..models.nets import adam
from ..models.policy import gumbel_softmax_sample
from .config import AlgoConfig
from .transitions import EpisodeBuffer, Transitions, VecEnv, cat_transitions


@dataclass
class ImaginedContext:
    """What one update gets from the trainer.

    ``disc``: the reward, any module with ``policy_reward(s, a, s', done, log_pi, alpha)``
    (r_hat = f - alpha log pi for AIRL's, eq. 4-5); ``starts``: the states rollouts start
    from (the agent's recent ones); ``demo_starts``: demonstrated states, for the
    ``rollout_expert_frac`` share of starts (None: none); ``bc_loss``: a BC term added to the
    loss at every step (None: none).
    """

    disc: nn.Module
    starts: torch.Tensor
    demo_starts: torch.Tensor | None = None
    bc_loss: Callable[[], torch.Tensor] | None = None


class ImaginedLearner:
    """Policy learning through imagined rollouts of the forward model F (eq. 14-22).

    With ``rollout_mode: real`` each next state's value comes from the environment and its
    gradient from the model, s_{t+1} = F(s, a) + stop_grad(s_env - F(s, a)) (the reference
    code's rollouts; needs an env that can be reset to a state, e.g. GridWorld; the env steps
    are reported, ``policy/env_steps``). For one-hot (categorical) states the imagined
    s_{t+1} is a sample from F's distribution in the same straight-through form.
    """

    model_based = True

    def __init__(
        self,
        cfg: AlgoConfig,
        env: VecEnv,
        policy: nn.Module,
        gen: torch.Generator,
        expert: Transitions | None = None,
    ):
        """``expert``: the demos, which F also fits with ``model_uses_demos``."""
        self.cfg, self.env, self.policy, self.gen = cfg, env, policy, gen
        self.dynamics = make_dynamics(
            cfg.dynamics,
            env.obs_dim,
            env.act_dim,
            head=env.dynamics_head,
            d_model=cfg.d_model,
            n_heads=cfg.n_heads,
            embed_hidden=cfg.embed_hidden,
            gated_decoder=cfg.gated_decoder,
            attention_blocks=cfg.attention_blocks,
        )
        self.expert = expert
        self.model_scaled = not (cfg.normalize_obs and env.dynamics_head == "gaussian")
        self.model_opt = adam(self.dynamics.parameters(), cfg.model_lr)
        self.policy_opt = adam(self.policy.parameters(), cfg.policy_lr)

    def modules(self) -> dict[str, nn.Module]:
        return {"dynamics": self.dynamics}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"model_opt": self.model_opt, "policy_opt": self.policy_opt}

    def state_dict(self) -> dict:
        """What is not in a module or an optimiser: whether F's delta scale has been set (a
        resumed run that set it again would rescale a trained model)."""
        return {"model_scaled": self.model_scaled}

    def load_state_dict(self, state: dict) -> None:
        self.model_scaled = bool(state["model_scaled"])

    def train_model(self, buffer: EpisodeBuffer, extra: EpisodeBuffer | None = None) -> dict[str, float]:
        """Maximum likelihood on the buffer (eq. 15), and on ``extra`` (the explorer's) if given."""
        losses, norms = [], []
        data = buffer.recent_episodes(buffer.capacity * buffer.horizon).flat()
        if extra is not None and extra.size:
            data = cat_transitions(data, extra.recent_episodes(extra.capacity * extra.horizon).flat())
        if self.cfg.model_uses_demos and self.expert is not None:
            # the demos are real transitions too, and half the rollouts may start from them
            data = cat_transitions(data, self.expert.flat())
        if not self.model_scaled:  # first call: scale the model to expert + first agent steps
            delta = torch.cat(
                [
                    (d.next_obs - d.obs).reshape(-1, self.env.obs_dim)
                    for d in (self.expert, data)
                    if d is not None
                ]
            )
            self.dynamics.set_delta_scale(delta.std(0).clamp_min(self.cfg.delta_std_min))
            self.model_scaled = True
        for _ in range(self.cfg.model_steps):
            b = data.index(torch.randint(0, len(data), (self.cfg.batch_size,), generator=self.gen))
            loss = self.dynamics.nll(b.obs, b.act, b.next_obs)
            self.model_opt.zero_grad()
            loss.backward()
            norms.append(
                float(nn.utils.clip_grad_norm_(self.dynamics.parameters(), self.cfg.model_grad_clip))
            )
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

    def rollout_objective(
        self, disc: nn.Module, start_obs: torch.Tensor, noises: list[torch.Tensor] | None = None
    ) -> torch.Tensor:
        """Mean over starts of sum_{t<H} gamma^t r_hat_t along a differentiable rollout."""
        if self.env.dynamics_head == "categorical":
            return self._tabular_objective(disc, start_obs, noises)
        obs = start_obs
        total = torch.zeros(obs.shape[0], dtype=obs.dtype)
        discount = 1.0
        for t in range(self.cfg.rollout_horizon):
            act, logp = self.policy.rsample(obs, None if noises is None else noises[t])
            nxt = self.next_state(obs, act, self.predict(obs, act))
            total = total + discount * disc.policy_reward(
                obs, act, nxt, torch.zeros_like(logp), logp, self.cfg.entropy_weight
            )
            discount *= self.cfg.gamma
            obs = nxt
        return total.mean()

    def _tabular_objective(
        self, disc: nn.Module, start_obs: torch.Tensor, noises: list[torch.Tensor] | None = None
    ) -> torch.Tensor:
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
        k, i, j = (
            x.reshape(-1)
            for x in torch.meshgrid(torch.arange(n_s), torch.arange(n_a), torch.arange(n_s), indexing="ij")
        )
        zeros = torch.zeros(k.shape[0])
        reward_tab = disc.policy_reward(eye_s[k], eye_a[i], eye_s[j], zeros, zeros, 0.0).reshape(
            n_s, n_a, n_s
        )  # f only; -alpha log pi added below
        trans_tab = self.dynamics.predict(eye_s.repeat_interleave(n_a, 0), eye_a.repeat(n_s, 1)).reshape(
            n_s, n_a, n_s
        )
        obs = start_obs
        total = torch.zeros(obs.shape[0], dtype=obs.dtype)
        discount = 1.0
        for t in range(self.cfg.rollout_horizon):
            logp_all = obs @ logp_tab
            act, logp = gumbel_softmax_sample(
                logp_all,
                self.cfg.gumbel_temperature,
                self.cfg.straight_through,
                None if noises is None else noises[t],
            )
            nxt = self.next_state(obs, act, torch.einsum("bk,bi,kij->bj", obs, act, trans_tab))
            if (
                self.cfg.exact_discrete_entropy
            ):  # E_a[-log pi(a|s)] in closed form: same objective, no sampling bias
                neg_logp = -(logp_all.exp() * logp_all).sum(-1)
            else:
                neg_logp = -logp
            r = (
                torch.einsum("bk,bi,bj,kij->b", obs, act, nxt, reward_tab)
                + self.cfg.entropy_weight * neg_logp
            )
            total = total + discount * r
            discount *= self.cfg.gamma
            obs = nxt
        return total.mean()

    def update_policy(self, ctx: ImaginedContext) -> dict[str, float]:
        """``policy_steps`` Adam steps on -J (plus the BC term if given); rollouts start from
        ``ctx.starts`` and ``rollout_expert_frac`` of them from ``ctx.demo_starts``. Returns
        its metrics, with the env steps 'real' rollouts took as ``policy/env_steps``."""
        cfg = self.cfg
        objs, norms = [], []
        n_exp = int(round(cfg.rollout_expert_frac * cfg.rollout_batch)) if ctx.demo_starts is not None else 0
        frozen = [*ctx.disc.parameters(), *self.dynamics.parameters()]
        for p in frozen:
            p.requires_grad_(False)
        try:
            for _ in range(cfg.policy_steps):
                starts = ctx.starts[
                    torch.randint(0, len(ctx.starts), (cfg.rollout_batch - n_exp,), generator=self.gen)
                ]
                if n_exp:  # imagined rollouts may start anywhere: also from demonstrated states
                    starts = torch.cat(
                        [
                            starts,
                            ctx.demo_starts[
                                torch.randint(0, len(ctx.demo_starts), (n_exp,), generator=self.gen)
                            ],
                        ]
                    )
                obj = self.rollout_objective(ctx.disc, starts)
                loss = -obj if ctx.bc_loss is None else ctx.bc_loss() - obj
                self.policy_opt.zero_grad()
                loss.backward()
                norms.append(
                    float(
                        torch.sqrt(
                            sum(p.grad.pow(2).sum() for p in self.policy.parameters() if p.grad is not None)
                        )
                    )
                )
                nn.utils.clip_grad_value_(self.policy.parameters(), cfg.policy_grad_clip)
                self.policy_opt.step()
                objs.append(obj.item())
        finally:
            for p in frozen:
                p.requires_grad_(True)
        env_steps = (
            cfg.policy_steps * cfg.rollout_batch * cfg.rollout_horizon if cfg.rollout_mode == "real" else 0
        )
        return {
            "policy/objective": float(np.mean(objs)),
            "policy/grad_norm": float(np.mean(norms)),
            **({"policy/env_steps": float(env_steps)} if env_steps else {}),
        }
