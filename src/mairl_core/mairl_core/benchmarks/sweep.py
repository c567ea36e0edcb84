"""``mairl sweep``: one method of a GridWorld or UR5 experiment over a grid of algorithm
settings and seeds, a table of a metric per setting (mean ± std over seeds) and a plot.

Every (setting, seed) is one job of ``run_parallel``, so a sweep runs on the process pool or,
with ``--backend ray`` / ``--address``, as plain Ray tasks. Plain tasks, not Ray Tune: each
point is a fixed, seeded run of a full budget with nothing to stop early or schedule, and
plain tasks keep one code path, one results format and one resume rule (``--resume`` skips
the runs recorded in ``OUT/runs``, and a UR5 run continues from its last checkpoint there)
for the benches and the sweeps, with no extra dependency.
"""

from __future__ import annotations

import dataclasses
import itertools
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from ..config import ConfigError, merge_settings, with_overrides
from . import BenchReport, run_or_resume, run_parallel, run_stem, write_runs

TASKS = ("gridworld", "reach", "grasp")
METRICS = {
    "gridworld": ("return", "reward_pearson"),
    "reach": ("success_rate", "final_distance_median"),
    "grasp": ("success_rate", "final_distance_median"),
}


def parse_grid(items: list[str]) -> dict[str, list[Any]]:
    """``["svg.horizon=0,1", "disc_steps=5,10"]`` -> {"svg.horizon": [0, 1], ...}; values are
    read as YAML scalars (numbers, booleans, strings); an ``algo.`` prefix is allowed."""
    grid: dict[str, list[Any]] = {}
    for item in items:
        key, sep, values = item.partition("=")
        key = key.strip().removeprefix("algo.")
        if not sep or not key or not values.strip():
            raise ConfigError(f"--grid '{item}': expected KEY=V1,V2,... (e.g. svg.horizon=0,1)")
        if key in grid:
            raise ConfigError(f"--grid: '{key}' given twice")
        grid[key] = [_scalar(v.strip()) for v in values.split(",")]
    if not grid:
        raise ConfigError("give at least one --grid KEY=V1,V2,...")
    return grid


def _scalar(text: str) -> Any:
    value = yaml.safe_load(text) if text else text
    if isinstance(value, str):  # YAML 1.1 reads 1e-3 as a string
        try:
            return float(value)
        except ValueError:
            return value
    return value


def settings(grid: dict[str, list[Any]]) -> list[dict[str, Any]]:
    """Every combination of the grid's values, in the order given (the last key fastest)."""
    keys = list(grid)
    return [dict(zip(keys, combo)) for combo in itertools.product(*(grid[k] for k in keys))]


def nested(setting: dict[str, Any]) -> dict[str, Any]:
    """{"svg.horizon": 1} -> {"svg": {"horizon": 1}}: the algo overrides of one setting."""
    out: dict[str, Any] = {}
    for key, value in setting.items():
        *path, last = key.split(".")
        at = out
        for part in path:
            at = at.setdefault(part, {})
        at[last] = value
    return out


def label(setting: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in setting.items())


@dataclasses.dataclass
class SweepJob:
    task: str
    exp: Any
    bench: Any
    method: str
    setting: dict[str, Any]
    seed: int
    demo_dir: str | None
    work: Path | None
    resume: bool


def _run_job(job: SweepJob) -> dict[str, Any]:
    name = f"{job.method} {label(job.setting)}"
    rec = run_or_resume(job.work, name, job.seed, job.resume, _train, job, name)
    if job.work is not None:  # the record holds it all now (a UR5 run's checkpoint folder)
        shutil.rmtree(_checkpoint_dir(job.work, name, job.seed), ignore_errors=True)
    return rec


def _checkpoint_dir(work: Path, name: str, seed: int) -> Path:
    """A UR5 run's mid-run checkpoints: a folder of its own, since the settings share a method
    and seed and ur5's file names alone would collide."""
    return work / run_stem(name, seed)


def _train(job: SweepJob, name: str) -> dict[str, Any]:
    over = nested(job.setting)
    if job.task == "gridworld":
        from .gridworld import run_one

        exp = dataclasses.replace(job.exp, algo=with_overrides(job.exp.algo, over, "--grid"))
        r = run_one(exp, job.method, job.seed)
        values = {"return": float(np.mean(r["returns"])), "reward_pearson": r["reward_pearson"]}
    else:
        from .ur5 import run_one

        # the grid's values go over the bench's own settings for this row (algo_by_method)
        rows = dict(job.bench.algo_by_method)
        rows[job.method] = merge_settings(rows.get(job.method, {}), over)
        bench = dataclasses.replace(job.bench, algo_by_method=rows)
        # a run checkpoints as it goes and --resume continues it from there
        work = None if job.work is None else _checkpoint_dir(job.work, name, job.seed)
        r = run_one(job.exp, bench, job.method, job.seed, job.demo_dir, None, job.task, work, job.resume)
        values = {k: r.get(k) for k in METRICS[job.task]}
    return {
        "method": name,
        "seed": job.seed,
        "setting": job.setting,
        "values": values,
        "env_steps": r.get("env_steps", 0),
        "wall_s": r.get("wall_s"),
        "diverged": r.get("diverged"),
    }


