"""GridWorld benchmark: the paper's Table I and Fig. 3.

Expert, GAIL, GAN-GCL, AIRL(s), AIRL(s,a), MAIRL(s), MAIRL(s,a) over several
seeds; each method trains on the same demos of a seed with the same
environment-step budget and is tested on 100 episodes whose start states no
training run saw (test seed = 10_000 + seed). Policies are evaluated as they
act: sampled from pi, like the soft expert that made the demos.
"""

from __future__ import annotations

import dataclasses
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..algos.adversarial import AdversarialTrainer, TrainingDiverged
from ..algos.config import AlgoConfig
from ..config import Count, algo_settings, from_dict, read_experiment_yaml, section
from ..envs.gridworld import (
    GridWorld,
    GridWorldConfig,
    GridWorldVecEnv,
    evaluate_tabular,
    sample_demos,
    soft_value_iteration,
)
from . import BenchReport, run_or_resume, run_parallel, write_runs

METHOD_SPECS: dict[str, tuple[str, bool]] = {
    "GAIL": ("gail", False),
    "GAN-GCL": ("gan-gcl", False),
    "AIRL(s)": ("airl", True),
    "AIRL(s,a)": ("airl", False),
    "AIRL (SAC)(s)": ("airl-sac", True),
    "AIRL (SAC)(s,a)": ("airl-sac", False),
    "MAIRL(s)": ("mairl", True),
    "MAIRL(s,a)": ("mairl", False),
    "MGAIL": ("mgail", False),
}
PAPER_TABLE_I = {
    "Expert": 15.09,
    "GAIL": 14.01,
    "GAN-GCL": 10.90,
    "AIRL(s,a)": 14.06,
    "AIRL(s)": 13.10,
    "MAIRL(s)": 15.02,
    "MAIRL(s,a)": 15.00,
}
TEST_SEED_OFFSET = 10_000


@dataclass
class DemoConfig:
    n_demos: Count = 50


@dataclass
class BenchConfig:
    seeds: Count = 5
    episodes: Count = 100
    methods: list[str] = dataclasses.field(default_factory=lambda: ["Expert", *METHOD_SPECS])


@dataclass
class GridWorldExperiment:
    """Everything ``config/gridworld.yaml`` defines."""

    env: GridWorldConfig
    demos: DemoConfig
    algo: AlgoConfig
    bench: BenchConfig


def load_experiment(path: str | os.PathLike = "gridworld") -> GridWorldExperiment:
    """Read the GridWorld experiment; ``algo`` merges mairl.yaml then the task's overrides."""
    p, data = read_experiment_yaml(path)
    unknown = set(data) - {"env", "demos", "algo", "bench"}
    if unknown:
        from ..config import ConfigError

        raise ConfigError(f"{p}: unknown section(s) {sorted(unknown)}; expected env, demos, algo, bench")
    algo = algo_settings(data, p)
    exp = GridWorldExperiment(
        env=from_dict(GridWorldConfig, section(data, "env", p), f"{p}:env"),
        demos=from_dict(DemoConfig, section(data, "demos", p), f"{p}:demos"),
        algo=from_dict(AlgoConfig, algo, f"{p}:algo"),
        bench=from_dict(BenchConfig, section(data, "bench", p), f"{p}:bench"),
    )
    for m in exp.bench.methods:
        if m != "Expert" and m not in METHOD_SPECS:
            from ..config import ConfigError

            raise ConfigError(f"{p}:bench.methods: unknown method '{m}' (Expert, {', '.join(METHOD_SPECS)})")
    return exp


def policy_table(policy: torch.nn.Module, n_states: int) -> np.ndarray:
    """pi(a|s) for every state as an S x A array."""
    with torch.no_grad():
        return policy(torch.eye(n_states)).exp().numpy().astype(np.float64)


def learned_reward_map(disc: torch.nn.Module, n_states: int, n_actions: int) -> np.ndarray:
    """The learned reward per state: g(s); for (s, a) rewards, the mean over actions."""
    with torch.no_grad():
        s = torch.eye(n_states).repeat_interleave(n_actions, 0)
        a = torch.eye(n_actions).repeat(n_states, 1)
        return disc.reward_map(s, a).reshape(n_states, n_actions).mean(1).numpy().astype(np.float64)


