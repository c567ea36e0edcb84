"""``mairl bench dynamics``: the self-attention dynamics model against the GRU and MLP models.

The three models (``mairl_core.models.dynamics``, the same classes and sizes MAIRL trains)
are fitted by maximum likelihood (eq. 15) to the same transitions, in the same normalised
coordinates MAIRL uses (observations by the demos' mean and std, actions by their std), for
the same number of Adam steps. Data per env: expert episodes (HalfCheetah, Ant: the
committed demos of ``mairl expert demos``; UR5 reach: scripted-operator demos), the first
80 % of episodes for training, the rest held out. Reported per model, env and seed:

- one-step and open-loop k-step error on the held-out episodes: from every start state the
  model is rolled forward on the recorded actions, its own predictions fed back, and the
  squared error to the recorded state k steps later is averaged over the normalised state
  dimensions (so 1.0 is an error the size of the data's spread), k = 1, 5, 10, 25;
- the cost: parameters and training wall time.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..algos.normalize import ObsNorm
from ..experts import DEMO_DIR
from ..models.dynamics import make_dynamics
from ..models.nets import adam
from . import BenchReport, run_parallel, write_runs

MODELS = ("attention", "gru", "mlp")
HORIZONS = (1, 5, 10, 25)
ENVS = ("HalfCheetah-v5", "Ant-v5", "UR5Reach-v0")


@dataclass
class DynamicsBenchConfig:
    envs: tuple[str, ...] = ENVS
    models: tuple[str, ...] = MODELS
    seeds: int = 3
    steps: int = 5000
    batch_size: int = 512
    lr: float = 1e-3
    d_model: int = 64
    n_heads: int = 4
    embed_hidden: int = 32
    gated_decoder: bool = True
    attention_blocks: int = 2
    """The attention model's Transformer-decoder blocks (models/dynamics.py; 0: eq. 13's single
    attention, the table of 2026-11-25)."""
    horizons: tuple[int, ...] = HORIZONS
    holdout_frac: float = 0.2
    max_starts: int = 2000
    """Held-out start states per horizon (evenly spaced), to bound the evaluation's cost."""
    episodes: int | None = None
    """Use only the first N episodes of each env's data (None: all)."""
    demo_dir: Path = field(default_factory=lambda: DEMO_DIR)


