"""``mairl bench mujoco``: Table II (HalfCheetah-v5, Ant-v5) from 50 expert demos.

Every method trains on the same demos (``bench/demos/ENV.npz``, ``mairl expert demos``)
for the same env-step budget; BC uses no env steps. Every ``eval_every`` iterations the
deterministic policy is evaluated on ``curve_episodes`` training-seed episodes (the
learning curve); at the end the last policy and the selected one (the best curve point,
``SELECTION_RULE``) are tested on ``test_episodes`` held-out episodes (reset seeds
100000+). Returns are the tasks' true returns; rows also give them expert-normalised.

With a work directory each run writes its record there when it ends (``RUN.json``) and a
checkpoint every ``checkpoint_every`` iterations (``RUN.pt``: the trainer's whole state, its
curve so far and the selected policy); ``resume`` skips finished runs and continues the
others from their checkpoints, exactly as if never stopped.
"""

from __future__ import annotations

import copy
import dataclasses
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..algos.adversarial import AdversarialTrainer, TrainingDiverged
from ..algos.config import AlgoConfig
from ..algos.transitions import Transitions
from ..config import (
    ConfigError,
    Count,
    NonNegative,
    algo_settings,
    from_dict,
    read_experiment_yaml,
    section,
    with_overrides,
)
from ..envs.locomotion import LocomotionVecEnv, evaluate_locomotion
from ..experts import DEMO_DIR, ExpertError, load_demos
from . import (
    BenchReport,
    check_row_settings,
    finished_run,
    load_run,
    report_steps,
    row_overrides,
    run_parallel,
    run_stem,
    save_finished,
    save_run,
    train_diagnostics,
    write_runs,
)

SELECTION_RULE = (
    "the policy with the highest mean return over the curve evaluations "
    "(training-seed episodes); ties go to the later one"
)
TEST_SEED, CURVE_SEED = 100_000, 5_000

#: row name -> (trainer method or 'bc', AlgoConfig overrides); every row sets its reward's
#: input, as AlgoConfig's default (state_only=True, the GridWorld's (s)) is not Table II's
METHOD_SPECS: dict[str, tuple[str, dict[str, Any]]] = {
    "MAIRL (s,a)": ("mairl", {"dynamics": "attention", "state_only": False}),
    "MAIRL (s,a) GRU": ("mairl", {"dynamics": "gru", "state_only": False}),
    "MAIRL (s,a) MLP": ("mairl", {"dynamics": "mlp", "state_only": False}),
    "AIRL (SAC)": ("airl-sac", {"state_only": False}),
    "AIRL (s,a)": ("airl", {"state_only": False}),
    "AIRL (s)": ("airl", {"state_only": True}),
    "GAIL": ("gail", {"state_only": False}),
    "GAN-GCL": ("gan-gcl", {"state_only": False}),
    "MGAIL": ("mgail", {"state_only": False}),
    "BC": ("bc", {}),
}


@dataclass
class MujocoBenchSettings:
    """The ``bench`` section of ``config/mujoco_train.yaml``."""

    n_demos: Count = 50
    bc_steps: NonNegative = 20_000
    seeds: Count = 3
    methods: list[str] = field(default_factory=lambda: list(METHOD_SPECS))
    eval_every: Count = 10
    curve_episodes: Count = 3
    test_episodes: Count = 10
    horizon: Count = 1000
    reset_turned_over: bool = False
    """Reset a training env whose torso turns over (Ant on its back) and go on with the
    episode (``envs.locomotion``); Ant-v5 only."""
    checkpoint_every: Count = 25
    """Iterations between a run's checkpoints (with a work directory: ``--resume``)."""
    algo_by_method: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Row name -> changes to ``algo`` for that row only (e.g. the discriminator's schedule of
    the off-policy rows)."""


@dataclass
class MujocoBenchConfig(MujocoBenchSettings):
    algo: AlgoConfig = field(default_factory=AlgoConfig)
    demo_dir: Path = field(default_factory=lambda: DEMO_DIR)
    demos: Path | None = None
    """A user's demos file (``experts._user_demos``) instead of ``demo_dir/ENV.npz``."""


def trainer_overrides(cfg: MujocoBenchConfig, algo_name: str, state_only: bool) -> dict[str, Any]:
    """``bench.algo_by_method``'s changes for ``algo_name`` run by `mairl train --task mujoco`."""
    return row_overrides(
        cfg.algo_by_method,
        lambda row: (METHOD_SPECS[row][0], METHOD_SPECS[row][1].get("state_only")),
        algo_name,
        state_only,
    )


