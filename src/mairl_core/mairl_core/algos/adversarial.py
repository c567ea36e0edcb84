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

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..models.nets import adam
from ..models.policy import CategoricalPolicy, GaussianPolicy
from ..models.reward import TaskInputs, make_discriminator
from . import METHOD_NAMES
from .config import AlgoConfig
from .imagined import ImaginedContext, ImaginedLearner
from .negatives import Explorer, GoalRelabeler, SVGExplorer
from .normalize import NormalizedPolicy, NormalizedVecEnv, ObsNorm
from .ppo import PPOContext, PPOLearner
from .svg import Batch, LearnerContext, SVGLearner, entropy_free_reward
from .transitions import EpisodeBuffer, Transitions, VecEnv, cat_transitions


class TrainingDiverged(RuntimeError):
    """A training iteration produced non-finite numbers (a loss, a return, a weight).

    Raised at the end of that iteration, before anything is logged as a result or
    saved, so the last checkpoint written is still the last good state."""


def make_policy(
    cfg: AlgoConfig,
    obs_dim: int,
    act_dim: int,
    discrete: bool,
    action_scale: float | None = None,
    state_std: bool = False,
) -> nn.Module:
    """The policy of ``cfg``: categorical (Gumbel-softmax) for discrete actions, else Gaussian
    (squashed into (-action_scale, action_scale) when the env has a hard action bound; a
    state-dependent std, as in SAC, with ``state_std``)."""
    if discrete:
        if cfg.binary_actions:
            raise ValueError("binary_actions is for continuous-action envs")
        return CategoricalPolicy(
            obs_dim, act_dim, cfg.policy_hidden, cfg.gumbel_temperature, cfg.straight_through
        )
    return GaussianPolicy(
        obs_dim,
        act_dim,
        cfg.policy_hidden,
        cfg.log_std_init,
        cfg.log_std_min,
        cfg.log_std_max,
        action_scale,
        binary=cfg.binary_actions,
        temperature=cfg.gumbel_temperature,
        state_std=state_std,
    )


#: method -> (discriminator, policy learner); ImaginedLearner stands for the model-based
#: learner ``AlgoConfig.learner`` names (SVG by default, or the imagined-rollout one)
METHODS: dict[str, tuple[str, type]] = {
    "mairl": ("airl", ImaginedLearner),
    "mgail": ("gail", ImaginedLearner),
    "airl-sac": ("airl", SVGLearner),
    "airl": ("airl", PPOLearner),
    "gail": ("gail", PPOLearner),
    "gan-gcl": ("gan-gcl", PPOLearner),
}
assert tuple(METHODS) == METHOD_NAMES


