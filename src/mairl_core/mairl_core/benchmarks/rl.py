"""``mairl bench rl``: our policy learner on a task's TRUE reward, beside stable-baselines3's SAC.

The first rung of the learner's ladder: before a learned reward is involved, the learner
that MAIRL uses must climb the task's own reward as fast as a standard soft actor-critic.
Every method runs on the same gymnasium task, seeds, env-step budget and evaluation: every
``eval_every`` env steps the deterministic policy plays ``test_episodes`` held-out episodes
(reset seeds 100000+); ``return_at_100k`` / ``return_at_300k`` are those evaluations' seed
means at those steps. Both learners start with ``learning_starts`` uniformly random actions.

Rows: "SAC (stable-baselines3)" (its defaults, with ``learning_starts``), and "SVG(H)" for each
H, our ``algos.svg.SVGLearner`` (SVG(0) is our SAC); optionally the paper's imagined-rollout
update on HalfCheetah's true reward (a diagnostic, ``run_imagined``). Each run writes
``OUT/METHOD_seedS.json`` when it ends, and a checkpoint every ``checkpoint_every`` env steps:
``--resume`` skips finished runs and continues the others from their checkpoints (ours
exactly, at an episode's end; SB3's with its state restored and fresh random streams).
"""

from __future__ import annotations

import dataclasses
import json
import re
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..algos.svg import Batch, LearnerContext, SVGConfig, SVGLearner
from ..config import ConfigError, Count, NonNegative, from_dict, read_experiment_yaml, section
from ..models.policy import GaussianPolicy
from . import BenchReport, finished_run, report_steps, run_parallel, run_stem, save_finished, write_runs

TEST_SEED = 100_000
SB3 = "SAC (stable-baselines3)"
IMAGINED = "imagined 10-step (paper's update)"
_SVG = re.compile(r"^SVG\((\d)\)$")


@dataclass
class RLBenchSettings:
    """The ``bench`` section of ``config/rl.yaml``."""

    seeds: Count = 3
    methods: list[str] = field(default_factory=lambda: [SB3, "SVG(0)", "SVG(1)"])
    env_steps: Count = 300_000
    learning_starts: NonNegative = 10_000
    eval_every: Count = 10_000
    test_episodes: Count = 10
    checkpoint_every: Count = 25_000


@dataclass
class RLBenchConfig(RLBenchSettings):
    svg: SVGConfig = field(default_factory=SVGConfig)


def load_bench(path: str = "rl") -> RLBenchConfig:
    p, data = read_experiment_yaml(path)
    unknown = set(data) - {"svg", "bench"}
    if unknown:
        raise ConfigError(f"{p}: unknown section(s) {sorted(unknown)}; expected svg, bench")
    svg = from_dict(SVGConfig, section(data, "svg", p), f"{p}:svg")
    bench = from_dict(RLBenchSettings, section(data, "bench", p), f"{p}:bench")
    cfg = RLBenchConfig(svg=svg, **dataclasses.asdict(bench))
    check_methods(cfg.methods)
    return cfg


def check_methods(methods: list[str]) -> None:
    bad = [m for m in methods if m not in (SB3, IMAGINED) and not _SVG.match(m)]
    if bad:
        raise ValueError(f"unknown methods {bad} (SVG(H) for H = 0..9, '{SB3}' or '{IMAGINED}')")


def _make_env(env_id: str):
    import gymnasium as gym

    try:
        return gym.make(env_id)
    except Exception as exc:  # gymnasium raises several kinds for an unknown or broken id
        raise ValueError(f"cannot make gymnasium env '{env_id}': {exc}") from None


def evaluate(act, env, episodes: int, seed: int = TEST_SEED) -> float:
    """Mean true return of ``act(obs) -> action`` (deterministic) over held-out episodes."""
    rets = []
    for i in range(episodes):
        obs, _ = env.reset(seed=seed + i)
        total, done = 0.0, False
        while not done:
            obs, r, term, trunc, _ = env.step(act(obs))
            total, done = total + float(r), term or trunc
        rets.append(total)
    return float(np.mean(rets))


# ----- our learner -----