def demo_path(cfg: MujocoBenchConfig, env_id: str) -> Path:
    return Path(cfg.demos) if cfg.demos is not None else Path(cfg.demo_dir) / f"{env_id}.npz"


#: The from-scratch config ``mairl train --task mujoco --env ID`` reads when none is given; any
#: other env reads ``mujoco_scratch`` (HalfCheetah's; bench/RESULTS.md, rung 2).
SCRATCH_CONFIGS = {"Ant-v5": "mujoco_scratch_ant"}


def load_bench(path: str = "mujoco_train") -> MujocoBenchConfig:
    """``config/mujoco_train.yaml``: ``algo`` (overrides of mairl.yaml) and ``bench``; a file
    may name another as its ``base`` and override it (config/mujoco_scratch.yaml)."""
    p, data = read_experiment_yaml(path)
    unknown = set(data) - {"algo", "bench"}
    if unknown:
        raise ConfigError(f"{p}: unknown section(s) {sorted(unknown)}; expected algo, bench")
    algo = from_dict(AlgoConfig, algo_settings(data, p), f"{p}:algo")
    bench = from_dict(MujocoBenchSettings, section(data, "bench", p), f"{p}:bench")
    cfg = MujocoBenchConfig(algo=algo, **dataclasses.asdict(bench))
    unknown = [m for m in [*cfg.methods, *cfg.algo_by_method] if m not in METHOD_SPECS]
    if unknown:
        raise ValueError(f"unknown methods {unknown} ({', '.join(METHOD_SPECS)})")
    check_row_settings(cfg.algo, cfg.algo_by_method, p)
    return cfg