def summarise(
    grid_settings: list[dict[str, Any]], runs: list[dict[str, Any]], metric: str
) -> list[dict[str, Any]]:
    rows = []
    for s in grid_settings:
        vals = [r["values"].get(metric) for r in runs if r["setting"] == s]
        finite = [float(v) for v in vals if v is not None and np.isfinite(v)]
        rows.append(
            {
                "setting": s,
                "label": label(s),
                "metric": metric,
                "mean": float(np.mean(finite)) if finite else float("nan"),
                "std": float(np.std(finite)) if finite else float("nan"),
                "seeds": len(vals),
                "values": vals,
                "diverged_seeds": [r["seed"] for r in runs if r["setting"] == s and r.get("diverged")],
            }
        )
    return rows


def format_table(rows: list[dict[str, Any]], metric: str) -> str:
    width = max(12, *(len(r["label"]) for r in rows))
    lines = [f"{'setting':<{width}}  {metric:>20}  seeds", "-" * (width + 29)]
    for r in rows:
        lines.append(f"{r['label']:<{width}}  {r['mean']:>10.3f} ± {r['std']:<7.3f}  {r['seeds']:>5}")
    return "\n".join(lines)


def plot(rows: list[dict[str, Any]], metric: str, title: str, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(max(4.0, 1.1 * len(rows) + 1.5), 3.4))
    x = np.arange(len(rows))
    ax.bar(x, [r["mean"] for r in rows], yerr=[r["std"] for r in rows], capsize=4, color="tab:blue")
    for i, r in enumerate(rows):  # every seed's value over its bar
        v = [float(a) for a in r["values"] if a is not None]
        ax.scatter([i] * len(v), v, color="black", s=10, zorder=3)
    ax.set_xticks(x, [r["label"].replace(", ", "\n") for r in rows], fontsize=8)
    ax.set_ylabel(f"{metric} (mean ± std over seeds)")
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def load(task: str, config: str | None, quick: bool) -> tuple[Any, Any]:
    """(experiment, bench config) of the task's experiment file, --quick applied."""
    if task == "gridworld":
        from . import gridworld

        exp = gridworld.load_experiment(config or "gridworld")
        return (gridworld.quick_experiment(exp) if quick else exp), None
    from ..robot import DEFAULT_CONFIGS
    from . import ur5

    exp, bench = ur5.load_bench(config or DEFAULT_CONFIGS[task])
    return ur5.quick_config(exp, bench) if quick else (exp, bench)


def run_sweep(
    task: str,
    config: str | None,
    method: str,
    grid: dict[str, list[Any]],
    out: str | Path,
    *,
    seeds: int,
    seed: int,
    metric: str | None,
    quick: bool,
    workers: int | None,
    progress: bool,
    resume: bool,
) -> BenchReport:
    if task not in TASKS:
        raise ConfigError(f"unknown task '{task}' ({', '.join(TASKS)})")
    metric = metric or METRICS[task][0]
    if metric not in METRICS[task]:
        raise ConfigError(f"--metric {metric}: {task} sweeps report {', '.join(METRICS[task])}")
    exp, bench = load(task, config, quick)
    if task == "gridworld":
        from .gridworld import METHOD_SPECS
    else:
        from .ur5 import METHOD_SPECS
    if method not in METHOD_SPECS:
        raise ConfigError(f"--method '{method}': not a trained method of {task} ({', '.join(METHOD_SPECS)})")
    points = settings(grid)
    for s in points:  # a bad key or value fails now, not hours in
        row = {} if bench is None else bench.algo_by_method.get(method, {})
        with_overrides(exp.algo, merge_settings(row, nested(s)), f"--grid {label(s)}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    demo_dir = None
    if task != "gridworld":
        from ..data.operator import generate_demos

        demo_dir = out / "demos"
        if not any(demo_dir.glob("episode_*")):
            generate_demos(demo_dir, exp.demos.n_demos, exp.demos.seed, task=task, progress=progress)
    demos = None if demo_dir is None else str(demo_dir)
    jobs = [
        SweepJob(task, exp, bench, method, s, sd, demos, out / "runs", resume)
        for s in points
        for sd in range(seed, seed + seeds)
    ]
    t0 = time.perf_counter()
    runs = run_parallel(
        _run_job,
        jobs,
        workers=workers,
        progress=progress,
        desc="sweep",
        name=lambda j: f"{j.method} {' '.join(f'{k}={v}' for k, v in j.setting.items())} seed {j.seed}",
        postfix=lambda r: f"{r['method']} seed {r['seed']}",
    )
    wall = time.perf_counter() - t0
    rows = summarise(points, runs, metric)
    write_runs(out, runs)
    title = f"{method} on {task}: {metric} per setting ({seeds} seeds)" + (" [QUICK]" if quick else "")
    plot(rows, metric, title, out / "sweep.png")
    return BenchReport(
        f"sweep-{task}",
        rows,
        format_table(rows, metric),
        [out / "sweep.png"],
        {"experiment": dataclasses.asdict(exp), "grid": grid, "method": method},
        wall,
        {"metric": metric, "base_seed": seed},
    )
