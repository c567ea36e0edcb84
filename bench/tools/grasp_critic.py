"""Lab tool: does a grasp run's critic still track its learned reward?

For each mid-run checkpoint of `mairl bench ur5 --task grasp` (OUT/runs/METHOD_seedN.pt,
removed when the run ends: copy them while it runs), print

- on the last 20k replay transitions, split by the fingertip's distance to the block (over
  or under 20 cm): the relabelled reward f (what the critic is trained on), min Q, the
  target's value at the policy's next action, and the TD error;
- the spread of f over those transitions and over the demos;
- on the deterministic policy's episodes from the 16 curve blocks and on the demos: the
  discounted f-return from the first state (bootstrapped with Q at the last step) beside
  Q at the first state, and Q + h (AIRL's potential added back) at step 120.

    .venv/bin/python bench/tools/grasp_critic.py CONFIG DEMOS CKPT [CKPT ...]
"""

from __future__ import annotations

import sys

import torch
from grasp_reward_phases import curve_episodes, stopped_runs

from mairl_core.envs.ur5_reach import GOAL_SLICE


def replay_report(trainer, last: int = 20_000) -> None:
    learner, norm = trainer.learner, trainer.obs_norm
    n = learner.replay.size
    d = {k: v[:n][-last:] for k, v in learner.replay.data.items()}
    zero = torch.zeros(len(d["obs"]))
    with torch.no_grad():
        f = trainer.disc.policy_reward(d["obs"], d["act"], d["next_obs"], zero, zero, 0.0)
        q = learner.min_q(d["obs"], d["act"])
        a2, logp2 = learner.policy.rsample(d["next_obs"])
        q2 = learner.min_q(d["next_obs"], a2, target=True)
        y = f + learner.cfg.gamma * (1 - d["terminal"]) * (q2 - learner.alpha * logp2)
    far = norm.inverse(d["obs"])[:, GOAL_SLICE].norm(dim=-1) > 0.2
    print(f"  replay (last {len(f)}): f spread {float(f.std()):.3f}")
    for name, m in (("all", torch.ones_like(far)), ("far (> 20 cm)", far), ("near", ~far)):
        if m.any():
            fm, qm, q2m, td = (float(x[m].mean()) for x in (f, q, q2, q - y))
            print(
                f"    {name:14s} {int(m.sum()):6d} steps: f {fm:+.3f}, Q {qm:7.2f}, "
                f"target's Q at pi's next action {q2m:7.2f}, TD error {td:+.3f}"
            )


def episode_stats(trainer, obs, act, nxt) -> tuple[float, float, float, float]:
    """(f spread, discounted f-return from the first state, Q there, Q + h at step 120) over
    episodes (E, T, .) of raw observations and actions."""
    norm, learner, disc = trainer.obs_norm, trainer.learner, trainer.disc
    s, a, s2 = norm(obs), act / norm.act_scale, norm(nxt)
    zero = torch.zeros(s.shape[:-1])
    with torch.no_grad():
        f = disc.policy_reward(s, a, s2, zero, zero, 0.0)
        q = learner.min_q(s, a)
        h = disc.h(s)
    gamma = learner.cfg.gamma
    steps = f.shape[1]
    ret = (f * gamma ** torch.arange(steps, dtype=f.dtype)).sum(1) + gamma**steps * q[:, -1]
    t = min(120, steps - 1)
    return float(f.std()), float(ret.mean()), float(q[:, 0].mean()), float((q[:, t] + h[:, t]).mean())


def main(config: str, demos: str, *ckpts: str) -> None:
    for path, trainer, expert, env_cfg, _ in stopped_runs(config, demos, ckpts):
        print(f"{path}: {trainer.env_steps} env steps")
        replay_report(trainer)
        own = curve_episodes(trainer, env_cfg)[1:]
        for name, eps in (("policy", own), ("demos", (expert.obs, expert.act, expert.next_obs))):
            spread, ret, q0, qh = episode_stats(trainer, *eps)
            print(
                f"  {name:6s} episodes: f spread {spread:.3f}, f-return from s0 {ret:7.2f} "
                f"vs Q(s0) {q0:7.2f}, Q + h at step 120 {qh:7.2f}"
            )


if __name__ == "__main__":
    if len(sys.argv) < 4:
        sys.exit(__doc__.strip().splitlines()[-1].strip())
    main(*sys.argv[1:])
