"""Lab tool: the held-out test of a grasp run stopped before its budget.

A `mairl bench ur5 --task grasp` run writes results only when it ends; one stopped early
(its grasp gone, its CPU wanted elsewhere) leaves a mid-run checkpoint (OUT/runs/METHOD_seedN.pt,
removed when a run ends: copy it while it runs). This runs the bench's own held-out test (the
config's evaluation episodes and seed, unseen blocks) on the checkpoint's selected policy (its
best curve point so far) and on its last policy, and prints one JSON line per checkpoint
for the run's partial record.

    .venv/bin/python bench/tools/grasp_heldout.py CONFIG DEMOS ROW CKPT [CKPT ...]

ROW is the table row, e.g. MAIRL or "AIRL (SAC)".
"""

from __future__ import annotations

import json
import sys

from grasp_reward_phases import stopped_runs

from mairl_core.benchmarks import ur5
from mairl_core.robot import evaluate_robot


def main(config: str, demos: str, row: str, *ckpts: str) -> None:
    exp, _ = ur5.load_bench(config)
    for path, trainer, _, env_cfg, best in stopped_runs(config, demos, ckpts, row):
        out = {"ckpt": path, "stopped_at_env_steps": trainer.env_steps}
        out["selected_at_env_steps"] = best.get("env_steps")
        for name, policy in (("selected", best.get("policy")), ("last", trainer.deployable_policy())):
            if policy is not None:
                r = evaluate_robot(policy, exp.eval.episodes, exp.eval.seed, task="grasp", env_config=env_cfg)
                out[f"held_out_{name}"] = {k: r[k] for k in ("success_rate", "final_distance_median")}
        print(json.dumps(out), flush=True)


if __name__ == "__main__":
    if len(sys.argv) < 5:
        sys.exit(__doc__.strip().splitlines()[-3].strip())
    main(*sys.argv[1:])