def make_svg_policy(cfg: SVGConfig, env) -> GaussianPolicy:
    high = env.action_space.high
    return GaussianPolicy(
        env.observation_space.shape[0],
        env.action_space.shape[0],
        cfg.hidden,
        log_std_init=0.0,
        log_std_min=cfg.log_std_min,
        log_std_max=cfg.log_std_max,
        action_scale=torch.as_tensor(high),
        state_std=True,
    )


def run_svg(
    cfg: RLBenchConfig, env_id: str, method: str, seed: int, out_dir: Path, resume: bool
) -> dict[str, Any]:
    horizon = int(_SVG.match(method).group(1))
    scfg = dataclasses.replace(cfg.svg, horizon=horizon)
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    env, eval_env = _make_env(env_id), _make_env(env_id)
    policy = make_svg_policy(scfg, env)
    learner = SVGLearner(scfg, policy.obs_dim, policy.act_dim, policy, gen)
    ckpt = out_dir / f"{run_stem(method, seed)}.pt"
    rec: dict[str, Any] = {"method": method, "env": env_id, "seed": seed, "curve": [], "wall_s": 0.0}
    obs, _ = env.reset(seed=seed)
    env.action_space.seed(seed)
    first = True
    if resume and ckpt.exists():
        state = torch.load(ckpt, map_location="cpu", weights_only=True)
        policy.load_state_dict(state["policy"])
        for k, m in learner.modules().items():
            m.load_state_dict(state["modules"][k])
        for k, o in learner.optimizers().items():
            o.load_state_dict(state["optimizers"][k])
        learner.load_state_dict(state["learner"])
        rec = json.loads(state["record"])
        torch.set_rng_state(state["torch_rng"])
        gen.set_state(state["gen_rng"])
        env.unwrapped.np_random.bit_generator.state = json.loads(state["env_rng"])
        env.action_space.np_random.bit_generator.state = json.loads(state["space_rng"])
        obs, _ = env.reset()
    t0, wall0 = time.perf_counter(), rec["wall_s"]
    steps = reported = learner.env_steps
    report_steps(steps)
    act_fn = lambda o: policy.act(torch.as_tensor(o, dtype=torch.float32)[None], True)[0].numpy()  # noqa: E731
    while steps < cfg.env_steps:
        if steps < cfg.learning_starts:
            a = env.action_space.sample()
        else:
            a = policy.act(torch.as_tensor(obs, dtype=torch.float32)[None])[0].numpy()
        nxt, r, term, trunc, _ = env.step(a)
        new = Batch(
            torch.as_tensor(obs, dtype=torch.float32)[None],
            torch.as_tensor(a)[None].float(),
            torch.as_tensor(nxt, dtype=torch.float32)[None],
            torch.tensor([float(r)]),
            torch.tensor([float(term)]),
            torch.tensor([float(first)]),
        )
        if steps < cfg.learning_starts:
            learner.replay.add(new)
            learner.env_steps += 1
        else:
            learner.update(LearnerContext(new))
        steps, first, obs = learner.env_steps, False, nxt
        if steps % cfg.eval_every == 0:
            report_steps(steps - reported)
            reported = steps
            rec["curve"].append(
                {
                    "env_steps": steps,
                    "return": evaluate(act_fn, eval_env, cfg.test_episodes),
                    "alpha": float(learner.alpha),
                    "wall_s": wall0 + time.perf_counter() - t0,
                }
            )
        if term or trunc:  # (a checkpoint is taken between episodes; resuming resets the env)
            if steps - rec.get("checkpoint_at", 0) >= cfg.checkpoint_every and steps < cfg.env_steps:
                rec["wall_s"], rec["checkpoint_at"] = wall0 + time.perf_counter() - t0, steps
                _save(ckpt, policy, learner, rec, gen, env)
            obs, _ = env.reset()
            first = True
    rec["wall_s"] = wall0 + time.perf_counter() - t0
    rec["env_steps"] = steps
    return rec


def _save(path: Path, policy, learner: SVGLearner, rec: dict, gen, env) -> None:
    state = {
        "policy": policy.state_dict(),
        "modules": {k: m.state_dict() for k, m in learner.modules().items()},
        "optimizers": {k: o.state_dict() for k, o in learner.optimizers().items()},
        "learner": learner.state_dict(),
        "record": json.dumps(rec),
        "torch_rng": torch.get_rng_state(),
        "gen_rng": gen.get_state(),
        "env_rng": json.dumps(env.unwrapped.np_random.bit_generator.state),
        "space_rng": json.dumps(env.action_space.np_random.bit_generator.state),
    }
    tmp = path.with_suffix(".tmp")
    torch.save(state, tmp)
    tmp.replace(path)  # a kill mid-write leaves the previous checkpoint


