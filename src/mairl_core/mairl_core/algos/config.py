"""Hyper-parameters of MAIRL and the adversarial baselines.

Defaults are the paper's §V-A values where the paper gives one; the rest are
marked with where they come from. ``config/mairl.yaml`` restates them for
users; task configs (e.g. ``config/gridworld.yaml``) override a few.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from .svg import SVGConfig


@dataclass
class AlgoConfig:
    """Settings shared by MAIRL, AIRL, GAIL, GAN-GCL and MGAIL."""

    # --- networks (§V-A: two-layer ReLU, 32 units) ---
    policy_hidden: tuple[int, ...] = (32, 32)
    """Policy MLP hidden sizes."""
    reward_hidden: tuple[int, ...] = (32, 32)
    """Hidden sizes of g (reward approximator) and h (shaping), each its own MLP."""
    disc_hidden: tuple[int, ...] = (32, 32)
    """Hidden sizes of GAIL's plain discriminator."""
    state_only: bool = True
    """Reward g(s) (True, the 's' mode) or g(s, a) (False, the 's,a' mode)."""
    disc_inputs: Literal["obs", "task"] = "obs"
    """What of the state the discriminator's g and h read: the whole observation, or ``task``:
    the env's ``task_features`` (UR5: the fingertip relative to the target, and for grasping
    the suction, vacuum and fingertip height), standardised by the demos' statistics -- a
    reward that cannot tell the demos by the arm's pose, only by how the task stands."""

    # --- the policy learner of the model-based methods (MAIRL, MGAIL) ---
    learner: Literal["svg", "imagined"] = "svg"
    """``svg``: the soft actor-critic with H-step model gradients (algos/svg.py, settings in
    ``svg``; for discrete actions with the exact expectation over them); ``imagined``: the
    paper's update, ``rollout_horizon``-step imagined rollouts of r_hat with no critic
    (algos/imagined.py)."""
    svg: SVGConfig = field(default_factory=SVGConfig)
    """The SVG learner's settings (also AIRL (SAC)'s, with horizon 0); its discount is
    ``gamma`` and its model kind ``dynamics`` (the ones AIRL's shaping and the table rows use)."""

    # --- optimisation (§V-A) ---
    disc_lr: float = 1e-3
    policy_lr: float = 1e-4
    model_lr: float = 1e-4
    entropy_weight: float = 0.1
    """alpha in the policy objective sum_t gamma^t (f - alpha log pi) (eq. 4-5, §V-A weight)."""
    batch_size: int = 512
    gamma: float = 0.99
    """Discount used by the shaping term gamma h(s') and the policy objective."""

    # --- data (§V-A) ---
    horizon: int = 100
    """T: steps each collecting env runs per iteration of Algorithm 1."""
    n_envs: int = 8
    """Episodes collected in parallel per iteration."""
    buffer_size: int = 1_000_000
    agent_recent: int = 20_000
    """Discriminator and rollout starts draw from this many most recent agent transitions."""
    env_steps: int = 200_000
    """Total environment-step budget of one training run."""

    normalize_obs: bool = False
    """Every network sees (obs - mean) / std and act / std with the demonstrations' statistics,
    fixed for the run (algos/normalize.py); for robots, whose observations mix rad and metres
    and whose demonstrated joint steps are milliradians."""
    obs_std_min: float = 1e-2
    """Floor of the normalising std (dimensions the demos barely vary)."""
    act_std_min_frac: float = 0.05
    """With normalize_obs, actions are divided by the demos' per-dimension std, floored at this
    fraction of the env's action bound (a joint the demonstrator never moved)."""
    delta_std_min: float = 1e-3
    """With normalize_obs, the dynamics model predicts s' - s in units of the demos' per-step
    change std, floored here (normalised units)."""

    # --- dynamics model (§IV-A, §V-A) ---
    dynamics: Literal["attention", "gru", "mlp"] = "attention"
    d_model: int = 64
    n_heads: int = 4
    embed_hidden: int = 32
    """Width of the two-layer embedding / decoder MLPs."""
    attention_blocks: int = 0
    """``dynamics: attention``: Transformer-decoder blocks (models/dynamics.py); 0 = eq. 13's
    single attention."""
    gated_decoder: bool = False
    """Dec also reads features * state embedding (models/dynamics.py explains why robots need it)."""
    model_uses_demos: bool = False
    """Fit the model to the demos' transitions as well as the agent's (both are the real
    dynamics); imagined rollouts that start from demonstrated states then start where the
    model has seen data."""
    model_grad_clip: float = 10.0
    """Gradient-norm clip of the model's maximum-likelihood steps."""

    # --- per-iteration schedule: what one pass of Algorithm 1 does, in the paper's order
    # (collect, fit F, fit D, update pi: AdversarialTrainer._iteration). The paper gives no
    # step counts; these are ours, and disc_warmup_iters holds the policy back at first. ---
    model_steps: int = 20
    disc_steps: int = 5
    centre_logits: bool = False
    """Before the first discriminator step, shift D's output bias so the mean logit over the
    first expert + agent batch is 0. AIRL's logit is f - log pi, and a continuous policy's
    log pi is tens of nats in physical units (a 6-joint arm: ~ +15): with Adam moving the
    bias ~lr per step, f would need thousands of steps just to absorb that constant."""
    reward_ema: float = 0.0
    """Decay of an exponential moving average of the discriminator's weights, kept beside it
    and reported as the learned reward (0 = off: the last iterate is the reward)."""
    policy_steps: int = 10
    bc_init_steps: int = 0
    """Behaviour-cloning steps (max log-likelihood of the demos, batch_size, lr bc_lr) on the
    policy before the first iteration; 0 = start from the random policy."""
    bc_lr: float = 1e-3
    freeze_reward: bool = False
    """Train the policy (and the model) on a fixed, loaded reward: no discriminator updates
    and no demos (reward transfer)."""
    policy_ema: float = 0.0
    """Decay per iteration of an exponential moving average of the policy's weights; when > 0
    the average is the deployed (evaluated, saved) policy, while data is still collected
    with the policy itself (0 = off)."""
    bc_weight: float = 0.0
    """Weight of a behaviour-cloning term, the demos' mean -log pi(a_E|s_E) over batch_size
    demo transitions, added to every policy loss (0 = the paper's pure adversarial update)."""
    disc_warmup_iters: int = 0
    """Iterations at the start that train F and D but not the policy."""

    # --- model-based policy update (§IV-C) ---
    rollout_horizon: int = 10
    """Length of differentiable rollouts (reference code: 10)."""
    rollout_mode: Literal["imagined", "real"] = "imagined"
    """'imagined': s' from the model; 'real': s' value from the env, gradient from the
    model, s' = F(s,a) + stop_grad(s'_env - F(s,a)) (needs an env that can be reset to a
    state, e.g. GridWorld; the reference code's rollouts)."""
    rollout_batch: int = 512
    rollout_expert_frac: float = 0.0
    """Fraction of rollout starts drawn from the demos' states instead of the agent's (the
    reference code resets continuous-control rollouts to expert states)."""
    policy_grad_clip: float = 2.0
    """Element-wise clip of policy gradients (reference code: 2)."""
    gumbel_temperature: float = 1.0
    """tau of the concrete relaxation (eq. 22) for discrete actions."""
    straight_through: bool = True
    """Discrete actions: one-hot forward, relaxed gradient backward."""
    exact_discrete_entropy: bool = True
    """Discrete actions: use E_a[-log pi(a|s)] (the entropy, exact) for the -alpha log pi term
    of r_hat instead of the sampled action's -log pi, whose straight-through gradient is biased."""
    binary_actions: int = 0
    """Continuous-action envs: the last this many action entries are on/off switches (the
    grasp task's suction), drawn from a Bernoulli head (binary concrete, straight-through,
    ``gumbel_temperature``) instead of the Gaussian; 0 = all entries Gaussian."""
    log_std_init: float = -0.5
    """Continuous policies' initial log std (normalised action units when normalize_obs), strictly
    inside (log_std_min, log_std_max); the learned value stays smoothly inside (a tanh rescaling)."""
    log_std_min: float = -5.0
    log_std_max: float = 1.0
    # --- discriminator regularisation ---
    grad_penalty: float = 0.0
    """Weight of a gradient penalty on expert inputs (0 = off)."""
    grad_penalty_goal: bool = True
    """Goal-conditioned envs (``goal_slice``): include the goal entries of the observation in
    the gradient penalty. The demos end at their goals, so a penalty there flattens the reward
    exactly where a learner needs its slope to get the last centimetres."""
    relabeled_negatives: float = 0.0
    """Goal-conditioned tasks (an env with ``goal_slice``: observation entries that hold
    ``tip - goal``, and ``goal_positions``): this share of D's agent-side batch are demo
    transitions whose goal is swapped for another demo episode's goal -- what the expert did,
    aimed at the wrong block. Only the relation between the motion and the goal tells them
    from the demos, so D's reward must encode it, not just the demos' style (for reward
    transfer: otherwise a fresh policy finds rewarded behaviour far from the block). Costs
    no env steps; 0 = off. Transition-level discriminators only."""
    explorer_negatives: float = 0.0
    """This share of D's agent-side batch comes from an *explorer*: a second policy, trained
    from scratch on the current reward with no demos (no BC term, rollouts started only from
    its own states) -- the reward-transfer learner, run alongside D. It finds what the current
    reward scores highest away from the demos, and D is shown what it finds. Every
    ``explorer_every`` iterations it collects n_envs episodes in the real env (their env steps
    count in the budget). With ``learner: imagined`` it shares the agent's forward model (which
    trains on its episodes too); with ``learner: svg`` it is SVG(``explorer_horizon``), SAC by
    default, with its own critic, temperature and replay (``negatives.SVGExplorer``). 0 = off.
    Not for the PPO rows."""
    explorer_horizon: int = 0
    """``learner: svg``: H of the explorer's actor (0: SAC; 1: SVG(1) with a forward model
    of its own, fitted on its own episodes, as the reward-transfer learner is). UR5 reach,
    3 seeds: MAIRL 0.970 with H = 1, 0.987 with the explorer's policy selectable; AIRL (SAC)
    keeps H = 0 (bench/RESULTS.md, Table III)."""
    explorer_every: int = 1
    explorer_window: int = 0
    """D draws the explorer's negatives from its last this many env steps (0 = its whole
    history, up to ``buffer_size``: what a fresh learner visits on its way, not only where
    the explorer is now)."""

    # --- PPO, the model-free learner of the baselines ---
    ppo_lr: float = 3e-4
    ppo_epochs: int = 4
    ppo_minibatches: int = 4
    ppo_clip: float = 0.2
    gae_lambda: float = 0.95
    value_coef: float = 0.5
    ppo_max_grad_norm: float = 0.5

    def __post_init__(self) -> None:
        # Checked here, not only by the YAML loader: CLI overrides arrive by dataclasses.replace.
        # `not x > 0` (not `x <= 0`) so that NaN fails too.
        positive = [
            "disc_lr",
            "policy_lr",
            "model_lr",
            "bc_lr",
            "ppo_lr",
            "batch_size",
            "horizon",
            "n_envs",
            "buffer_size",
            "env_steps",
            "agent_recent",
            "d_model",
            "n_heads",
            "embed_hidden",
            "rollout_horizon",
            "rollout_batch",
            "model_steps",
            "disc_steps",
            "policy_steps",
            "ppo_epochs",
            "ppo_minibatches",
            "gumbel_temperature",
            "obs_std_min",
            "act_std_min_frac",
            "delta_std_min",
            "model_grad_clip",
            "policy_grad_clip",
            "ppo_clip",
            "ppo_max_grad_norm",
        ]
        for name in positive:
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)}")
        non_negative = [
            "attention_blocks",
            "bc_init_steps",
            "disc_warmup_iters",
            "binary_actions",
            "grad_penalty",
            "bc_weight",
            "value_coef",
        ]
        for name in non_negative:
            if not getattr(self, name) >= 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        for name in ("policy_hidden", "reward_hidden", "disc_hidden"):
            if any(not n > 0 for n in getattr(self, name)):
                raise ValueError(f"{name}: every layer needs > 0 units, got {getattr(self, name)}")
        for name in ("reward_ema", "policy_ema"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ValueError(f"{name} must be in [0, 1), got {getattr(self, name)}")
        for name in ("rollout_expert_frac", "gae_lambda"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {getattr(self, name)}")
        if not self.log_std_min < self.log_std_init < self.log_std_max:
            raise ValueError(
                f"need log_std_min < log_std_init < log_std_max (the log std is kept "
                f"smoothly inside its bounds and starts strictly inside), got "
                f"{self.log_std_min}, {self.log_std_init}, {self.log_std_max}"
            )
        if not 0.0 < self.gamma <= 1.0:
            raise ValueError(f"gamma must be in (0, 1], got {self.gamma}")
        if not self.entropy_weight >= 0:
            raise ValueError(f"entropy_weight must be >= 0, got {self.entropy_weight}")
        if not 0.0 <= self.relabeled_negatives < 1.0:
            raise ValueError(f"relabeled_negatives must be in [0, 1), got {self.relabeled_negatives}")
        if (
            not 0.0 <= self.explorer_negatives < 1.0
            or self.explorer_every < 1
            or self.explorer_horizon < 0
            or self.explorer_window < 0
            or (self.explorer_negatives + self.relabeled_negatives >= 1)
        ):
            raise ValueError(
                "explorer_negatives must be in [0, 1), explorer_every >= 1, explorer_horizon >= 0 and "
                "explorer_window >= 0, and with the other negatives leave some of "
                "D's agent batch to the agent"
            )
        if self.explorer_horizon > 0 and self.learner != "svg":
            raise ValueError(
                "explorer_horizon is for learner: svg (the imagined explorer uses the agent's update)"
            )
        if self.d_model % self.n_heads:
            raise ValueError(f"d_model ({self.d_model}) must be divisible by n_heads ({self.n_heads})")
