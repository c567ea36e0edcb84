"""Lab tool: where a grasp run's learned reward puts the policy and the demos, by phase.

For each mid-run checkpoint of `mairl bench ur5 --task grasp` (OUT/runs/METHOD_seedN.pt,
written every `checkpoint_every` iterations and removed when the run ends: copy them while
it runs), print the deterministic policy's success on the 16 training-seed blocks of the
curve, the share of steps it commands suction, and, on its steps and on the demos' steps,
the discriminator's reward f (what the critic is trained on) and the critic's min Q, split by
phase of the step's next state: suction off, suction on but not holding, holding (and holding
split by the block's lift: on the table, lifted 5 cm or more).

    .venv/bin/python bench/tools/grasp_reward_phases.py CONFIG DEMOS CKPT [CKPT ...]
"""

from __future__ import annotations

import sys

import numpy as np
import torch

from mairl_core.benchmarks import load_run, ur5
from mairl_core.envs.kinematics import fingertip_position
from mairl_core.envs.tasks import task_env_cls
from mairl_core.envs.ur5_model import load_ur5
from mairl_core.robot import load_robot_demos, make_robot_trainer

SUCTION, VACUUM = 15, 16  # grasp observation entries (envs/ur5_grasp.py, grasp_observation)


def block_lift(nxt: torch.Tensor, rest_height: float) -> torch.Tensor:
    """The block's lift (m) in each next state: the fingertip's height (forward kinematics of
    the joint angles) minus the fingertip-to-block entry, less the resting height."""
    robot = load_ur5()
    tip_z = [fingertip_position(robot, q.double().numpy())[2] for q in nxt[:, :6]]
    return torch.as_tensor(tip_z, dtype=torch.float32) - nxt[:, 14] - rest_height


def by_phase(trainer, obs, act, nxt, rest_height: float) -> dict[str, tuple[float, float, int]]:
    """(mean f, mean min Q, steps) over all steps and per phase of the next state; holding
    is also split by the block's lift (below 1 cm: on the table; 5 cm or more: lifted)."""
    norm = trainer.obs_norm
    o, a, o2 = norm(obs), act / norm.act_scale, norm(nxt)
    zero = torch.zeros(len(o))
    with torch.no_grad():
        f = trainer.disc.policy_reward(o, a, o2, zero, zero, 0.0)
        q = trainer.learner.min_q(o, a)
    suction, vacuum = nxt[:, SUCTION] > 0.5, nxt[:, VACUUM] > 0.5
    lift = block_lift(nxt, rest_height)
    masks = {"all": torch.ones_like(suction), "off": ~suction, "on, not holding": suction & ~vacuum}
    masks["holding"] = vacuum
    masks["holding, on the table"] = vacuum & (lift < 0.01)
    masks["holding, lifted"] = vacuum & (lift >= 0.05)
    out = {}
    for k, m in masks.items():
        if m.any():
            out[k] = (round(float(f[m].mean()), 3), round(float(q[m].mean()), 2), int(m.sum()))
    return out


def stopped_runs(config: str, demos: str, ckpts, row: str = "MAIRL"):
    """(path, trainer, demos, env config, the record's best curve point) for each mid-run
    checkpoint of a grasp run of the table row ``row`` made with ``config``."""
    torch.set_num_threads(1)
    exp, bench = ur5.load_bench(config)
    env_cfg = ur5.bench_env_config("grasp", bench)
    expert = load_robot_demos(demos, exp.demos.n_demos, task="grasp")
    algo, state_only = ur5.METHOD_SPECS[row]
    for path in ckpts:
        trainer = make_robot_trainer(
            exp,
            algo,
            expert,
            0,
            state_only,
            task="grasp",
            overrides=bench.algo_by_method.get(row),
            env_config=env_cfg,
        )
        _, best = load_run(path, trainer)
        yield path, trainer, expert, env_cfg, best


def curve_episodes(trainer, env_cfg, episodes: int = 16):
    """The deterministic policy's episodes from the curve's blocks: (envs, observations,
    actions, next observations), each (episodes, steps, dim)."""
    policy = trainer.deployable_policy()
    envs = [task_env_cls("grasp")(env_cfg) for _ in range(episodes)]
    obs = np.stack([e.reset(seed=ur5.CURVE_SEED + i)[0] for i, e in enumerate(envs)])
    steps = []
    for _ in range(envs[0].cfg.episode_steps):
        act = policy.act(torch.as_tensor(obs), True).numpy()
        nxt = np.stack([e.step(a)[0] for e, a in zip(envs, act)])
        steps.append((obs, act, nxt))
        obs = nxt
    return envs, *(torch.as_tensor(np.stack(x, 1), dtype=torch.float32) for x in zip(*steps))


def main(config: str, demos: str, *ckpts: str) -> None:
    for path, trainer, expert, env_cfg, _ in stopped_runs(config, demos, ckpts):
        envs, *eps = curve_episodes(trainer, env_cfg)
        o, a, n = (x.reshape(-1, x.shape[-1]) for x in eps)
        demo = expert.flat()
        print(
            f"{path}: {trainer.env_steps} env steps, success {np.mean([e.is_success() for e in envs]):.2f}, "
            f"suction commanded on {float((a[:, 6] > 0).float().mean()):.2f} of steps"
        )
        rest = env_cfg.object_size
        print("  policy (f, min Q, steps):", by_phase(trainer, o, a, n, rest))
        print("  demos  (f, min Q, steps):", by_phase(trainer, demo.obs, demo.act, demo.next_obs, rest))


if __name__ == "__main__":
    if len(sys.argv) < 4:
        sys.exit(__doc__.strip().splitlines()[-1].strip())
    main(*sys.argv[1:])