def reward_map_images(exp: GridWorldExperiment, trainer: AdversarialTrainer, scale: int = 24) -> dict:
    """For TensorBoard during training: the true reward map beside the learned one, each
    min-max scaled, as one H x W x 3 uint8 picture ({} for methods without a reward)."""
    from matplotlib import colormaps

    net = getattr(trainer, "reward_net", None)
    if net is None or not hasattr(net, "reward_map"):
        return {}
    n = exp.env.size
    core = GridWorld(exp.env)
    learned = learned_reward_map(net, core.n_states, core.n_actions).reshape(n, n)
    panels = []
    for grid in (np.asarray(exp.env.reward_map, float), learned):
        span = grid.max() - grid.min()
        unit = (grid - grid.min()) / span if span > 1e-12 else np.zeros_like(grid)
        rgb = (colormaps["viridis"](unit)[..., :3] * 255).astype(np.uint8)
        panels.append(np.kron(rgb, np.ones((scale, scale, 1), np.uint8)))
    gap = np.full((n * scale, scale // 2, 3), 255, np.uint8)
    return {"reward/map (true | learned)": np.concatenate([panels[0], gap, panels[1]], 1)}


def pearson(x: np.ndarray, y: np.ndarray) -> float:
    x, y = np.asarray(x, float).ravel(), np.asarray(y, float).ravel()
    if x.std() < 1e-12 or y.std() < 1e-12:
        return 0.0
    return float(np.corrcoef(x, y)[0, 1])


def expert_policy(exp: GridWorldExperiment) -> np.ndarray:
    """The soft-optimal expert pi_E (S x A) on the true reward."""
    return soft_value_iteration(GridWorld(exp.env), exp.env.expert_beta, exp.env.gamma)[1]


def make_trainer(
    exp: GridWorldExperiment, algo: str, state_only: bool, seed: int, overrides: dict[str, Any] | None = None
) -> AdversarialTrainer:
    """A trainer for ``algo`` on GridWorld with this seed's expert demos."""
    demos = sample_demos(exp.env, expert_policy(exp), exp.demos.n_demos, seed=seed)
    cfg = dataclasses.replace(exp.algo, state_only=state_only, **(overrides or {}))
    env = GridWorldVecEnv(exp.env, cfg.n_envs, seed=seed)
    return AdversarialTrainer(algo, cfg, env, env.demos_to_transitions(demos), seed=seed)


def run_one(exp: GridWorldExperiment, method: str, seed: int, env_steps: int | None = None) -> dict[str, Any]:
    """Train one method on one seed; return its test returns and learned reward map."""
    t0 = time.perf_counter()
    core = GridWorld(exp.env)
    test_seed = TEST_SEED_OFFSET + seed
    if method == "Expert":
        ret = evaluate_tabular(exp.env, expert_policy(exp), exp.bench.episodes, test_seed)
        return {
            "method": method,
            "seed": seed,
            "returns": ret.tolist(),
            "reward_map": None,
            "env_steps": 0,
            "wall_s": time.perf_counter() - t0,
            "history": [],
        }
    kind, state_only = METHOD_SPECS[method]
    trainer = make_trainer(exp, kind, state_only, seed)
    try:
        history = trainer.train(env_steps)
    except TrainingDiverged as exc:  # the run is reported (NaN returns), the others still written
        return {
            "method": method,
            "seed": seed,
            "returns": [float("nan")] * exp.bench.episodes,
            "reward_map": None,
            "reward_pearson": float("nan"),
            "env_steps": trainer.env_steps,
            "wall_s": time.perf_counter() - t0,
            "history": [],
            "diverged": str(exc),
        }
    pi = policy_table(trainer.policy, core.n_states)
    ret = evaluate_tabular(exp.env, pi, exp.bench.episodes, test_seed)
    rmap = learned_reward_map(trainer.reward_net, core.n_states, core.n_actions)
    keep = ("env_steps", "env/true_return", "disc/loss", "disc/accuracy", "model/nll")
    return {
        "method": method,
        "seed": seed,
        "returns": ret.tolist(),
        "reward_map": rmap.tolist(),
        "reward_pearson": pearson(rmap, core.rewards),
        "env_steps": trainer.env_steps,
        "wall_s": time.perf_counter() - t0,
        "history": [{k: h[k] for k in keep if k in h} for h in history],
    }


def _run_job(args: tuple) -> dict[str, Any]:
    exp, method, seed, work, resume = args
    return run_or_resume(work, method, seed, resume, run_one, exp, method, seed)


def run_benchmark(
    exp: GridWorldExperiment,
    seed: int = 0,
    workers: int | None = None,
    progress: bool = True,
    work_dir: Path | None = None,
    resume: bool = False,
) -> list[dict[str, Any]]:
    """Every (method, seed) run, in parallel over ``workers`` processes; with ``work_dir``
    each finished run's record is kept there, and ``resume`` skips the runs it holds."""
    jobs = [(exp, m, seed + i, work_dir, resume) for i in range(exp.bench.seeds) for m in exp.bench.methods]
    return run_parallel(
        _run_job,
        jobs,
        workers=workers,
        progress=progress,
        desc="gridworld",
        name=lambda j: f"{j[1]} seed {j[2]}",
        postfix=lambda r: f"{r['method']} seed {r['seed']}",
    )


def summarise(exp: GridWorldExperiment, runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One results.json row per method: mean/std of per-episode returns over all seeds."""
    rows = []
    expert = (
        np.concatenate([r["returns"] for r in runs if r["method"] == "Expert"])
        if any(r["method"] == "Expert" for r in runs)
        else None
    )
    for m in exp.bench.methods:
        rs = [r for r in runs if r["method"] == m]
        if not rs:
            continue
        ret = np.concatenate([r["returns"] for r in rs])
        per_seed = [float(np.mean(r["returns"])) for r in rs]
        row: dict[str, Any] = {
            "method": m.rsplit("(", 1)[0].strip() if m.endswith(")") else m,
            "mode": (m[m.rindex("(") + 1 : -1] if m.endswith(")") else ("" if m == "Expert" else "s,a")),
            "label": m,
            "env": "GridWorld",
            "return_mean": float(ret.mean()),
            "return_std": float(ret.std()),
            "return_seed_means": per_seed,
            "episodes": len(rs[0]["returns"]),
            "seeds": len(rs),
            "env_steps": int(np.mean([r["env_steps"] for r in rs])),
            "wall_s": float(np.mean([r["wall_s"] for r in rs])),
            "paper_return": PAPER_TABLE_I.get(m),
            "diverged_seeds": [r["seed"] for r in rs if r.get("diverged")],
        }
        if expert is not None:
            row["expert_normalized"] = float(ret.mean() / expert.mean())
            row["expert_normalized_seeds"] = [
                float(np.mean(r["returns"]) / np.mean(e["returns"]))
                for r in rs
                for e in runs
                if e["method"] == "Expert" and e["seed"] == r["seed"]
            ]
            if m in PAPER_TABLE_I:
                row["paper_expert_normalized"] = PAPER_TABLE_I[m] / PAPER_TABLE_I["Expert"]
        live = [r for r in rs if r["history"]]  # a diverged run has no history
        if expert is not None and live:
            row["env_steps_to_90pct"] = steps_to_fraction(live, 0.9 * float(expert.mean()))
        if any(r.get("reward_map") is not None for r in rs):
            ps = [r["reward_pearson"] for r in rs]
            row["reward_pearson"] = float(np.mean(ps))
            row["reward_pearson_seeds"] = ps
        rows.append(row)
    return rows


def steps_to_fraction(runs: list[dict[str, Any]], target: float) -> int | None:
    """First env-step count at which the seed-mean return of training episodes reaches ``target``."""
    n = min(len(r["history"]) for r in runs)
    curve = np.mean([[h["env/true_return"] for h in r["history"][:n]] for r in runs], 0)
    hit = np.nonzero(curve >= target)[0]
    return int(runs[0]["history"][hit[0]]["env_steps"]) if hit.size else None


def format_table(rows: list[dict[str, Any]]) -> str:
    head = (
        f"{'method':<15} {'return':>14} {'expert-norm':>11} {'paper':>7} {'reward r':>9} "
        f"{'env steps':>10} {'to 0.9 expert':>13}"
    )
    lines = [head, "-" * len(head)]
    for r in rows:
        pn = r.get("paper_expert_normalized")
        rho = r.get("reward_pearson")
        lines.append(
            f"{r['label']:<15} {r['return_mean']:7.2f} ± {r['return_std']:4.2f} "
            f"{r.get('expert_normalized', float('nan')):11.3f} "
            f"{(f'{pn:.3f}' if pn is not None else '-'):>7} "
            f"{(f'{rho:.3f}' if rho is not None else '-'):>9} "
            f"{r['env_steps']:>10d} {str(r.get('env_steps_to_90pct') or '-'):>13}"
            + (f"  diverged: seeds {r['diverged_seeds']}" if r.get("diverged_seeds") else "")
        )
    return "\n".join(lines)


def plot_reward_maps(exp: GridWorldExperiment, runs: list[dict[str, Any]], path: Path) -> None:
    """Fig. 3: the true reward beside each method's learned reward (first seed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = exp.env.size
    first = min(r["seed"] for r in runs)
    panels = [("Ground truth", np.asarray(exp.env.reward_map, float), None)]
    for m in exp.bench.methods:
        r = next((r for r in runs if r["method"] == m and r["seed"] == first), None)
        if r is not None and r.get("reward_map") is not None:
            panels.append((m, np.asarray(r["reward_map"]).reshape(n, n), r["reward_pearson"]))
    fig, axes = plt.subplots(1, len(panels), figsize=(2.6 * len(panels), 2.9))
    for ax, (title, grid, rho) in zip(np.atleast_1d(axes), panels):
        ax.imshow(grid, cmap="viridis")
        ax.set_title(title if rho is None else f"{title}\nPearson {rho:.2f}", fontsize=9)
        ax.set_xticks([]), ax.set_yticks([])
    fig.suptitle(f"GridWorld reward maps (seed {first}; learned maps min-max scaled per panel)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_learning_curves(exp: GridWorldExperiment, runs: list[dict[str, Any]], path: Path) -> None:
    """True return of the collected episodes against env steps, mean over seeds."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for m in exp.bench.methods:
        rs = [r for r in runs if r["method"] == m and r["history"]]
        if not rs:
            continue
        n = min(len(r["history"]) for r in rs)
        x = [h["env_steps"] for h in rs[0]["history"][:n]]
        y = np.mean([[h["env/true_return"] for h in r["history"][:n]] for r in rs], 0)
        ax.plot(x, y, label=m)
    expert = [np.mean(r["returns"]) for r in runs if r["method"] == "Expert"]
    if expert:
        ax.axhline(np.mean(expert), color="k", ls="--", lw=1, label="Expert")
    ax.set_xlabel("environment steps")
    ax.set_ylabel("return of training episodes")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def quick_experiment(exp: GridWorldExperiment) -> GridWorldExperiment:
    """A smoke-test config (``--quick``): figures from it are labelled quick, never quoted."""
    return dataclasses.replace(
        exp,
        bench=dataclasses.replace(exp.bench, seeds=2, episodes=20),
        algo=dataclasses.replace(exp.algo, env_steps=min(exp.algo.env_steps, 3200)),
    )


def run_bench(
    exp: GridWorldExperiment,
    out: str | os.PathLike,
    *,
    seed: int,
    workers: int | None,
    progress: bool,
    resume: bool = False,
) -> BenchReport:
    """Table I + Fig. 3: every method and seed (each run's record kept in ``out/runs`` as it
    finishes; ``resume`` skips those), then runs.json, the reward maps and the learning
    curves in ``out``."""

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    runs = run_benchmark(
        exp, seed=seed, workers=workers, progress=progress, work_dir=out / "runs", resume=resume
    )
    rows = summarise(exp, runs)
    wall = time.perf_counter() - t0
    write_runs(out, runs)
    plot_reward_maps(exp, runs, out / "reward_maps.png")
    plot_learning_curves(exp, runs, out / "learning_curves.png")
    return BenchReport(
        "gridworld",
        rows,
        format_table(rows),
        [out / "reward_maps.png", out / "learning_curves.png"],
        dataclasses.asdict(exp),
        wall,
        {
            "base_seed": seed,
            "evaluation": "100 test episodes per seed from start states no training run "
            "saw (seed 10000+s); actions sampled from the policy",
        },
    )
