"""Lab tool: does a locomotion run's soft critic stay on the scale of its learned reward?

For a mid-run checkpoint of `mairl bench mujoco` (OUT/runs/METHOD_seedN.pt, removed when the
run ends: copy it while the run goes), rebuild the trainer and print

- D's reward f (without the entropy term, what the critic is trained on) on the demos and on
  each 10k block of the replay;
- min Q(s, a) on the last 5k replay transitions and on the demos, and alpha: with |f| <= F a
  discounted return is at most F / (1 - gamma), so a Q far above that is the critic diverging;
- the actions' size in the networks' units (replay and demos) and, with normalize_obs, the
  largest standardised observation entry of each transition.

    .venv/bin/python bench/tools/mujoco_critic.py ENV CONFIG METHOD CKPT
    e.g. Ant-v5 mujoco_scratch_ant 'AIRL (SAC)' /tmp/AIRL_SAC_seed0.pt
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch

from mairl_core.algos.adversarial import AdversarialTrainer
from mairl_core.algos.svg import entropy_free_reward
from mairl_core.benchmarks import load_run
from mairl_core.benchmarks import mujoco as mj
from mairl_core.config import with_overrides
from mairl_core.envs.locomotion import LocomotionVecEnv


def quantiles(name: str, x: torch.Tensor) -> None:
    x = x.detach().flatten()
    q = torch.quantile(x, torch.tensor([0.01, 0.5, 0.99]))
    print(f"{name:32s} mean {float(x.mean()):9.3g}   1% {q[0]:9.3g}  median {q[1]:9.3g}  99% {q[2]:9.3g}")


def main(env_id: str, config: str, method: str, ckpt: str) -> None:
    torch.set_num_threads(1)
    cfg = mj.load_bench(config)
    algo_name, over = mj.METHOD_SPECS[method]
    algo = with_overrides(cfg.algo, {**over, **cfg.algo_by_method.get(method, {})})
    expert, _ = mj.expert_transitions(env_id, cfg)
    env = LocomotionVecEnv(env_id, 1, seed=0, horizon=cfg.horizon)
    tr = AdversarialTrainer(algo_name, algo, env, expert, seed=0)
    record, _ = load_run(Path(ckpt), tr)
    learner, reward, demos = tr.learner, entropy_free_reward(tr.disc), tr.expert.flat()
    n = learner.replay.size
    d = {k: v[:n] for k, v in learner.replay.data.items()}
    print(f"{ckpt}: {record['curve'][-1]['env_steps'] if record['curve'] else 0} env steps, replay {n}")
    with torch.no_grad():
        quantiles("f, demos", reward(demos.obs, demos.act, demos.next_obs, torch.zeros(len(demos.obs))))
        for lo in range(0, n, 10_000):
            s = slice(lo, min(n, lo + 10_000))
            f = reward(d["obs"][s], d["act"][s], d["next_obs"][s], torch.zeros(s.stop - s.start))
            quantiles(f"f, replay {lo // 1000}k-{s.stop // 1000}k", f)
        last = slice(max(0, n - 5_000), n)
        quantiles("min Q, replay (last 5k)", learner.min_q(d["obs"][last], d["act"][last]))
        quantiles("min Q, demos", learner.min_q(demos.obs[:5_000], demos.act[:5_000]))
        print(f"alpha {float(learner.alpha):.3g}, gamma {learner.cfg.gamma}")
        quantiles("|action|, replay (last 5k)", d["act"][last].abs())
        quantiles("|action|, demos", demos.act.abs())
        if tr.obs_norm is not None:  # replay and demos are in the networks' (standardised) units
            quantiles("max |obs entry|, replay (last 5k)", d["obs"][last].abs().max(-1).values)
            quantiles("max |obs entry|, demos", demos.obs.abs().max(-1).values)


if __name__ == "__main__":
    if len(sys.argv) != 5:
        sys.exit(__doc__)
    main(*sys.argv[1:])