def expert_transitions(
    env_id: str, cfg: MujocoBenchConfig, whole_episodes: bool = False
) -> tuple[Transitions, float | None]:
    """The first ``n_demos`` demos as Transitions in pieces of ``horizon`` steps (the agent's
    episode length; trajectory-level discriminators compare whole pieces), or as one flat
    sequence when an episode's length is not a multiple of it (an expert that fell); and
    the demos' mean return (always over all ``n_demos``: the normaliser; None when the file
    has no returns).

    ``whole_episodes``: only the demos whose length is a multiple of ``horizon``, in pieces
    (GAN-GCL's trajectory-level discriminator compares whole episodes of the agent's length;
    on Ant, 45 of the 50 demos last 1000 steps, the expert fell in 5)."""
    path = demo_path(cfg, env_id)
    demos = load_demos(path, env_id)
    if len(demos.act) < cfg.n_demos:
        raise ExpertError(f"{path}: {len(demos.act)} demos, {cfg.n_demos} asked for")
    n = cfg.n_demos
    keep = [i for i in range(n) if len(demos.act[i]) % cfg.horizon == 0 or not whole_episodes]
    if not keep:
        raise ExpertError(
            f"{path}: none of the first {n} demos is a whole number of {cfg.horizon}-step pieces"
        )
    t = {k: torch.as_tensor(v) for k, v in demos.transitions(episodes=keep).items()}
    steps = len(t["act"])
    pieces = all(len(demos.act[i]) % cfg.horizon == 0 for i in keep)
    shape = (steps // cfg.horizon, cfg.horizon) if pieces else (1, steps)
    tr = Transitions(
        t["obs"].reshape(*shape, -1),
        t["act"].reshape(*shape, -1),
        t["next_obs"].reshape(*shape, -1),
        torch.zeros(shape),
    )
    return tr, None if demos.returns is None else float(np.mean(demos.returns[:n]))


def _bc(cfg: MujocoBenchConfig, env: LocomotionVecEnv, expert: Transitions, seed: int):
    algo = dataclasses.replace(cfg.algo, bc_init_steps=0)
    trainer = AdversarialTrainer("mairl", algo, env, expert, seed=seed)
    trainer.behaviour_clone(cfg.bc_steps)
    return trainer.deployable_policy()


def run_one(
    cfg: MujocoBenchConfig,
    env_id: str,
    method: str,
    seed: int,
    work_dir: str | None = None,
    resume: bool = False,
) -> dict[str, Any]:
    """One row's run; with ``work_dir``, its record is written there when it ends and its
    checkpoints as it goes, and ``resume`` continues a stopped one (the module docstring)."""
    work = None if work_dir is None else Path(work_dir)
    if (rec := finished_run(work, method, seed, resume)) is not None:
        return rec
    t0, wall0 = time.perf_counter(), 0.0
    algo_name, overrides = METHOD_SPECS[method]
    expert, expert_return = expert_transitions(env_id, cfg, whole_episodes=algo_name == "gan-gcl")
    env = LocomotionVecEnv(
        env_id, cfg.algo.n_envs, seed=seed, horizon=cfg.horizon, reset_turned_over=cfg.reset_turned_over
    )
    out: dict[str, Any] = {
        "method": method,
        "env": env_id,
        "seed": seed,
        "curve": [],
        "env_steps": 0,
        "expert_return": expert_return,
        "demo_steps": int(expert.act.shape[0] * expert.act.shape[1]),
    }
    if algo_name == "bc":
        policy = _bc(cfg, env, expert, seed)
        final = evaluate_locomotion(policy, env_id, cfg.test_episodes, TEST_SEED)
        out.update(
            return_mean=final["return_mean"],
            return_std=final["return_std"],
            final_return_mean=final["return_mean"],
        )
    else:
        algo = with_overrides(
            cfg.algo, {**overrides, **cfg.algo_by_method.get(method, {})}, f"algo_by_method.{method}"
        )
        trainer = AdversarialTrainer(algo_name, algo, env, expert, seed=seed)
        best: dict[str, Any] = {}
        ckpt = None if work is None else work / f"{run_stem(method, seed)}.pt"
        if resume and ckpt is not None and ckpt.is_file():
            out, best = load_run(ckpt, trainer)
        wall0 = out.get("wall_s", 0.0)  # a resumed run's time before it stopped
        reported = [trainer.env_steps]
        counted = [0]  # env.resets at the last curve point (turned-over resets since then)
        report_steps(trainer.env_steps)

        def cb(tr, m):
            report_steps(tr.env_steps - reported[0])
            reported[0] = tr.env_steps
            if tr.iteration % cfg.eval_every == 0:
                r = evaluate_locomotion(tr.deployable_policy(), env_id, cfg.curve_episodes, CURVE_SEED)
                out["curve"].append(
                    {
                        "env_steps": tr.env_steps,
                        "return": r["return_mean"],
                        "train_return": m.get("env/true_return"),
                        **({"turned_over": env.resets - counted[0]} if cfg.reset_turned_over else {}),
                        # the learner's state at this point (D's accuracy and loss, the
                        # critic's loss, alpha, the model's fit): what a dip is read from
                        "train": train_diagnostics(m),
                    }
                )
                counted[0] = env.resets
                if not best or r["return_mean"] >= best["ret"]:  # SELECTION_RULE
                    best.update(
                        ret=r["return_mean"],
                        env_steps=tr.env_steps,
                        policy=copy.deepcopy(tr.deployable_policy()),
                    )
            if (
                ckpt is not None
                and tr.iteration % cfg.checkpoint_every == 0
                and tr.env_steps < tr.cfg.env_steps
            ):
                out["wall_s"] = wall0 + time.perf_counter() - t0
                save_run(ckpt, tr, out, best)

        try:
            trainer.train(callback=cb)
            final = evaluate_locomotion(trainer.deployable_policy(), env_id, cfg.test_episodes, TEST_SEED)
        except TrainingDiverged as exc:  # keep the run (and the others): its curve so far, its
            out["diverged"] = str(exc)  # best policy before it broke; the last policy is NaN
            final = {"return_mean": float("nan"), "return_std": float("nan")}
        if best and ("diverged" in out or best["env_steps"] != trainer.env_steps):
            sel = evaluate_locomotion(best["policy"], env_id, cfg.test_episodes, TEST_SEED)
        else:  # the selected policy is the last one: the same deterministic episodes
            sel = final
        out.update(
            return_mean=sel["return_mean"],
            return_std=sel["return_std"],
            final_return_mean=final["return_mean"],
            env_steps=trainer.env_steps,
            selected_at_env_steps=best.get("env_steps", trainer.env_steps),
        )
    out["wall_s"] = wall0 + time.perf_counter() - t0
    save_finished(work, out)  # drops the run's checkpoint: the record holds it all
    return out


def expert_run(cfg: MujocoBenchConfig, env_id: str) -> dict[str, Any] | None:
    """The demonstrator itself on the table's held-out episodes (its row shows how close to
    1.0 the expert gets on them), from ``experts/ENV`` beside the demo directory; None
    when that directory is missing."""
    from ..experts import evaluate_actor, load_expert

    path = Path(cfg.demo_dir).parent / "experts" / env_id
    if not path.is_dir():
        return None
    t0 = time.perf_counter()
    _, expert_return = expert_transitions(env_id, cfg)
    actor, _ = load_expert(path, env_id)
    rets = evaluate_actor(actor, env_id, cfg.test_episodes, TEST_SEED)
    return {
        "method": "Expert",
        "env": env_id,
        "seed": 0,
        "curve": [],
        "env_steps": 0,
        "expert_return": expert_return,
        "return_mean": float(np.mean(rets)),
        "return_std": float(np.std(rets)),
        "final_return_mean": float(np.mean(rets)),
        "demo_steps": 0,
        "expert_dir": str(path),
        "wall_s": time.perf_counter() - t0,
    }


def _job(args):
    return run_one(*args)


def run_benchmark(
    cfg: MujocoBenchConfig,
    env_id: str,
    workers: int | None = None,
    progress: bool = True,
    seed: int = 0,
    work_dir: str | Path | None = None,
    resume: bool = False,
) -> list[dict[str, Any]]:
    expert_transitions(env_id, cfg)  # fail before any work if the demos are missing or short
    work = None if work_dir is None else str(work_dir)
    jobs = [(cfg, env_id, m, s, work, resume) for s in range(seed, seed + cfg.seeds) for m in cfg.methods]
    jobs.sort(key=lambda j: METHOD_SPECS[j[2]][0] == "bc")  # the long runs first
    budget = sum(cfg.algo.env_steps for j in jobs if METHOD_SPECS[j[2]][0] != "bc")
    return run_parallel(
        _job,
        jobs,
        workers=workers,
        progress=progress,
        desc=env_id,
        postfix=lambda r: f"{r['method']} seed {r['seed']}: {r['return_mean']:.0f}",
        name=lambda j: f"{j[2]} seed {j[3]}",
        env_steps=budget,
    )


def steps_to(curve: list[dict[str, Any]], level: float) -> int | None:
    """Env steps at the first curve point with return >= ``level`` (None: never)."""
    return next((p["env_steps"] for p in curve if p["return"] >= level), None)


def summarise(cfg: MujocoBenchConfig, runs: list[dict[str, Any]], env_id: str) -> list[dict[str, Any]]:
    rows = []
    for m in ["Expert", *cfg.methods]:
        rs = sorted((r for r in runs if r["method"] == m), key=lambda r: r["seed"])
        if not rs:
            continue
        exp_ret = rs[0]["expert_return"]
        rets = [r["return_mean"] for r in rs]
        finals = [r["final_return_mean"] for r in rs]
        to90 = [None if exp_ret is None else steps_to(r["curve"], 0.9 * exp_ret) for r in rs]
        norm = (lambda x: None) if exp_ret is None else (lambda x: x / exp_ret)  # noqa: B023, E731
        rows.append(
            {
                "method": m,
                "env": env_id,
                "seeds": len(rs),
                "env_steps": int(rs[0]["env_steps"]),
                "return_mean": float(np.mean(rets)),
                "return_std": float(np.std(rets)),
                "return_seeds": rets,
                "expert_return": exp_ret,
                "normalised_return": norm(float(np.mean(rets))),
                "final_return_mean": float(np.mean(finals)),
                "final_normalised_return": norm(float(np.mean(finals))),
                "env_steps_to_0.9_expert": to90,
                "demo_steps": rs[0].get("demo_steps"),
                "wall_s": float(np.mean([r["wall_s"] for r in rs])),
                "env_steps_per_s": float(
                    np.mean([r["env_steps"] / r["wall_s"] if r["wall_s"] else 0.0 for r in rs])
                ),
                "diverged_seeds": [r["seed"] for r in rs if r.get("diverged")],
            }
        )
    return rows


def format_table(rows: list[dict[str, Any]]) -> str:
    w = max(8, *(len(r["method"]) for r in rows))
    head = (
        f"{'method':<{w}} {'return':>14} {'normalised':>10} {'last policy':>11} "
        f"{'to 0.9 expert (per seed)':<28} {'env steps':>9} {'steps/s':>7}"
    )
    lines = [head, "-" * len(head)]
    for r in rows:
        to90 = ", ".join("-" if s is None else f"{s // 1000}k" for s in r["env_steps_to_0.9_expert"])
        nr, fr = (
            float("nan") if v is None else v for v in (r["normalised_return"], r["final_normalised_return"])
        )
        lines.append(
            f"{r['method']:<{w}} {r['return_mean']:>8.0f} ± {r['return_std']:<4.0f} "
            f"{nr:>10.2f} {fr:>11.2f} "
            f"{to90:<28} {r['env_steps']:>9} {r.get('env_steps_per_s', 0.0):>7.0f}"
            + (f"  diverged: seeds {r['diverged_seeds']}" if r.get("diverged_seeds") else "")
        )
    return "\n".join(lines)


def plot_curves(runs: list[dict[str, Any]], path: Path, env_id: str) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    methods = list(dict.fromkeys(r["method"] for r in runs))
    expert = (runs[0]["expert_return"] if runs else None) or 1.0  # no returns: raw returns
    for m in methods:
        curves = [r["curve"] for r in runs if r["method"] == m and r["curve"]]
        if not curves:
            if m != "Expert":  # the expert is the dashed line at 1
                bc = [r["return_mean"] for r in runs if r["method"] == m]
                ax.axhline(np.mean(bc) / expert, ls="-.", color="grey", label=f"{m} (test)")
            continue
        n = min(len(c) for c in curves)
        x = np.array([p["env_steps"] for p in curves[0][:n]])
        y = np.array([[p["return"] / expert for p in c[:n]] for c in curves])
        (line,) = ax.plot(x, y.mean(0), label=m)
        ax.fill_between(x, y.min(0), y.max(0), color=line.get_color(), alpha=0.15)
    ax.axhline(1.0, ls="--", color="black", label="expert")
    ax.axhline(0.9, ls=":", color="black", lw=0.8, label="0.9 × expert")
    ax.set(
        xlabel="environment steps",
        ylabel="return / expert return (training-seed episodes)",
        title=f"{env_id}: learning curves (band = min-max over seeds)",
    )
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def quick_config(cfg: MujocoBenchSettings) -> MujocoBenchSettings:
    """A smoke-test config (``--quick``): figures from it are labelled quick, never quoted."""
    return dataclasses.replace(
        cfg,
        seeds=1,
        n_demos=2,
        bc_steps=20,
        eval_every=2,  # one curve point, at the end: its evaluation is most of a quick run
        curve_episodes=1,
        test_episodes=1,
        horizon=100,
        algo=dataclasses.replace(
            cfg.algo,
            env_steps=200,
            model_steps=2,
            policy_steps=2,
            disc_steps=2,
            rollout_batch=16,
            batch_size=64,
            ppo_epochs=1,
            disc_warmup_iters=0,
            bc_init_steps=min(cfg.algo.bc_init_steps, 20),
        ),
    )


def run_bench(
    cfg: MujocoBenchSettings,
    env_id: str,
    out: str | Path,
    *,
    seed: int,
    workers: int | None,
    progress: bool,
    resume: bool,
    peer: str | None = None,
) -> BenchReport:
    """Table II on ``env_id``: our rows (run records and checkpoints in ``out/runs``), the
    expert on the same held-out episodes and, with ``peer="imitation"``, imitation's GAIL and
    AIRL from their own venv; then runs.json and the learning curves in ``out``. Peer rows
    that fail leave ours written and the report's ``error`` set."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    runs = (
        run_benchmark(
            cfg, env_id, workers=workers, progress=progress, seed=seed, work_dir=out / "runs", resume=resume
        )
        if cfg.methods
        else []
    )
    expert = expert_run(cfg, env_id)  # the demonstrator on the same held-out episodes
    runs = ([expert] if expert else []) + runs
    write_runs(out, runs)  # kept if the peers fail
    error = None
    if peer == "imitation":  # the same demos, budget, seeds and evaluation seeds
        from . import peer as peers

        try:
            runs += peers.run_peers(
                env_id,
                demo_path(cfg, env_id),
                cfg.n_demos,
                cfg.algo.env_steps,
                list(range(seed, seed + cfg.seeds)),
                out / "peer",
                workers,
                cfg.curve_episodes,
                cfg.test_episodes,
                CURVE_SEED,
                TEST_SEED,
            )
            cfg = dataclasses.replace(cfg, methods=[*cfg.methods, *peers.PEERS])
        except peers.PeerError as exc:  # our rows are still written
            error = f"the imitation peer rows are missing: {exc}"
    rows = summarise(cfg, runs, env_id)
    wall = time.perf_counter() - t0
    write_runs(out, runs)
    plot = plot_curves(runs, out / "learning_curves.png", env_id)
    return BenchReport(
        f"mujoco-{env_id}",
        rows,
        format_table(rows),
        [plot],
        dataclasses.asdict(cfg),
        wall,
        {
            "base_seed": seed,
            "evaluation": f"{cfg.test_episodes} held-out episodes per seed (reset seeds "
            f"{TEST_SEED}+), deterministic policy; selection: {SELECTION_RULE}"
            + ("; imitation rows on the v4 envs" if peer else ""),
        },
        error,
    )