class AdversarialTrainer:
    """Algorithm 1, for any discriminator / learner pair in ``METHODS``."""

    def __init__(
        self,
        method: str,
        cfg: AlgoConfig,
        env: VecEnv,
        expert: Transitions | None,
        seed: int = 0,
        log_fn: Callable[[dict[str, float], int], None] | None = None,
        obs_norm: ObsNorm | None = None,
    ):
        """``expert`` may be None only with ``freeze_reward`` (then pass the ``obs_norm`` the
        reward was learned with, if it used one)."""
        if method not in METHODS:
            raise ValueError(f"unknown method '{method}' ({', '.join(METHODS)})")
        if expert is None and not (
            cfg.freeze_reward
            and cfg.rollout_expert_frac == 0
            and cfg.bc_weight == 0
            and cfg.bc_init_steps == 0
        ):
            raise ValueError(
                "training without demos needs freeze_reward and no demo-based terms "
                "(rollout_expert_frac, bc_weight, bc_init_steps = 0)"
            )
        torch.manual_seed(seed)
        np.random.seed(seed)  # unused by training, but seeded and checkpointed as torch's: a
        random.seed(seed)  # resumed run's global streams then continue an uninterrupted one's
        self.method, self.cfg, self.env, self.seed = method, cfg, env, seed
        self.gen = torch.Generator().manual_seed(seed)
        self.obs_norm = obs_norm
        self.relabeler: GoalRelabeler | None = None  # cfg.relabeled_negatives
        # the observation entries D's gradient penalty covers (None: all of them)
        self.penalty_obs_cols: torch.Tensor | None = None
        goal = getattr(env, "goal_slice", None)
        task_features = getattr(env, "task_features", None)  # the raw env's (cfg.disc_inputs)
        if cfg.disc_inputs == "task" and task_features is None:
            raise ValueError("disc_inputs 'task' needs an env with task_features (the UR5 tasks)")
        if not cfg.grad_penalty_goal and goal is not None:
            keep = torch.ones(env.obs_dim, dtype=torch.bool)
            keep[goal] = False
            self.penalty_obs_cols = keep.nonzero().squeeze(-1)
        if cfg.relabeled_negatives > 0 and not cfg.freeze_reward:  # D trains: its negatives
            if expert is None or not hasattr(env, "goal_positions") or method == "gan-gcl":
                raise ValueError(
                    "relabeled_negatives needs demos, a goal-conditioned env "
                    "(goal_slice, goal_positions) and a transition-level discriminator"
                )
            # each demo episode's goal (constant within it), from its first raw observation
            goals = (env.goal_slice, env.goal_positions(expert.obs[:, 0]))
        if cfg.normalize_obs:  # every network works in the demos' normalised coordinates
            if self.obs_norm is None:
                if expert is None:
                    raise ValueError("normalize_obs without demos needs the reward's obs_norm")
                bound = getattr(env, "action_scale", None)
                act_floor = 0.0 if bound is None else cfg.act_std_min_frac * torch.as_tensor(bound)
                self.obs_norm = ObsNorm.fit(expert.obs, expert.act, cfg.obs_std_min, act_floor)
            env = NormalizedVecEnv(env, self.obs_norm)
            if expert is not None:
                expert = dataclasses.replace(
                    expert,
                    obs=self.obs_norm(expert.obs),
                    act=expert.act / self.obs_norm.act_scale,
                    next_obs=self.obs_norm(expert.next_obs),
                )
            self.env = env
        if cfg.relabeled_negatives > 0 and not cfg.freeze_reward:
            self.relabeler = GoalRelabeler(*goals, None if self.obs_norm is None else self.obs_norm.std)
        self.expert = expert
        self.action_scale = getattr(env, "action_scale", None)
        disc_kind, learner_cls = METHODS[method]
        if learner_cls is ImaginedLearner and cfg.learner == "svg":
            learner_cls = SVGLearner
        self.policy = make_policy(
            cfg,
            env.obs_dim,
            env.act_dim,
            env.discrete,
            self.action_scale,
            state_std=learner_cls is SVGLearner,
        )
        hidden = cfg.disc_hidden if disc_kind == "gail" else cfg.reward_hidden
        inputs = None
        if cfg.disc_inputs == "task":  # statistics from the demos; a frozen reward loads its own
            inputs = TaskInputs(task_features, env.obs_dim, self.obs_norm)
            if expert is not None:
                inputs.fit(expert.obs, cfg.obs_std_min)
        self.disc = make_discriminator(
            disc_kind,
            env.obs_dim,
            env.act_dim,
            hidden=hidden,
            gamma=cfg.gamma,
            state_only=cfg.state_only,
            inputs=inputs,
        )
        self.disc_opt = adam(self.disc.parameters(), cfg.disc_lr)
        self.disc_avg = None
        if cfg.reward_ema > 0:
            self.disc_avg = torch.optim.swa_utils.AveragedModel(
                self.disc, multi_avg_fn=torch.optim.swa_utils.get_ema_multi_avg_fn(cfg.reward_ema)
            )
        # AIRL's logit f - log pi (eq. 3) takes the agent's samples to be drawn from pi now and
        # pi to cover the demonstrated actions. The SVG learner's samples come from a replay
        # buffer of every past policy, and its tuned temperature narrows pi until the demos'
        # actions get log pi thousands of nats below zero: the term alone then classifies
        # every sample, the cross-entropy's gradient to f vanishes and the reward stops
        # learning (measured: bench/NOTEBOOK.md, 2026-12-04). With the SVG learner D is
        # sigmoid(f): f keeps AIRL's form g + gamma h(s') - h(s) and estimates the log ratio
        # of the demos' and the agent's occupancies (algos/svg.py: the reward and the entropy).
        # A categorical policy's log pi stays bounded (it has as many values as actions), so
        # for discrete actions D keeps eq. 3 and the learner's temperature is held at eq. 4's
        # entropy weight: r_hat = f - entropy_weight log pi, whose optimum is the soft expert.
        self.disc_reads_log_pi = learner_cls is not SVGLearner or env.discrete
        if learner_cls is SVGLearner:  # its own settings; AIRL (SAC) is SVG(0)
            svg_cfg = dataclasses.replace(
                cfg.svg,
                gamma=cfg.gamma,
                model=cfg.dynamics,
                horizon=0 if method == "airl-sac" else cfg.svg.horizon,
                fixed_alpha=cfg.entropy_weight if env.discrete else cfg.svg.fixed_alpha,
            )
            self.learner = SVGLearner(svg_cfg, env.obs_dim, env.act_dim, self.policy, self.gen)
        elif learner_cls is ImaginedLearner:
            self.learner = ImaginedLearner(cfg, env, self.policy, self.gen, self.expert)
        else:
            self.learner = PPOLearner(cfg, env, self.policy, self.gen)
        self.policy_avg = None
        if cfg.policy_ema > 0:
            self.policy_avg = torch.optim.swa_utils.AveragedModel(
                self.policy, multi_avg_fn=torch.optim.swa_utils.get_ema_multi_avg_fn(cfg.policy_ema)
            )
        self.buffer = EpisodeBuffer(cfg.buffer_size, env.horizon)
        self.explorer: Explorer | SVGExplorer | None = None  # cfg.explorer_negatives
        if cfg.explorer_negatives > 0 and not cfg.freeze_reward:
            if learner_cls is PPOLearner:
                raise ValueError(
                    "explorer_negatives needs a method with an off-policy or model-based learner "
                    "(mairl, mgail, airl-sac), not PPO"
                )
            # a fresh policy with the learner of reward transfer (no demo terms)
            explorer_policy = make_policy(cfg, env.obs_dim, env.act_dim, env.discrete, self.action_scale)
            if learner_cls is SVGLearner:
                self.explorer = SVGExplorer(
                    cfg, self.learner.cfg, env.obs_dim, env.act_dim, explorer_policy, self.gen
                )
            else:  # sharing F
                self.explorer = Explorer(cfg, env, explorer_policy, self.learner.dynamics, self.gen)
        self.iteration = 0
        self.env_steps = 0
        self.disc_steps_done = 0
        self.log_fn = log_fn

    # ----- Algorithm 1, step by step -----
    @torch.no_grad()
    def collect(self, policy: nn.Module | None = None, buffer: EpisodeBuffer | None = None) -> Transitions:
        """Run pi (or ``policy``) in the real environment for T steps in each of n_envs envs,
        adding the episodes to the agent's buffer (or ``buffer``)."""
        policy = self.policy if policy is None else policy
        obs = self.env.reset()
        o, a, n, d, r, lp = [], [], [], [], [], []
        for _ in range(self.env.horizon):
            env_act = policy.act(obs)
            act_vec = policy.one_hot(env_act) if self.env.discrete else env_act
            nxt, rew, over = self.env.step(env_act)
            o.append(obs), a.append(act_vec), n.append(nxt), lp.append(policy.log_prob(obs, act_vec))
            r.append(torch.as_tensor(rew, dtype=torch.float32))
            d.append(torch.zeros(self.env.n_envs))  # fixed horizon: truncation, never terminal
            # an env that resets within the episode (envs.locomotion's reset_turned_over) goes on
            # from ``current``; ``_replay_batch`` marks where a transition does not follow on
            obs = getattr(self.env, "current", nxt)
        self.env_steps += self.env.n_envs * self.env.horizon
        batch = Transitions(*(torch.stack(x, 1) for x in (o, a, n, d, r, lp)))
        (self.buffer if buffer is None else buffer).add(batch)
        return batch

    def disc_log_pi(self, obs: torch.Tensor, act: torch.Tensor) -> torch.Tensor:
        """The log pi(a|s) term of the discriminator's logit f - log pi (eq. 3), no gradient:
        the policy's log-density for the on-policy learners; 0 for the SVG learner, whose
        discriminator is D = sigmoid(f) (``disc_reads_log_pi``)."""
        with torch.no_grad():
            if not self.disc_reads_log_pi:
                return torch.zeros(obs.shape[:-1])
            return self.policy.log_prob(obs, act)

    def _disc_logits(self, b: Transitions, trajectory: bool) -> torch.Tensor:
        logp = self.disc_log_pi(b.obs, b.act)
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
        n_rel = 0 if self.relabeler is None else int(round(cfg.relabeled_negatives * n))
        explored = None if self.explorer is None else self.explorer.negatives()
        n_xp = 0 if explored is None else int(round(cfg.explorer_negatives * n))
        losses, accs = [], []
        for _ in range(cfg.disc_steps):
            e = expert.index(torch.randint(0, len(expert), (n,), generator=self.gen))
            g = agent.index(torch.randint(0, len(agent), (n - n_rel - n_xp,), generator=self.gen))
            extra = []
            if n_rel:
                extra.append(self.relabeler.sample(self.expert, n_rel, self.gen))
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
            loss = F.binary_cross_entropy_with_logits(
                le, torch.ones_like(le)
            ) + F.binary_cross_entropy_with_logits(lg, torch.zeros_like(lg))
            if cfg.grad_penalty > 0:
                obs = e.obs.clone().requires_grad_(True)
                act = e.act.clone().requires_grad_(True)
                out = self.disc.logits(obs, act, e.next_obs, e.done, self.disc_log_pi(e.obs, e.act))
                grads = torch.autograd.grad(out.sum(), [obs, act], create_graph=True, allow_unused=True)
                if self.penalty_obs_cols is not None:
                    grads = (grads[0][..., self.penalty_obs_cols], grads[1])
                loss = loss + cfg.grad_penalty * sum(
                    gr.pow(2).sum(-1).mean() for gr in grads if gr is not None
                )
            self.disc_opt.zero_grad()
            loss.backward()
            self.disc_opt.step()
            if self.disc_avg is not None:
                self.disc_avg.update_parameters(self.disc)
            losses.append(loss.item())
            accs.append(0.5 * ((le > 0).float().mean() + (lg < 0).float().mean()).item())
        return {"disc/loss": float(np.mean(losses)), "disc/accuracy": float(np.mean(accs))}

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
        opt = adam(self.policy.parameters(), self.cfg.bc_lr)
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
        batch = self.collect()
        metrics: dict[str, float] = {"env/true_return": float(batch.env_reward.sum(1).mean())}
        if hasattr(self.env, "success_rate"):  # robot tasks: success at the end of the episodes
            metrics["env/success"] = float(self.env.success_rate())
        explored = None
        if self.explorer is not None and self.iteration % self.cfg.explorer_every == 0:
            explored = self.collect(policy=self.explorer.policy, buffer=self.explorer.buffer)
            metrics["explorer/true_return"] = float(explored.env_reward.sum(1).mean())
            if hasattr(self.env, "success_rate"):
                metrics["explorer/success"] = float(self.env.success_rate())
        if isinstance(self.learner, ImaginedLearner):
            metrics.update(
                self.learner.train_model(self.buffer, None if self.explorer is None else self.explorer.buffer)
            )
        if not self.cfg.freeze_reward:
            metrics.update(self.train_discriminator())
        # the SVG explorer's replay takes the new episodes; the imagined one starts from its buffer
        explored_new = None
        if explored is not None and isinstance(self.explorer, SVGExplorer):
            explored_new = self._replay_batch(explored)
        if isinstance(self.learner, SVGLearner) and self.iteration < self.cfg.disc_warmup_iters:
            self.learner.observe(self._replay_batch(batch))  # D warms up: keep, do not learn
            if self.explorer is not None:
                self.explorer.observe(explored_new)
        if self.iteration >= self.cfg.disc_warmup_iters:
            metrics.update(self._update_policy(batch))
            if self.policy_avg is not None:
                self.policy_avg.update_parameters(self.policy)
            if self.explorer is not None:
                xm = self.explorer.update(self.disc, explored_new)
                self.env_steps += int(xm.pop("policy/env_steps", 0))
                metrics.update({f"explorer/{k.split('/')[-1]}": v for k, v in xm.items()})
        self._check_finite(metrics)
        self.iteration += 1
        metrics["env_steps"] = float(self.env_steps)
        if self.log_fn is not None:
            self.log_fn(metrics, self.env_steps)
        return metrics

    def _bc(self) -> Callable[[], torch.Tensor] | None:
        """The BC term a learner adds to its loss (None without ``bc_weight``)."""
        return (lambda: self.bc_loss()) if self.cfg.bc_weight else None

    def _update_policy(self, batch: Transitions) -> dict[str, float]:
        """Hand the policy learner its context (``batch``: the episodes just collected); the
        env steps 'real' imagined rollouts took are counted here."""
        if isinstance(self.learner, SVGLearner):
            return self.learner.update(self.learner_context(batch))
        if isinstance(self.learner, PPOLearner):
            return self.learner.update_policy(PPOContext(batch, self.disc, self._bc()))
        starts = self.buffer.recent_episodes(self.cfg.agent_recent).flat().obs
        demo = self.expert.flat().obs if self.cfg.rollout_expert_frac > 0 else None
        metrics = self.learner.update_policy(ImaginedContext(self.disc, starts, demo, self._bc()))
        self.env_steps += int(metrics.pop("policy/env_steps", 0))
        return metrics

    @staticmethod
    def _replay_batch(batch: Transitions) -> Batch:
        """Collected episodes (E, T) as the replay buffer's flat transitions, in time order;
        the env's reward as the recorded one, each episode's first step marked (and any step
        that does not start where the one before ended: an env reset within the episode)."""
        e, t = batch.done.shape
        first = torch.zeros(e, t)
        # an env reset within the episode: the transition does not start where the last ended
        first[:, 1:] = (batch.obs[:, 1:] != batch.next_obs[:, :-1]).any(-1).float()
        first[:, 0] = 1.0
        return Batch(
            batch.obs.reshape(e * t, -1),
            batch.act.reshape(e * t, -1),
            batch.next_obs.reshape(e * t, -1),
            batch.env_reward.reshape(-1),
            batch.done.reshape(-1),
            first.reshape(-1),
        )

    def learner_context(self, batch: Transitions) -> LearnerContext:
        """What the SVG learner gets: the new transitions, the current discriminator's reward
        without its entropy term (the learner's alpha weighs that: algos/svg.py), the demos'
        states to start rollouts from, and the BC term if ``bc_weight`` is on."""
        return LearnerContext(
            self._replay_batch(batch),
            reward=entropy_free_reward(self.disc),
            demo_obs=None if self.expert is None else self.expert.flat().obs,
            bc_loss=self._bc(),
        )

    def _non_finite_weights(self) -> list[str]:
        return [
            f"{name} weights"
            for name, mod in self.modules().items()
            if not all(bool(torch.isfinite(p).all()) for p in mod.parameters())
        ]

    def _diverged_message(self, bad: list[str]) -> str:
        return (
            f"training diverged in iteration {self.iteration} ({self.env_steps} env steps, "
            f"method {self.method}): non-finite {', '.join(bad)}. Nothing from this iteration "
            f"was saved; lower the learning rates or check the demos and the environment"
        )

    def _check_finite(self, metrics: dict[str, float]) -> None:
        """Raise TrainingDiverged if a metric or a network weight is NaN or infinite."""
        bad = [k for k, v in metrics.items() if not np.isfinite(v)] + self._non_finite_weights()
        if bad:
            raise TrainingDiverged(self._diverged_message(bad))

    def train(
        self,
        env_steps: int | None = None,
        callback: Callable[[AdversarialTrainer, dict[str, float]], None] | None = None,
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

    def deployable_explorer(self) -> nn.Module | None:
        """The explorer's policy taking raw observations (None without ``explorer_negatives``):
        a second policy of the learned reward, which a bench may select (``select_explorer``)."""
        return None if self.explorer is None else NormalizedPolicy(self.explorer.policy, self.obs_norm)

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
            extra.update(self.explorer.modules())
        return {"policy": self.policy, "disc": self.disc, **extra, **self.learner.modules()}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        extra = {} if self.explorer is None else self.explorer.optimizers()
        return {"disc_opt": self.disc_opt, **self.learner.optimizers(), **extra}

    def state_dict(self) -> dict:
        """Everything a resumed run needs to continue bit for bit as an uninterrupted one: the
        networks (with their buffers: F's delta scale, the EMAs' counts, the normaliser), the
        optimisers' moments, the learners' own state, the counters, the episode buffers and
        the explorer's, and every random stream (torch's global one and the trainer's
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
            "rng": {
                "torch": torch.get_rng_state(),
                "gen": self.gen.get_state(),
                "env": self.env.rng_state(),
                "numpy": _numpy_rng_state(),
                "python": _python_rng_state(),
            },
            "buffer": self.buffer.state_dict(),
            **({} if self.explorer is None else self.explorer.state_dict()),
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
            raise ValueError(
                f"checkpoint state version {version} is newer than this mairl's "
                f"({STATE_VERSION}): update mairl to resume it"
            )
        missing = (
            [f"module '{k}'" for k in self.modules() if k not in state["modules"]]
            + [f"optimiser '{k}'" for k in self.optimizers() if k not in state["optimizers"]]
            + (
                ["the explorer's buffer"]
                if self.explorer is not None and "explorer_buffer" not in state
                else []
            )
        )
        if missing:
            raise ValueError(
                f"checkpoint lacks {', '.join(missing)} (an older mairl or another "
                f"configuration wrote it): it cannot be resumed exactly; start a new run"
            )
        learner = state.get("learner")
        if learner is None:  # version 1
            learner = (
                {"model_scaled": self.learner.model_scaled or int(state["iteration"]) > 0}
                if isinstance(self.learner, ImaginedLearner)
                else {}
            )
        for k, m in self.modules().items():
            try:
                m.load_state_dict(state["modules"][k])
            except RuntimeError as exc:
                raise ValueError(
                    f"checkpoint's '{k}' does not fit this trainer (another "
                    f"configuration?): {str(exc).strip().splitlines()[-1].strip()}"
                ) from None
        for k, o in self.optimizers().items():
            o.load_state_dict(state["optimizers"][k])
        self.learner.load_state_dict(learner)
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
            self.explorer.load_state_dict(state)


STATE_VERSION = 2
"""Of ``AdversarialTrainer.state_dict``. 2 added the version, the learners' own state
(``ImaginedLearner.model_scaled``: without it a resumed MAIRL run rescaled its trained
model), the explorer's critic and numpy's and Python's global random streams."""


def _numpy_rng_state() -> dict:
    """numpy's global (legacy) random state as tensors and numbers (weights-only loadable)."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    return {
        "kind": kind,
        "keys": torch.from_numpy(keys.astype(np.int64)),
        "pos": int(pos),
        "has_gauss": int(has_gauss),
        "cached_gaussian": float(cached),
    }


def _set_numpy_rng_state(s: dict) -> None:
    np.random.set_state(
        (s["kind"], s["keys"].numpy().astype(np.uint32), s["pos"], s["has_gauss"], s["cached_gaussian"])
    )


def _python_rng_state() -> dict:
    version, internal, gauss_next = random.getstate()
    return {"version": version, "internal": list(internal), "gauss_next": gauss_next}


def _set_python_rng_state(s: dict) -> None:
    random.setstate((s["version"], tuple(s["internal"]), s["gauss_next"]))