# ----- stable-baselines3 -----


def run_sb3(cfg: RLBenchConfig, env_id: str, seed: int, out_dir: Path, resume: bool) -> dict[str, Any]:
    """SB3's SAC with its defaults; its whole state (networks, optimisers, replay buffer, no
    pickles: ``experts.save_sac_state``) saved every ``checkpoint_every`` steps, so ``resume``
    continues it (with fresh random streams and a new episode: not bit-identical)."""
    from stable_baselines3 import SAC
    from stable_baselines3.common.callbacks import BaseCallback

    from ..experts import load_sac_state, save_sac_state

    env, eval_env = _make_env(env_id), _make_env(env_id)
    state_dir = out_dir / f"{run_stem(SB3, seed)}.state"
    rec: dict[str, Any] = {"method": SB3, "env": env_id, "seed": seed, "curve": [], "wall_s": 0.0}
    model = SAC("MlpPolicy", env, seed=seed, learning_starts=cfg.learning_starts, device="cpu", verbose=0)
    if resume and (state_dir / "sac.pt").is_file() and (state_dir / "record.json").is_file():
        load_sac_state(model, state_dir, env_id, seed)
        rec = json.loads((state_dir / "record.json").read_text())
        # the record is written first: a kill between the two leaves it one checkpoint ahead
        rec["curve"] = [p for p in rec["curve"] if p["env_steps"] <= model.num_timesteps]
    t0, wall0 = time.perf_counter(), rec["wall_s"]
    act_fn = lambda o: model.predict(o, deterministic=True)[0]  # noqa: E731
    reported = [model.num_timesteps]
    report_steps(model.num_timesteps)

    class Curve(BaseCallback):
        def _on_step(self) -> bool:
            return True

        def _on_rollout_end(self) -> None:  # after the step's transition is in the buffer
            n = self.num_timesteps
            if n % cfg.eval_every == 0:
                report_steps(n - reported[0])
                reported[0] = n
                rec["curve"].append(
                    {
                        "env_steps": n,
                        "return": evaluate(act_fn, eval_env, cfg.test_episodes),
                        "alpha": float(model.log_ent_coef.exp().item()),
                        "wall_s": wall0 + time.perf_counter() - t0,
                    }
                )
            if n % cfg.checkpoint_every == 0 and n < cfg.env_steps:
                rec["wall_s"] = wall0 + time.perf_counter() - t0
                state_dir.mkdir(parents=True, exist_ok=True)
                (state_dir / "record.json.tmp").write_text(json.dumps(rec))
                (state_dir / "record.json.tmp").replace(state_dir / "record.json")
                save_sac_state(model, state_dir, env_id, seed)

    model.learn(
        cfg.env_steps - model.num_timesteps, callback=Curve(), reset_num_timesteps=model.num_timesteps == 0
    )
    rec["wall_s"] = wall0 + time.perf_counter() - t0
    rec["env_steps"] = model.num_timesteps
    return rec


# ----- the paper's update (imagined rollouts, no critic) on the true reward: a diagnostic -----


class HalfCheetahTrueReward(torch.nn.Module):
    """HalfCheetah-v5's reward as a differentiable r(s, a, s') for the imagined-rollout learner:
    the x velocity in s' (observation entry 8) - 0.1 |a|^2, on the trainer's normalised
    observations and actions (``norm``). It stands in for the discriminator
    (``policy_reward``); nothing trains it."""

    def __init__(self, norm):
        super().__init__()
        self.norm = norm

    def policy_reward(self, obs, act, next_obs, done, log_pi, alpha):
        velocity = self.norm.inverse(next_obs)[..., 8]
        return velocity - 0.1 * (act * self.norm.act_scale).pow(2).sum(-1) - alpha * log_pi


