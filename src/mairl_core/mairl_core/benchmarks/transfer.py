"""Reward transfer (the paper's claim for IRL): a learned reward trains a fresh policy on a
changed robot, with no demos.

Source: the checkpoints a ``mairl bench ur5`` run saved
(``SOURCE/checkpoints/{task}_{algo}_seed{s}.pt``: the selected policy, the
observation normaliser and the learned reward ``disc``). Target: the same task
on a changed robot, an env YAML (default ``config/ur5_reach_changed.yaml``:
a 0.5 kg payload at the tool point). Rows, one run per source seed:

- ``BC moved``, ``MAIRL moved``: the source policies, unchanged, on the changed robot;
- ``MAIRL reward``: a fresh policy trained on the changed robot with MAIRL's frozen
  reward f (no discriminator updates, no demos), by the config's policy learner with a
  fresh forward model, in the source's observation coordinates (``reach_train`` and
  ``reach_transfer``: the paper's imagined-rollout update, whose 10-step sum of f keeps
  h(s_H), AIRL's value-like term; the SVG learner's critic cancels h from the actor's
  gradient, and its new policies did not climb the from-scratch rewards, bench/RESULTS.md);
- ``GAIL reward``: the same with GAIL's frozen discriminator as the reward (-log(1 - D));
- ``MAIRL(s) reward`` (not by default): the same with a state-only MAIRL reward g(s), AIRL's
  form for transfer (the source run must include the ``MAIRL(s)`` method);
- ``True reward`` (reach; not by default): the same learner on the task's own reward,
  -distance(fingertip, block) / success radius: a control that tells a reward that does
  not transfer from a learner that cannot train without demos;
- ``Expert``: the scripted operator on the changed robot, for reference.

Both reward rows use the same learner, budget and checkpoint selection
(``ur5.SELECTION_RULE``, training-seed targets), so they differ only in the reward. Each new
policy is saved as ``OUT/checkpoints/{task}_{row}_seed{s}.pt`` (e.g.
``reach_MAIRL_reward_seed0.pt``: the selected policy, its normaliser and the frozen reward;
``mairl eval`` runs it), and a stopped training run goes on from ``OUT/runs`` with ``--resume``.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from ..algos.adversarial import AdversarialTrainer
from ..algos.normalize import ObsNorm
from ..checkpoint import CheckpointError, load_checkpoint
from ..envs.ur5_reach import GOAL_SLICE
from ..robot import RobotExperiment, evaluate_robot, task_env_cls, task_env_config
from . import BenchReport, run_or_resume, run_parallel, run_stem, write_runs
from .ur5 import (
    DIVERGED_RESULT,
    UR5BenchConfig,
    evaluate_expert,
    format_table,
    plot_curves,
    save_policy,
    summarise,
    train_and_select,
)

if TYPE_CHECKING:
    from ..envs.ur5_reach import ReachConfig

#: row label -> (source checkpoint algo, how it is used)
ROWS: dict[str, tuple[str, str]] = {
    "Expert": ("", "expert"),
    "BC moved": ("bc", "moved"),
    "MAIRL moved": ("mairl", "moved"),
    "MAIRL reward": ("mairl", "reward"),
    "GAIL reward": ("gail", "reward"),
    "MAIRL(s) moved": ("mairl_s", "moved"),
    "MAIRL(s) reward": ("mairl_s", "reward"),
    "True reward": ("mairl", "true"),
}
DEFAULT_ROWS = ["Expert", "BC moved", "MAIRL moved", "MAIRL reward", "GAIL reward"]
#: source algo -> the trainer method whose discriminator kind matches and whose learner is
#: MAIRL's model-based update
REWARD_METHOD = {"mairl": "mairl", "airl": "mairl", "gail": "mgail", "mgail": "mgail"}


def source_checkpoint(source: str | Path, task: str, algo: str, seed: int) -> Path:
    path = Path(source) / "checkpoints" / f"{task}_{algo}_seed{seed}.pt"
    if not path.exists():
        raise FileNotFoundError(
            f"{path} does not exist: run `mairl bench ur5 --task {task} "
            f"--out {source}` first (it saves the checkpoints)"
        )
    return path


class TrueReachReward(torch.nn.Module):
    """Reach's own reward in the discriminator's place: -|fingertip - block| / ``radius`` at
    the next state (observation entries ``GOAL_SLICE``, read through the normaliser ``norm``), plus
    the same entropy bonus as the learned rewards."""

    def __init__(self, norm: ObsNorm | None, radius: float):
        super().__init__()
        self.norm, self.radius = norm, radius

    def policy_reward(self, obs, act, next_obs, done, log_pi, alpha: float) -> torch.Tensor:
        raw = next_obs if self.norm is None else self.norm.inverse(next_obs)
        return -raw[..., GOAL_SLICE].norm(dim=-1) / self.radius - alpha * log_pi


def reward_trainer(
    exp: RobotExperiment,
    ckpt: Path,
    seed: int,
    task: str,
    env_config: str | ReachConfig | None,
    true_reward: bool = False,
) -> AdversarialTrainer:
    """A fresh policy and model on the changed robot, the reward loaded from ``ckpt`` and frozen
    (``true_reward``: the task's own reward instead, in the same coordinates)."""
    from ..envs.ur5_reach import UR5ReachVecEnv

    if true_reward and task != "reach":
        raise ValueError("the 'True reward' row is defined for reach only")
    payload = load_checkpoint(ckpt)
    meta, modules = payload["meta"], payload["state"]["modules"]
    if "disc" not in modules:
        raise CheckpointError(f"{ckpt}: no learned reward ('disc') in it")
    method = REWARD_METHOD.get(meta.get("method"))
    if method is None:
        raise CheckpointError(f"{ckpt}: a '{meta.get('method')}' run has no reward to transfer")
    norm = None
    if "obs_norm" in modules:
        norm = ObsNorm(meta["obs_dim"], meta["act_dim"])
        norm.load_state_dict(modules["obs_norm"])
    cfg = dataclasses.replace(
        exp.algo,
        state_only=meta.get("mode") == "s",
        freeze_reward=True,
        rollout_expert_frac=0.0,
        bc_weight=0.0,
        bc_init_steps=0,
    )
    env = UR5ReachVecEnv(
        cfg.n_envs, seed=seed, env_cls=task_env_cls(task), config=task_env_config(task, env_config)
    )
    trainer = AdversarialTrainer(method, cfg, env, None, seed=seed, obs_norm=norm)
    trainer.disc.load_state_dict(modules["disc"])
    if true_reward:
        trainer.disc = TrueReachReward(norm, env.envs[0].cfg.success_radius)
        trainer.disc_avg = None
    return trainer


def run_one(
    exp: RobotExperiment,
    bench: UR5BenchConfig,
    row: str,
    seed: int,
    source: str,
    task: str,
    env_config: str | ReachConfig | None,
    work_dir: Path | None = None,
    resume: bool = False,
) -> dict[str, Any]:
    """One row's run; a reward row's new policy goes to ``work_dir/../checkpoints`` and its
    training state to ``work_dir`` while it runs (``resume`` goes on from there)."""
    from ..training import load_policy

    t0 = time.perf_counter()
    ev = exp.eval
    algo, use = ROWS[row]
    out: dict[str, Any] = {
        "method": row,
        "seed": seed,
        "curve": [],
        "env_steps": 0,
        "row_fields": {
            "variant": {
                "moved": "policy-moved",
                "reward": "reward-retrained",
                "true": "true-reward-retrained",
            }.get(use)
        },
    }
    if use == "expert":
        out.update(evaluate_expert(ev.episodes, ev.seed, task, env_config))
    elif use == "moved":
        policy, _ = load_policy(source_checkpoint(source, task, algo, seed))
        out.update(evaluate_robot(policy, ev.episodes, ev.seed, task=task, env_config=env_config))
    else:
        trainer = reward_trainer(
            exp,
            source_checkpoint(source, task, algo, seed),
            seed,
            task,
            env_config,
            true_reward=use == "true",
        )
        run_ckpt = None if work_dir is None else Path(work_dir) / f"{run_stem(row, seed)}.pt"
        policy, before, tested = train_and_select(
            trainer, exp, bench, out, task, env_config, ckpt=run_ckpt, resume=resume
        )
        t0 -= before  # a resumed run's time before it stopped
        out["env_steps"] = trainer.env_steps
        if policy is None:  # diverged before its first curve point
            out.update(DIVERGED_RESULT)
        else:
            if work_dir is not None:
                _save_policy(Path(work_dir).parent / "checkpoints", exp, trainer, policy, task, row, seed)
            out.update(
                tested or evaluate_robot(policy, ev.episodes, ev.seed, task=task, env_config=env_config)
            )
    out["wall_s"] = time.perf_counter() - t0
    return out


def _save_policy(ckpt_dir: Path, exp, trainer, policy, task: str, row: str, seed: int) -> None:
    """The new policy (selected), its normaliser and the frozen learned reward (none for the
    true-reward control), as ``mairl eval`` loads."""
    disc = None if isinstance(trainer.disc, TrueReachReward) else trainer.reward_net
    save_policy(
        ckpt_dir / f"{task}_{run_stem(row, seed)}.pt",
        policy,
        disc,
        exp.algo,
        task=task,
        method=trainer.method,
        mode="s" if trainer.cfg.state_only else "s,a",
        seed=seed,
        n_demos=0,
    )


def _job(args: tuple) -> dict[str, Any]:
    *run, work, resume = args
    return run_or_resume(work, run[2], run[3], resume, run_one, *run, work, resume)


def run_transfer(
    exp: RobotExperiment,
    bench: UR5BenchConfig,
    source: str,
    task: str,
    env_config: str | ReachConfig | None,
    rows: list[str],
    workers: int | None = None,
    progress: bool = True,
    seed: int = 0,
    work_dir: Path | None = None,
    resume: bool = False,
) -> list[dict[str, Any]]:
    """``rows`` over seeds ``seed`` ... ``seed + bench.seeds - 1``, each using the source
    run's checkpoints of the same seed; with ``work_dir`` each finished run's record is kept
    there, and ``resume`` skips the runs it holds."""
    for r in rows:
        if r not in ROWS:
            raise ValueError(f"unknown transfer row '{r}' ({', '.join(ROWS)})")
    for r in rows:  # fail before any work if a source checkpoint is missing
        if ROWS[r][0]:
            for s in range(seed, seed + bench.seeds):
                source_checkpoint(source, task, ROWS[r][0], s)
    jobs = [
        (exp, bench, r, s, source, task, env_config, work_dir, resume)
        for s in range(seed, seed + bench.seeds)
        for r in rows
        if not (r == "Expert" and s > seed)
    ]
    jobs.sort(key=lambda j: ROWS[j[2]][1] not in ("reward", "true"))  # slow training runs first
    return run_parallel(
        _job,
        jobs,
        workers=workers,
        progress=progress,
        desc=f"{task} transfer",
        name=lambda j: f"{j[2]} seed {j[3]}",
        postfix=lambda r: f"{r['method']} seed {r['seed']}: success {r['success_rate']:.2f}",
    )


def run_bench(
    exp: RobotExperiment,
    bench: UR5BenchConfig,
    out: str | Path,
    *,
    source: str,
    task: str,
    env_config: str | ReachConfig | None,
    rows: list[str],
    seed: int,
    workers: int | None,
    progress: bool,
    resume: bool = False,
) -> BenchReport:
    """Reward transfer: ``rows`` on the changed robot, then runs.json and the success curves
    in ``out``; each finished run's record is kept in ``out/runs`` (``resume`` skips those)."""

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    bench = dataclasses.replace(bench, methods=rows)
    t0 = time.perf_counter()
    runs = run_transfer(
        exp,
        bench,
        source,
        task,
        env_config,
        rows,
        workers=workers,
        progress=progress,
        seed=seed,
        work_dir=out / "runs",
        resume=resume,
    )
    table_rows = summarise(bench, runs, task=task, robot="changed")
    wall = time.perf_counter() - t0
    write_runs(out, runs)
    plot_curves(
        runs,
        out / "success_curves.png",
        task=task,
        title=f"UR5 {task}, changed robot ({env_config}): new policies on frozen rewards",
    )
    return BenchReport(
        f"ur5-{task}-transfer",
        table_rows,
        format_table(table_rows),
        [out / "success_curves.png"],
        {
            "experiment": dataclasses.asdict(exp),
            "bench": dataclasses.asdict(bench),
            "env_config": env_config,
            "source": str(source),
        },
        wall,
        {
            "evaluation": f"{exp.eval.episodes} test episodes per seed on the changed robot, "
            f"targets from seed {exp.eval.seed}+i; mean action"
        },
    )
