"""PPO, the model-free policy learner of the paper's baselines (AIRL, GAIL, GAN-GCL)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from ..models.nets import adam, mlp
from .config import AlgoConfig
from .transitions import Transitions, VecEnv


@dataclass
class PPOContext:
    """What one update gets: the episodes just collected (with their log pi), the reward
    (a module with ``policy_reward``) and an optional BC term added to every minibatch loss."""

    batch: Transitions
    disc: nn.Module
    bc_loss: Callable[[], torch.Tensor] | None = None


class PPOLearner:
    """Clipped-surrogate PPO with GAE on the discriminator's reward.

    Rewards are the discriminator's ``policy_reward`` with the same entropy
    weight as MAIRL, so the only difference to MAIRL's imagined update is how the
    gradient is estimated (likelihood ratio here, exact through the model there).
    """

    model_based = False

    def __init__(self, cfg: AlgoConfig, env: VecEnv, policy: nn.Module, gen: torch.Generator):
        self.cfg, self.env, self.policy, self.gen = cfg, env, policy, gen
        self.value = mlp(env.obs_dim, cfg.policy_hidden, 1)
        self.opt = adam([*policy.parameters(), *self.value.parameters()], cfg.ppo_lr)

    def modules(self) -> dict[str, nn.Module]:
        return {"value": self.value}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"ppo_opt": self.opt}

    def state_dict(self) -> dict:
        return {}  # everything PPO keeps is in its modules and optimiser

    def load_state_dict(self, state: dict) -> None:
        pass

    def update_policy(self, ctx: PPOContext) -> dict[str, float]:
        cfg, batch = self.cfg, ctx.batch
        with torch.no_grad():
            rew = ctx.disc.policy_reward(
                batch.obs, batch.act, batch.next_obs, batch.done, batch.logp, cfg.entropy_weight
            )
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
                idx = perm[i : i + mb]
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
                loss = pg + cfg.value_coef * vl
                if ctx.bc_loss is not None:
                    loss = loss + ctx.bc_loss()
                self.opt.zero_grad()
                loss.backward()
                nn.utils.clip_grad_norm_(
                    [*self.policy.parameters(), *self.value.parameters()], cfg.ppo_max_grad_norm
                )
                self.opt.step()
                losses.append(pg.item())
        return {"policy/ppo_loss": float(np.mean(losses)), "policy/reward_mean": float(rew.mean())}