def run_imagined(cfg: RLBenchConfig, env_id: str, seed: int) -> dict[str, Any]:
    """MAIRL's policy update as the paper has it (``learner: imagined``: 10-step imagined
    rollouts through the attention model, no critic), on HalfCheetah's true reward, with
    config/mujoco_scratch.yaml's settings (observations normalised by the demos' statistics,
    the one use of the demos). Not resumable: an interrupted run starts over."""
    from ..algos.adversarial import AdversarialTrainer
    from ..algos.normalize import ObsNorm
    from ..envs.locomotion import LocomotionVecEnv
    from . import mujoco as mj

    if env_id != "HalfCheetah-v5":
        raise ValueError(f"'{IMAGINED}' is a HalfCheetah-v5 diagnostic (its reward is coded)")
    mcfg = mj.load_bench("mujoco_scratch")
    algo = dataclasses.replace(
        mcfg.algo,
        learner="imagined",
        freeze_reward=True,
        bc_weight=0.0,
        bc_init_steps=0,
        rollout_expert_frac=0.0,
        model_uses_demos=False,
        state_only=False,
        env_steps=cfg.env_steps,
    )
    expert, _ = mj.expert_transitions(env_id, mcfg)
    bound = torch.ones(expert.act.shape[-1])
    norm = ObsNorm.fit(expert.obs, expert.act, algo.obs_std_min, algo.act_std_min_frac * bound)
    env = LocomotionVecEnv(env_id, algo.n_envs, seed=seed, horizon=1000)
    trainer = AdversarialTrainer("mairl", algo, env, None, seed=seed, obs_norm=norm)
    trainer.disc = HalfCheetahTrueReward(norm)
    eval_env = _make_env(env_id)
    rec: dict[str, Any] = {"method": IMAGINED, "env": env_id, "seed": seed, "curve": []}
    t0 = time.perf_counter()

    def act_fn(o):
        return trainer.deployable_policy().act(torch.as_tensor(o, dtype=torch.float32)[None], True)[0].numpy()

    def cb(tr, m):
        report_steps(tr.cfg.n_envs * tr.env.horizon)
        if tr.env_steps % cfg.eval_every == 0:
            rec["curve"].append(
                {
                    "env_steps": tr.env_steps,
                    "return": evaluate(act_fn, eval_env, cfg.test_episodes),
                    "wall_s": time.perf_counter() - t0,
                }
            )

    trainer.train(callback=cb)
    rec.update(wall_s=time.perf_counter() - t0, env_steps=trainer.env_steps)
    return rec


def run_one(
    cfg: RLBenchConfig, env_id: str, method: str, seed: int, out_dir: str, resume: bool
) -> dict[str, Any]:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if (rec := finished_run(out, method, seed, resume)) is not None:
        return rec
    if method == SB3:
        rec = run_sb3(cfg, env_id, seed, out, resume)
    elif method == IMAGINED:
        rec = run_imagined(cfg, env_id, seed)
    else:
        rec = run_svg(cfg, env_id, method, seed, out, resume)
    save_finished(out, rec)  # drops the run's checkpoint: the record holds it all
    shutil.rmtree(out / f"{run_stem(method, seed)}.state", ignore_errors=True)
    return rec


def _job(args):
    return run_one(*args)


def run_benchmark(
    cfg: RLBenchConfig,
    env_id: str,
    out_dir: Path,
    workers: int | None = None,
    progress: bool = True,
    seed: int = 0,
    resume: bool = False,
) -> list[dict[str, Any]]:
    _make_env(env_id).close()  # fail before any work on a bad id
    out_dir.mkdir(parents=True, exist_ok=True)
    jobs = [
        (cfg, env_id, m, s, str(out_dir), resume) for s in range(seed, seed + cfg.seeds) for m in cfg.methods
    ]
    return run_parallel(
        _job,
        jobs,
        workers=workers,
        progress=progress,
        desc=env_id,
        postfix=lambda r: (
            f"{r['method']} seed {r['seed']}: {r['curve'][-1]['return'] if r['curve'] else float('nan'):.0f}"
        ),
        env_steps=len(jobs) * cfg.env_steps,
        name=lambda j: f"{j[2]} seed {j[3]}",
    )


def return_at(curve: list[dict[str, Any]], steps: int) -> float | None:
    """The held-out return of the evaluation at ``steps`` env steps (None: not reached)."""
    return next((p["return"] for p in curve if p["env_steps"] == steps), None)


