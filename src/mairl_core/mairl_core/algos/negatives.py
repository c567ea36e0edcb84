"""The discriminator's extra negatives, beside the agent's own transitions.

D otherwise only ever separates the demos from the current, demo-held policy, and its
reward is unconstrained far from both; a fresh policy trained on that reward later (reward
transfer) finds those regions. Two sources, each a share of D's agent-side batch:

- ``relabeled_negatives``: demo transitions aimed at another demo episode's goal
  (``GoalRelabeler``; goal-conditioned envs, no env steps);
- ``explorer_negatives``: the episodes of an ``Explorer``, a second policy trained on the
  current reward with no demos, beside D.
"""

from __future__ import annotations

import dataclasses

import torch
from torch import nn

from .config import AlgoConfig
from .imagined import ImaginedContext, ImaginedLearner
from .svg import Batch, LearnerContext, SVGConfig, SVGLearner, entropy_free_reward
from .transitions import EpisodeBuffer, Transitions, VecEnv


class GoalRelabeler:
    """Demo transitions with the goal swapped for another demo episode's.

    ``goal_slice``: the observation entries holding tip - goal; ``goals`` (episodes, 3): each
    demo episode's goal (constant within it); ``obs_std``: the normaliser's std when the demos
    handed to ``sample`` are normalised (None: raw)."""

    def __init__(self, goal_slice: slice, goals: torch.Tensor, obs_std: torch.Tensor | None = None):
        self.goal_slice, self.goals, self.obs_std = goal_slice, goals, obs_std

    def sample(self, expert: Transitions, n: int, gen: torch.Generator) -> Transitions:
        """``n`` random transitions of ``expert`` (E, T, ...), each aimed at another episode's
        goal: obs[goal_slice] = tip - goal moves by goal - new goal."""
        n_eps, horizon = expert.obs.shape[:2]
        ep = torch.randint(0, n_eps, (n,), generator=gen)
        other = (ep + torch.randint(1, n_eps, (n,), generator=gen)) % n_eps  # never its own
        b = expert.index((ep, torch.randint(0, horizon, (n,), generator=gen)))
        shift = torch.zeros(n, b.obs.shape[-1])
        shift[:, self.goal_slice] = self.goals[ep] - self.goals[other]
        if self.obs_std is not None:
            shift = shift / self.obs_std
        return dataclasses.replace(b, obs=b.obs + shift, next_obs=b.next_obs + shift)


class _ExplorerEpisodes:
    """What both explorers share: the policy, its learner, the episodes it collected (D's
    negatives: its last ``explorer_window`` env steps, 0: its whole history) and their state
    in a checkpoint. No-op ``observe``: a learner without a replay of its own keeps nothing."""

    def __init__(self, cfg: AlgoConfig, policy: nn.Module, learner, horizon: int):
        self.cfg, self.policy, self.learner = cfg, policy, learner
        self.buffer = EpisodeBuffer(cfg.explorer_window or cfg.buffer_size, horizon)

    def negatives(self) -> Transitions:
        """Every transition D may draw from, flat."""
        return self.buffer.recent_episodes(self.buffer.capacity * self.buffer.horizon).flat()

    def observe(self, new: Batch | None) -> None:
        """Keep ``new`` without learning (D's warm-up)."""

    def state_dict(self) -> dict:
        return {"explorer_buffer": self.buffer.state_dict(), "explorer_learner": self.learner.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.buffer.load_state_dict(state["explorer_buffer"])
        if "explorer_learner" in state:  # older imagined explorers' states lack it
            self.learner.load_state_dict(state["explorer_learner"])


class Explorer(_ExplorerEpisodes):
    """A second policy, trained from scratch by the imagined update on the current reward
    with no demo terms (the reward-transfer learner, run alongside D), sharing the agent's
    forward model F (``dynamics``: F is fitted by the agent's learner, on both buffers). Every
    ``explorer_every`` iterations it collects episodes in the real env; D draws its share of
    negatives from them."""

    def __init__(
        self, cfg: AlgoConfig, env: VecEnv, policy: nn.Module, dynamics: nn.Module, gen: torch.Generator
    ):
        learner = ImaginedLearner(
            dataclasses.replace(cfg, rollout_expert_frac=0.0, bc_weight=0.0), env, policy, gen, None
        )
        learner.dynamics = dynamics
        super().__init__(cfg, policy, learner, env.horizon)

    def update(self, disc: nn.Module, new: Batch | None = None) -> dict[str, float]:
        starts = self.buffer.recent_episodes(self.cfg.agent_recent).flat().obs
        return self.learner.update_policy(ImaginedContext(disc, starts))

    def modules(self) -> dict[str, nn.Module]:
        return {"explorer": self.policy}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        # its learner's model_opt is never stepped: F is fitted by the agent's learner
        return {"explorer_opt": self.learner.policy_opt}


class SVGExplorer(_ExplorerEpisodes):
    """The explorer of the SVG learner: a second policy trained by SVG(``explorer_horizon``)
    (0: SAC; its own twin critic, temperature, replay and, for H > 0, forward model) on the
    current reward with no demos, as a new policy is in reward transfer. It collects episodes
    every ``explorer_every`` iterations (the trainer hands them over as ``new``); D draws its
    share of negatives from them."""

    def __init__(
        self,
        cfg: AlgoConfig,
        svg_cfg: SVGConfig,
        obs_dim: int,
        act_dim: int,
        policy: nn.Module,
        gen: torch.Generator,
    ):
        svg_cfg = dataclasses.replace(svg_cfg, horizon=cfg.explorer_horizon, demo_start_frac=0.0)
        super().__init__(cfg, policy, SVGLearner(svg_cfg, obs_dim, act_dim, policy, gen), cfg.horizon)

    def observe(self, new: Batch | None) -> None:
        """Keep ``new`` in the explorer's replay without learning (D's warm-up)."""
        if new is not None:
            self.learner.observe(new)

    def update(self, disc: nn.Module, new: Batch | None = None) -> dict[str, float]:
        if new is None:  # nothing collected this iteration: SVG updates per new env step
            return {}
        return self.learner.update(LearnerContext(new, reward=entropy_free_reward(disc)))

    def modules(self) -> dict[str, nn.Module]:
        return {"explorer": self.policy, **{f"explorer_{k}": m for k, m in self.learner.modules().items()}}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        opts = self.learner.optimizers()
        return {"explorer_opt": opts.pop("policy_opt"), **{f"explorer_{k}": o for k, o in opts.items()}}