def load_episodes(
    env: str, cfg: DynamicsBenchConfig, work: Path
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Per-episode observations (T+1, d) and actions (T, k) of ``env``'s expert data."""
    if env == "UR5Reach-v0":
        from ..data.operator import generate_demos
        from ..robot import load_robot_demos

        d = work / "reach_demos"
        if not d.is_dir() or not any(d.iterdir()):
            generate_demos(d, cfg.episodes or 50, seed=0, task="reach", progress=False)
        t = load_robot_demos(d, cfg.episodes, task="reach")
        obs = [torch.cat([o, n[-1:]]).numpy() for o, n in zip(t.obs, t.next_obs)]
        return obs, [a.numpy() for a in t.act]
    from ..experts import load_demos

    path = cfg.demo_dir / f"{env}.npz"
    demos = load_demos(path, env)
    n = len(demos.act) if cfg.episodes is None else cfg.episodes
    return demos.obs[:n], demos.act[:n]


def open_loop_errors(model, norm: ObsNorm, obs_eps, act_eps, horizons, max_starts: int) -> dict[int, float]:
    """Mean squared k-step error (normalised state units, averaged over dimensions)."""
    out = {}
    with torch.no_grad():
        for k in horizons:
            starts, acts, targets = [], [], []
            for o, a in zip(obs_eps, act_eps):
                for t in range(len(a) - k + 1):
                    starts.append(o[t]), acts.append(a[t : t + k]), targets.append(o[t + k])
            if not starts:
                continue
            idx = np.linspace(0, len(starts) - 1, min(max_starts, len(starts))).astype(int)
            s = norm(torch.as_tensor(np.array(starts)[idx], dtype=torch.float32))
            a = torch.as_tensor(np.array(acts)[idx], dtype=torch.float32) / norm.act_scale
            target = norm(torch.as_tensor(np.array(targets)[idx], dtype=torch.float32))
            for j in range(k):
                s = model.predict(s, a[:, j])
            out[k] = float((s - target).pow(2).mean())
    return out


def run_one(cfg: DynamicsBenchConfig, env: str, model_kind: str, seed: int, work: Path) -> dict[str, Any]:
    obs_eps, act_eps = load_episodes(env, cfg, work)
    n_hold = max(1, int(round(cfg.holdout_frac * len(act_eps))))
    tr_o, tr_a, ho_o, ho_a = obs_eps[:-n_hold], act_eps[:-n_hold], obs_eps[-n_hold:], act_eps[-n_hold:]
    o = torch.as_tensor(np.concatenate([x[:-1] for x in tr_o]), dtype=torch.float32)
    nx = torch.as_tensor(np.concatenate([x[1:] for x in tr_o]), dtype=torch.float32)
    a = torch.as_tensor(np.concatenate(tr_a), dtype=torch.float32)
    norm = ObsNorm.fit(o, a, 0.05, 1e-3)
    on, nn_, an = norm(o), norm(nx), a / norm.act_scale
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    model = make_dynamics(
        model_kind,
        o.shape[1],
        a.shape[1],
        d_model=cfg.d_model,
        n_heads=cfg.n_heads,
        embed_hidden=cfg.embed_hidden,
        gated_decoder=cfg.gated_decoder,
        attention_blocks=cfg.attention_blocks,
    )
    model.set_delta_scale((nn_ - on).std(0).clamp_min(1e-3))
    opt = adam(model.parameters(), cfg.lr)
    t0 = time.perf_counter()
    for _ in range(cfg.steps):
        i = torch.randint(0, len(on), (cfg.batch_size,), generator=gen)
        loss = model.nll(on[i], an[i], nn_[i])
        opt.zero_grad()
        loss.backward()
        opt.step()
    train_s = time.perf_counter() - t0
    errs = open_loop_errors(model, norm, ho_o, ho_a, cfg.horizons, cfg.max_starts)
    return {
        "env": env,
        "model": model_kind,
        "seed": seed,
        "train_s": train_s,
        "params": sum(p.numel() for p in model.parameters()),
        "train_transitions": len(on),
        "holdout_episodes": n_hold,
        "final_nll": float(loss.detach()),
        "errors": {str(k): v for k, v in errs.items()},
    }


def _job(args):
    return run_one(*args)


def run_benchmark(
    cfg: DynamicsBenchConfig, work: Path, workers: int | None = None, progress: bool = True
) -> list[dict[str, Any]]:
    work.mkdir(parents=True, exist_ok=True)
    for env in cfg.envs:  # fail before any work if data is missing (reach demos are made here)
        if env not in ENVS:
            raise ValueError(f"unknown env {env!r} ({', '.join(ENVS)})")
        if env != "UR5Reach-v0":
            path = cfg.demo_dir / f"{env}.npz"
            if not path.is_file():
                raise FileNotFoundError(
                    f"{path} does not exist: run `mairl expert demos --env "
                    f"{env} ...` (bench/RESULTS.md has the commands)"
                )
    if "UR5Reach-v0" in cfg.envs:
        load_episodes("UR5Reach-v0", cfg, work)  # generate once, before the workers start
    jobs = [(cfg, env, m, s, work) for env in cfg.envs for m in cfg.models for s in range(cfg.seeds)]
    return run_parallel(
        _job,
        jobs,
        workers=workers,
        progress=progress,
        desc="dynamics",
        unit="fit",
        name=lambda j: f"{j[1]} {j[2]} seed {j[3]}",
        postfix=lambda r: f"{r['env']} {r['model']}: 10-step {r['errors'].get('10', float('nan')):.3g}",
    )


def summarise(cfg: DynamicsBenchConfig, runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    rows = []
    for env in cfg.envs:
        for m in cfg.models:
            rs = [r for r in runs if r["env"] == env and r["model"] == m]
            if not rs:
                continue
            errs = {k: [r["errors"][k] for r in rs if k in r["errors"]] for k in map(str, cfg.horizons)}
            rows.append(
                {
                    "method": m,
                    "env": env,
                    "seeds": len(rs),
                    "params": rs[0]["params"],
                    "train_s_mean": float(np.mean([r["train_s"] for r in rs])),
                    "steps": cfg.steps,
                    **{f"error_k{k}": float(np.mean(v)) for k, v in errs.items() if v},
                    **{f"error_k{k}_std": float(np.std(v)) for k, v in errs.items() if v},
                }
            )
    return rows


def format_table(rows: list[dict[str, Any]], horizons=HORIZONS) -> str:
    head = f"{'env':<15} {'model':<10} {'params':>7} {'train s':>8} " + " ".join(
        f"{'k=' + str(k):>10}" for k in horizons
    )
    lines = [head, "-" * len(head)]
    for r in rows:
        lines.append(
            f"{r['env']:<15} {r['method']:<10} {r['params']:>7} {r['train_s_mean']:>8.1f} "
            + " ".join(f"{r.get(f'error_k{k}', float('nan')):>10.4g}" for k in horizons)
        )
    return "\n".join(lines)


def plot_errors(rows: list[dict[str, Any]], path: Path, horizons=HORIZONS) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    envs = list(dict.fromkeys(r["env"] for r in rows))
    fig, axes = plt.subplots(1, len(envs), figsize=(4.2 * len(envs), 3.6), squeeze=False)
    for ax, env in zip(axes[0], envs):
        for r in (r for r in rows if r["env"] == env):
            ks = [k for k in horizons if f"error_k{k}" in r]
            mean = np.array([r[f"error_k{k}"] for k in ks])
            std = np.array([r[f"error_k{k}_std"] for k in ks])
            ax.errorbar(ks, mean, yerr=std, marker="o", capsize=3, label=r["method"])
        ax.set(
            xscale="log",
            yscale="log",
            title=env,
            xlabel="open-loop steps k",
            ylabel="mean squared error (normalised state)",
        )
        ax.set_xticks(list(horizons), [str(k) for k in horizons])
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def quick_config(cfg: DynamicsBenchConfig) -> DynamicsBenchConfig:
    """A smoke-test config (``--quick``): figures from it are labelled quick, never quoted."""
    import dataclasses

    return dataclasses.replace(cfg, seeds=1, steps=min(cfg.steps, 60), episodes=4, max_starts=200)


def run_bench(
    cfg: DynamicsBenchConfig, out: str | Path, *, workers: int | None, progress: bool
) -> BenchReport:
    """Attention vs GRU vs MLP: every model, env and seed (work files in ``out/work``), then
    runs.json and the k-step error plot."""
    import dataclasses

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    runs = run_benchmark(cfg, out / "work", workers=workers, progress=progress)
    rows = summarise(cfg, runs)
    wall = time.perf_counter() - t0
    write_runs(out, runs)
    plot = plot_errors(rows, out / "kstep_errors.png", cfg.horizons)
    return BenchReport(
        "dynamics",
        rows,
        format_table(rows, cfg.horizons),
        [plot],
        {**dataclasses.asdict(cfg), "demo_dir": str(cfg.demo_dir)},
        wall,
        {
            "evaluation": "open-loop k-step squared error on held-out expert episodes "
            "(last 20 % of each env's episodes), normalised state units"
        },
    )