def summarise(cfg: RLBenchConfig, runs: list[dict[str, Any]], env_id: str) -> list[dict[str, Any]]:
    rows = []
    for m in cfg.methods:
        rs = sorted((r for r in runs if r["method"] == m), key=lambda r: r["seed"])
        if not rs:
            continue
        row: dict[str, Any] = {"method": m, "env": env_id, "seeds": len(rs), "env_steps": cfg.env_steps}
        for k in (100_000, 300_000):
            vals = [return_at(r["curve"], k) for r in rs]
            ok = [v for v in vals if v is not None]
            row[f"return_at_{k // 1000}k"] = float(np.mean(ok)) if len(ok) == len(rs) else None
            row[f"return_at_{k // 1000}k_std"] = float(np.std(ok)) if len(ok) == len(rs) else None
            row[f"return_at_{k // 1000}k_seeds"] = vals
        last = [r["curve"][-1]["return"] for r in rs if r["curve"]]
        row["final_return_mean"] = float(np.mean(last)) if last else None
        row["wall_s"] = float(np.mean([r["wall_s"] for r in rs]))
        row["env_steps_per_s"] = float(np.mean([r.get("env_steps", cfg.env_steps) / r["wall_s"] for r in rs]))
        rows.append(row)
    return rows


def format_table(rows: list[dict[str, Any]]) -> str:
    def f(v, s):
        return "-" if v is None else f"{v:.0f} ± {s:.0f}"

    w = max(8, *(len(r["method"]) for r in rows))
    head = f"{'method':<{w}} {'at 100k':>14} {'at 300k':>14} {'last':>8} {'steps/s':>8}"
    lines = [head, "-" * len(head)]
    for r in rows:
        lines.append(
            f"{r['method']:<{w}} {f(r['return_at_100k'], r['return_at_100k_std']):>14} "
            f"{f(r['return_at_300k'], r['return_at_300k_std']):>14} "
            f"{r['final_return_mean'] or float('nan'):>8.0f} {r['env_steps_per_s']:>8.0f}"
        )
    return "\n".join(lines)


def plot_curves(runs: list[dict[str, Any]], path: Path, env_id: str) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    for m in dict.fromkeys(r["method"] for r in runs):
        curves = [r["curve"] for r in runs if r["method"] == m and r["curve"]]
        if not curves:
            continue
        n = min(len(c) for c in curves)
        x = np.array([p["env_steps"] for p in curves[0][:n]])
        y = np.array([[p["return"] for p in c[:n]] for c in curves])
        (line,) = ax.plot(x, y.mean(0), label=f"{m} ({len(curves)} seeds)")
        ax.fill_between(x, y.min(0), y.max(0), color=line.get_color(), alpha=0.15)
    ax.set(
        xlabel="environment steps",
        ylabel="held-out return (true reward)",
        title=f"{env_id}: true-reward learning curves (band = min-max over seeds)",
    )
    ax.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def quick_config(cfg: RLBenchConfig) -> RLBenchConfig:
    """A smoke-test config (``--quick``): figures from it are labelled quick, never quoted."""
    return dataclasses.replace(
        cfg,
        seeds=1,
        env_steps=600,
        learning_starts=300,
        eval_every=300,
        test_episodes=1,
        checkpoint_every=300,
        svg=dataclasses.replace(cfg.svg, model_warmup=300),
    )


def run_bench(
    cfg: RLBenchConfig,
    env_id: str,
    out: str | Path,
    *,
    seed: int,
    workers: int | None,
    progress: bool,
    resume: bool,
) -> BenchReport:
    """Rung 1: every method and seed on ``env_id``'s true reward (run records and checkpoints
    in ``out``), then runs.json and the learning curves."""
    out = Path(out)
    t0 = time.perf_counter()
    runs = run_benchmark(cfg, env_id, out, workers=workers, progress=progress, seed=seed, resume=resume)
    rows = summarise(cfg, runs, env_id)
    wall = time.perf_counter() - t0
    write_runs(out, runs)
    plot = plot_curves(runs, out / "learning_curves.png", env_id)
    return BenchReport(
        f"rl-{env_id}",
        rows,
        format_table(rows),
        [plot],
        dataclasses.asdict(cfg),
        wall,
        {
            "base_seed": seed,
            "evaluation": f"every {cfg.eval_every} env steps, {cfg.test_episodes} held-out "
            f"episodes (reset seeds {TEST_SEED}+), deterministic policy",
        },
    )
