"""The ``mairl`` command: demo, train, eval and bench.

Every long job shows a progress bar and writes ``results.json`` (schema in
docs/results.md) next to its plots.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

EXAMPLES = """examples:
  mairl demo                                   # UR5 reach in-process: demos, MAIRL, BC, test -> runs/demo
                                               # (`make demo` = mairl-ros-demo: the same through ROS 2)
  mairl bench gridworld --out bench/results/gridworld
  mairl bench gridworld --out bench/results/gridworld --backend ray   # the runs as Ray tasks
  mairl sweep --task gridworld --method 'MAIRL(s)' --grid svg.horizon=0,1 --seeds 3 --out runs/sweep-h
  mairl bench ur5 --task reach --out bench/results/ur5-reach            # Table III in sim
  mairl bench ur5 --task grasp --out bench/results/ur5-grasp
  mairl bench transfer --task reach --source bench/results/ur5-reach --out bench/results/ur5-reach-transfer
  mairl bench latency --out bench/results/latency   # policy server + safety over DDS, 125/500 Hz
  mairl bench soak --minutes 30 --out bench/results/soak   # deploy graph: memory, rate, e-stop latency
  mairl bench fuzz-bags --cases 3000 --out bench/results/fuzz-bags   # damaged MCAP demos
  mairl train --task gridworld --algo mairl --mode s --out runs/gw-mairl
  mairl train --task gridworld --algo mairl --mode s --out runs/gw-mairl --resume
  mairl eval --task gridworld --policy runs/gw-mairl/checkpoint.pt --episodes 100 --seed 1 --out runs/gw-eval
  mairl demos --task reach --n 50 --seed 0 --out demos/reach   # scripted teleop demos -> MCAP bags
  mairl data info demos/reach                  # episodes, steps, success, operator; `validate` checks
  mairl train --task reach --algo bc --demos demos/reach --out runs/reach-bc
  mairl eval --task reach --policy runs/reach-bc/checkpoint.pt --episodes 100 --seed 10000 \
    --out runs/reach-bc-eval --video
"""


class Parser(argparse.ArgumentParser):
    """argparse, with a bad command line reported in one line (no usage block) and exit 2."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see `{self.prog} -h`)\n")


class UsageError(SystemExit):
    """Options that do not go together: ``main`` prints the message as one line and the
    process exits with status 2, as for argparse's own errors."""

    def __init__(self, message: str):
        super().__init__(message)
        self.code = 2


def _int_at_least(bound: int, what: str):
    """An argparse ``type``: an integer >= ``bound``, else one line that says so."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
        if value < bound:
            raise argparse.ArgumentTypeError(f"expected {what}, got {value}")
        return value

    return parse


count_arg = _int_at_least(1, "an integer >= 1")
"""How many (episodes, demos, seeds, steps, workers): the config schema's ``Count``."""
non_negative_arg = _int_at_least(0, "an integer >= 0")
seed_arg = _int_at_least(0, "a seed >= 0 (numpy and gymnasium take no negative seeds)")


def positive_float(text: str) -> float:
    """``text`` as a finite number > 0, else a ValueError of one line that says so."""
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0 < value < float("inf"):
        raise ValueError(f"expected a number > 0, got {text!r}")
    return value


def positive_float_arg(text: str) -> float:
    """An argparse ``type``: :func:`positive_float`."""
    try:
        return positive_float(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _bench_gridworld(args: argparse.Namespace) -> int:
    from .benchmarks import gridworld as gw

    exp = gw.load_experiment(args.config)
    if args.quick:
        exp = gw.quick_experiment(exp)
    if args.seeds is not None:
        exp = dataclasses.replace(exp, bench=dataclasses.replace(exp.bench, seeds=args.seeds))
    print(
        f"GridWorld benchmark: {', '.join(exp.bench.methods)}; {exp.bench.seeds} seeds x "
        f"{exp.bench.episodes} test episodes; {exp.algo.env_steps} env steps per run"
        + (" [QUICK: smoke-test config, not a result]" if args.quick else ""),
        flush=True,
    )
    report = gw.run_bench(
        exp, args.out, seed=args.seed, workers=args.workers, progress=not args.no_progress, resume=args.resume
    )
    return _finish(args, report)


def _finish(args: argparse.Namespace, report) -> int:
    """results.json, the table and where everything went (``benchmarks.finish_bench``)."""
    from .benchmarks import finish_bench

    return finish_bench(report, args.out, quick=args.quick, commit_at_start=args.commit_at_start)


def _ur5_bench_config(args: argparse.Namespace):
    """The experiment and bench config of a UR5 bench, with --quick and --seeds applied."""
    from .benchmarks import ur5

    exp, bench = ur5.load_bench(_config_name(args))
    if args.quick:
        exp, bench = ur5.quick_config(exp, bench)
    if args.seeds is not None:
        bench = dataclasses.replace(bench, seeds=args.seeds)
    return exp, bench


def _bench_fuzz_bags(args: argparse.Namespace) -> int:
    from .benchmarks.fuzz_bags import run_fuzz

    command = f"mairl bench fuzz-bags --cases {args.cases} --seed {args.seed} --out {args.out}"
    totals = run_fuzz(
        args.cases,
        args.seed,
        args.out,
        progress=not args.no_progress,
        command=command,
        commit_at_start=args.commit_at_start,
    )
    print(
        f"{totals['cases']} damaged bags: {totals['valid_loads']} valid loads, "
        f"{totals['clear_errors']} clear errors, {totals['tracebacks']} tracebacks, "
        f"{totals['hangs']} hangs -> {Path(args.out) / 'results.json'}"
    )
    return 1 if totals["tracebacks"] or totals["hangs"] else 0


def _bench_ros(args: argparse.Namespace) -> int:
    """Runs ``mairl_ros.bench_<name>`` (latency, soak) in its own process: mairl_core never
    imports rclpy."""
    import importlib.util
    import subprocess
    import sys

    if importlib.util.find_spec("mairl_ros") is None:
        raise SystemExit(
            f"error: `mairl bench {args.bench}` needs the mairl_ros package "
            "(`make venv` installs it; or pip install -e src/mairl_ros)"
        )
    forward = args.ros_args  # its options are the mairl_ros module's own (one parser)
    try:
        return subprocess.call([sys.executable, "-m", f"mairl_ros.bench_{args.bench}", *forward])
    except KeyboardInterrupt:
        return 130


#: what `mairl train`, `eval` and `demo` learn and test on
TASKS = ("gridworld", "reach", "grasp")


def split_names(text: str) -> list[str]:
    """Split a comma-separated list of row names, keeping commas inside parentheses:
    ``"MAIRL (s,a),BC"`` -> ``["MAIRL (s,a)", "BC"]``."""
    names, depth, cur = [], 0, ""
    for ch in text:
        depth += {"(": 1, ")": -1}.get(ch, 0)
        if ch == "," and depth == 0:
            names.append(cur.strip())
            cur = ""
        else:
            cur += ch
    names.append(cur.strip())
    return [n for n in names if n]


def _bench_ur5(args: argparse.Namespace) -> int:
    from .benchmarks import ur5

    exp, bench = _ur5_bench_config(args)
    if args.n_demos is not None:
        exp = dataclasses.replace(exp, demos=dataclasses.replace(exp.demos, n_demos=args.n_demos))
    if args.methods:
        bench = dataclasses.replace(bench, methods=split_names(args.methods))
        ur5.check_methods(bench.methods)
    print(
        f"UR5 {args.task} benchmark: {', '.join(bench.methods)}; {bench.seeds} seeds; "
        f"{exp.algo.env_steps} env steps per run; {exp.demos.n_demos} demos from "
        f"{args.demos or Path(args.out) / 'demos'}"
        + (" [QUICK: smoke-test config, not a result]" if args.quick else ""),
        flush=True,
    )
    report = ur5.run_bench(
        exp,
        bench,
        args.out,
        task=args.task,
        seed=args.seed,
        workers=args.workers,
        progress=not args.no_progress,
        demos=args.demos,
        publish=args.publish,
        resume=args.resume,
    )
    return _finish(args, report)


def _bench_transfer(args: argparse.Namespace) -> int:
    from .benchmarks import transfer

    exp, bench = _ur5_bench_config(args)
    rows = split_names(args.rows) if args.rows else list(transfer.DEFAULT_ROWS)
    print(
        f"UR5 {args.task} reward transfer to {args.env_config}: {', '.join(rows)}; {bench.seeds} "
        f"seeds; {exp.algo.env_steps} env steps per new policy; source {args.source}"
        + (" [QUICK: smoke-test config, not a result]" if args.quick else ""),
        flush=True,
    )
    report = transfer.run_bench(
        exp,
        bench,
        args.out,
        source=args.source,
        task=args.task,
        env_config=args.env_config,
        rows=rows,
        seed=args.seed,
        workers=args.workers,
        progress=not args.no_progress,
        resume=args.resume,
    )
    return _finish(args, report)


def _config_name(args: argparse.Namespace) -> str:
    """The experiment file a command reads: --config, else the task's (mujoco: the env's) default."""
    from .robot import DEFAULT_CONFIGS

    if args.config:
        return args.config
    if args.task == "mujoco":
        from .benchmarks.mujoco import SCRATCH_CONFIGS

        return SCRATCH_CONFIGS.get(args.env, "mujoco_scratch")
    return "gridworld" if args.task == "gridworld" else DEFAULT_CONFIGS[args.task]


def _train(args: argparse.Namespace) -> int:
    if args.task in ("reach", "grasp"):
        return _train_robot(args)
    if args.task == "mujoco":
        return _train_mujoco(args)
    from .training import build_gridworld

    if args.algo == "bc":
        raise UsageError("--algo bc is for robot tasks (--task reach|grasp)")
    state_only = args.mode == "s"
    overrides = {"env_steps": args.env_steps} if args.env_steps is not None else {}
    exp, trainer = build_gridworld(_config_name(args), args.algo, state_only, args.seed, overrides)
    from .benchmarks.gridworld import reward_map_images

    images = lambda: reward_map_images(exp, trainer)  # noqa: E731 - TensorBoard, at each save
    meta = {
        "task": args.task,
        "method": args.algo,
        "mode": args.mode,
        "seed": args.seed,
        "config_file": str(_config_name(args)),
    }
    return _run_training(args, trainer, meta, images)


def _train_mujoco(args: argparse.Namespace) -> int:
    """One method on a gymnasium MuJoCo env from a demos file (the mujoco bench's settings)."""
    from .algos.adversarial import AdversarialTrainer
    from .benchmarks import mujoco as mj
    from .config import with_overrides
    from .envs.locomotion import LocomotionVecEnv

    if not args.env:
        raise UsageError("--task mujoco needs --env ID (a gymnasium MuJoCo env, e.g. HalfCheetah-v5)")
    if args.algo == "bc":
        raise UsageError(
            "--task mujoco: --algo bc is the mujoco bench's BC row (`mairl bench mujoco --methods BC`)"
        )
    config = _config_name(args)
    cfg = mj.load_bench(config)
    if args.demos:
        cfg = dataclasses.replace(cfg, demos=Path(args.demos))
    if args.n_demos is not None:
        cfg = dataclasses.replace(cfg, n_demos=args.n_demos)
    algo = dataclasses.replace(
        cfg.algo,
        state_only=args.mode == "s",
        **({"env_steps": args.env_steps} if args.env_steps is not None else {}),
    )
    algo = with_overrides(algo, mj.trainer_overrides(cfg, args.algo, algo.state_only))
    cfg = dataclasses.replace(cfg, algo=algo)
    expert, _ = mj.expert_transitions(args.env, cfg, whole_episodes=args.algo == "gan-gcl")
    env = LocomotionVecEnv(
        args.env, algo.n_envs, seed=args.seed, horizon=cfg.horizon, reset_turned_over=cfg.reset_turned_over
    )
    trainer = AdversarialTrainer(args.algo, algo, env, expert, seed=args.seed)
    meta = {
        "task": "mujoco",
        "env": args.env,
        "method": args.algo,
        "mode": args.mode,
        "seed": args.seed,
        "config_file": str(config),
        "demos": str(mj.demo_path(cfg, args.env)),
        "n_demos": cfg.n_demos,
    }
    return _run_training(args, trainer, meta)


def _run_training(args: argparse.Namespace, trainer, meta: dict, images=None) -> int:
    """Train with progress, TensorBoard and checkpoints; say where everything went."""
    from .training import train_run

    history = train_run(
        trainer,
        args.out,
        meta=meta,
        resume=args.resume,
        checkpoint_every=args.checkpoint_every,
        progress=not args.no_progress,
        images=images,
    )
    last = history[-1] if history else {}
    succ = f"; last training success {last['env/success']:.2f}" if "env/success" in last else ""
    print(
        f"trained {args.algo}({args.mode}) on {args.task}: {trainer.env_steps} env steps; "
        f"last training-episode return {last.get('env/true_return', float('nan')):.2f}{succ}; "
        f"checkpoint {Path(args.out) / 'checkpoint.pt'}; TensorBoard logs {Path(args.out) / 'tb'}"
    )
    return 0


def _train_robot(args: argparse.Namespace) -> int:
    from . import robot
    from .benchmarks import ur5
    from .checkpoint import save_checkpoint
    from .training import policy_meta

    if not args.demos:
        raise UsageError(
            f"--task {args.task} needs --demos DIR "
            f"(record them with `mairl demos --task {args.task} --out DIR`)"
        )
    exp, bench = ur5.load_bench(_config_name(args))  # the bench section: its rows' settings
    n = args.n_demos if args.n_demos is not None else exp.demos.n_demos
    expert = robot.load_robot_demos(args.demos, n, task=args.task)
    meta = {
        "task": args.task,
        "method": args.algo,
        "mode": args.mode,
        "seed": args.seed,
        "config_file": str(_config_name(args)),
        "demos": str(args.demos),
        "n_demos": n,
    }
    out = Path(args.out)
    if args.algo == "bc":
        ckpt = out / "checkpoint.pt"
        if ckpt.exists():
            raise FileExistsError(f"{ckpt} exists: choose another --out")
        t0 = time.perf_counter()
        policy, state = robot.train_bc(exp, expert, args.seed)
        save_checkpoint(ckpt, state, **meta, **policy_meta(exp.algo, policy.policy))
        print(
            f"trained bc on {args.task} from {n} demos in {time.perf_counter() - t0:.0f} s; checkpoint {ckpt}"
        )
        return 0
    extra = {"env_steps": args.env_steps} if args.env_steps is not None else {}
    trainer = ur5.config_trainer(
        exp, bench, args.algo, expert, args.seed, args.mode == "s", task=args.task, extra=extra
    )
    return _run_training(args, trainer, meta)


def _eval(args: argparse.Namespace) -> int:
    import numpy as np

    from .eval.results import write_results
    from .training import evaluate_gridworld_policy, load_policy

    t0 = time.perf_counter()
    if args.task in ("reach", "grasp"):  # the experiment's eval section: checked before any work
        from .benchmarks import ur5

        exp, bench = ur5.load_bench(_config_name(args))
        ev = exp.eval
        env_config = ur5.bench_env_config(args.task, bench)  # the config's `bench: env:` changes
        episodes = ev.episodes if args.episodes is None else args.episodes
        seed = ev.seed if args.seed is None else args.seed
    else:
        from .benchmarks.gridworld import load_experiment

        load_experiment(_config_name(args))
        episodes = 100 if args.episodes is None else args.episodes
        seed = 10_000 if args.seed is None else args.seed
    policy, meta = load_policy(args.policy)
    if meta.get("task") != args.task:
        raise UsageError(f"{args.policy} was trained on task '{meta.get('task')}', not '{args.task}'")
    if args.task in ("reach", "grasp"):
        from .robot import evaluate_robot

        res = evaluate_robot(
            policy,
            episodes,
            seed,
            task=args.task,
            video=Path(args.out) / "episodes.gif" if args.video else None,
            env_config=env_config,
        )
        row = {
            "method": meta["method"].upper(),
            "mode": meta.get("mode"),
            "env": f"UR5{args.task.capitalize()}-v0",
            "seeds": 1,
            "policy": str(args.policy),
            "n_demos": meta.get("n_demos"),
            **res,
        }
        path = write_results(
            args.out, f"eval-{args.task}", [row], quick=False, wall_s=time.perf_counter() - t0
        )
        steps = episodes * env_config.episode_steps
        rejected = res["safety_rejected_steps"]
        print(
            f"{row['method']} on UR5 {args.task}, {episodes} episodes, seed {seed}: success "
            f"{res['success_rate']:.2f}, final distance median {100 * res['final_distance_median']:.1f} cm"
            f", safety: {res['safety_clipped_steps']} of {steps} steps clipped"
            + (
                f", {rejected} of {steps} steps rejected (NaN/inf or malformed actions: the arm held)"
                if rejected
                else ""
            )
            + (
                f", suction command rejected in {res['suction_rejected_steps']} steps"
                if res.get("suction_rejected_steps")
                else ""
            )
            + f" -> {path}"
            + (f"; video {res['video']}" if "video" in res else "")
        )
        return 0
    returns = evaluate_gridworld_policy(policy, _config_name(args), episodes, seed)
    row = {
        "method": meta["method"].upper(),
        "mode": meta.get("mode"),
        "env": "GridWorld",
        "return_mean": float(np.mean(returns)),
        "return_std": float(np.std(returns)),
        "episodes": episodes,
        "seeds": 1,
        "eval_seed": seed,
        "returns": returns.tolist(),
        "policy": str(args.policy),
    }
    path = write_results(args.out, "eval-gridworld", [row], quick=False, wall_s=time.perf_counter() - t0)
    print(
        f"{row['method']}({row['mode']}) on GridWorld, {episodes} episodes, seed {seed}: "
        f"return {row['return_mean']:.2f} ± {row['return_std']:.2f}  -> {path}"
    )
    return 0


def _demos(args: argparse.Namespace) -> int:
    from .data.operator import generate_demos

    stats = generate_demos(args.out, args.n, args.seed, task=args.task, progress=not args.no_progress)
    print(
        f"wrote {stats['episodes']} {args.task} demos as MCAP bags in {args.out} "
        f"({stats['attempts']} attempts, scripted-operator success {stats['success_rate']:.2f})"
    )
    return 0


def _data(args: argparse.Namespace) -> int:
    """``mairl data``: the dataset tools of ``data.tools``."""
    from .data import tools

    if args.data_cmd == "info":
        info = tools.dataset_info(args.dataset)
        print(json.dumps(info, indent=1) if args.json else tools.format_info(info))
        return 0
    if args.data_cmd == "validate":
        problems = tools.validate_dataset(args.dataset)
        for line in problems:
            print(line)
        n = len(list(tools.list_bags(args.dataset)))
        print(
            f"{args.dataset}: {n} episodes, " + (f"{len(problems)} problems" if problems else "valid"),
            file=sys.stderr,
        )
        return 1 if problems else 0
    if args.data_cmd == "delete-episode":
        bag, left = tools.delete_episode(args.dataset, args.episode)
        print(f"deleted {bag}; {left} episodes remain")
        return 0
    done = tools.merge_datasets(args.sources, args.out)
    print(f"merged {done['episodes']} episodes from {len(args.sources)} datasets into {done['out']}")
    return 0


def _demo(args: argparse.Namespace) -> int:
    """The main job: UR5 reaching in MuJoCo from scripted-teleop demos to a tested MAIRL policy.

    Re-running continues where it stopped: existing demos are reused and an interrupted
    training run resumes from its checkpoint.
    """
    from . import robot
    from .benchmarks import ur5
    from .checkpoint import save_checkpoint
    from .data.operator import generate_demos
    from .eval.results import write_results
    from .training import policy_meta, train_run

    t0 = time.perf_counter()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    exp, bench = ur5.load_bench(args.config)  # MAIRL's row settings and env changes: as the bench's
    demo_dir = out / "demos"
    print(
        f"mairl demo: UR5 reach in MuJoCo -> {out}\n[1/4] {exp.demos.n_demos} scripted-operator "
        f"demos through the teleop path (rosbag2 MCAP) in {demo_dir}",
        flush=True,
    )
    if not any(demo_dir.glob("episode_*")):
        generate_demos(
            demo_dir, exp.demos.n_demos, exp.demos.seed, task="reach", progress=not args.no_progress
        )
    expert = robot.load_robot_demos(demo_dir, exp.demos.n_demos)
    algo, state_only = ur5.METHOD_SPECS["MAIRL"]
    print(
        f"[2/4] MAIRL training, {exp.algo.env_steps} env steps (checkpoints, TensorBoard: {out / 'mairl'})",
        flush=True,
    )
    trainer = ur5.config_trainer(exp, bench, algo, expert, args.seed, state_only)
    env_config = trainer.env.envs[0].cfg  # tested on the env it trained on
    meta = {
        "task": "reach",
        "method": algo,
        "mode": "s" if state_only else "s,a",
        "seed": args.seed,
        "config_file": str(args.config),
        "demos": str(demo_dir),
        "n_demos": exp.demos.n_demos,
    }
    train_run(trainer, out / "mairl", meta=meta, resume=True, progress=not args.no_progress)
    print("[3/4] behaviour cloning on the same demos, for comparison", flush=True)
    bc_policy, bc_state = robot.train_bc(exp, expert, args.seed)
    save_checkpoint(
        out / "bc" / "checkpoint.pt",
        bc_state,
        **{**meta, "method": "bc", "mode": "s"},
        **policy_meta(exp.algo, bc_policy.policy),
    )
    ev = exp.eval
    print(f"[4/4] testing both on {ev.episodes} episodes with unseen targets (seed {ev.seed}+i)", flush=True)
    rows = []
    for name, policy, video in (
        ("MAIRL", trainer.deployable_policy(), out / "mairl_episodes.gif"),
        ("BC", bc_policy, None),
    ):
        res = robot.evaluate_robot(policy, ev.episodes, ev.seed, video=video, env_config=env_config)
        rows.append(
            {
                "method": name,
                "env": "UR5Reach-v0",
                "seeds": 1,
                "seed": args.seed,
                "env_steps": trainer.env_steps if name == "MAIRL" else 0,
                "n_demos": exp.demos.n_demos,
                **res,
            }
        )
    wall = time.perf_counter() - t0
    path = write_results(
        out,
        "demo-ur5-reach",
        rows,
        quick=False,
        wall_s=wall,
        commit_at_start=args.commit_at_start,
        evaluation="the last MAIRL policy (no checkpoint selection), mean action",
    )
    print()
    for r in rows:
        print(
            f"{r['method']:<6} success {r['success_rate']:.2f}   final distance median "
            f"{100 * r['final_distance_median']:.1f} cm"
        )
    print(f"\nresults: {path}  video: {rows[0].get('video')}  ({wall:.0f} s)")
    return 0


def _bench_mujoco(args: argparse.Namespace) -> int:
    from .benchmarks import mujoco as mj

    cfg = mj.load_bench(args.config)
    if args.methods is not None:
        cfg = dataclasses.replace(cfg, methods=split_names(args.methods))
        unknown = [m for m in cfg.methods if m not in mj.METHOD_SPECS]
        if unknown:
            raise ValueError(f"unknown methods {unknown} ({', '.join(mj.METHOD_SPECS)})")
    if args.demo_dir:
        cfg = dataclasses.replace(cfg, demo_dir=Path(args.demo_dir))
    if args.demos:
        cfg = dataclasses.replace(cfg, demos=Path(args.demos))
    if args.seeds is not None:
        cfg = dataclasses.replace(cfg, seeds=args.seeds)
    if args.env_steps is not None:
        cfg = dataclasses.replace(cfg, algo=dataclasses.replace(cfg.algo, env_steps=args.env_steps))
    if args.quick:
        cfg = mj.quick_config(cfg)
    print(
        f"{args.env} benchmark: {', '.join(cfg.methods) or 'none of ours'}"
        + (" + imitation's GAIL, AIRL" if args.peer else "")
        + f"; {cfg.seeds} seeds; "
        f"{cfg.algo.env_steps} env steps per run; {cfg.n_demos} demos from {mj.demo_path(cfg, args.env)}"
        + (" (resuming)" if args.resume else "")
        + (" [QUICK: smoke-test config, not a result]" if args.quick else ""),
        flush=True,
    )
    report = mj.run_bench(
        cfg,
        args.env,
        args.out,
        seed=args.seed,
        workers=args.workers,
        progress=not args.no_progress,
        resume=args.resume,
        peer=args.peer,
    )
    return _finish(args, report)


def _sweep(args: argparse.Namespace) -> int:
    from .benchmarks import sweep

    grid = sweep.parse_grid(args.grid)
    n = len(sweep.settings(grid)) * args.seeds
    print(
        f"sweep: {args.method} on {args.task}, {len(sweep.settings(grid))} settings x {args.seeds} seeds "
        f"= {n} runs" + (" [QUICK: smoke-test config, not a result]" if args.quick else ""),
        flush=True,
    )
    report = sweep.run_sweep(
        args.task,
        args.config,
        args.method,
        grid,
        args.out,
        seeds=args.seeds,
        seed=args.seed,
        metric=args.metric,
        quick=args.quick,
        workers=args.workers,
        progress=not args.no_progress,
        resume=args.resume,
    )
    return _finish(args, report)


def _bench_rl(args: argparse.Namespace) -> int:
    from .benchmarks import rl

    cfg = rl.load_bench(args.config)
    if args.methods is not None:
        cfg = dataclasses.replace(cfg, methods=split_names(args.methods))
        rl.check_methods(cfg.methods)
    if args.seeds is not None:
        cfg = dataclasses.replace(cfg, seeds=args.seeds)
    if args.env_steps is not None:
        cfg = dataclasses.replace(cfg, env_steps=args.env_steps)
    if args.quick:
        cfg = rl.quick_config(cfg)
    print(
        f"{args.env}, true reward: {', '.join(cfg.methods)}; {cfg.seeds} seeds; {cfg.env_steps} "
        f"env steps per run"
        + (" (resuming)" if args.resume else "")
        + (" [QUICK: smoke-test config, not a result]" if args.quick else ""),
        flush=True,
    )
    report = rl.run_bench(
        cfg,
        args.env,
        args.out,
        seed=args.seed,
        workers=args.workers,
        progress=not args.no_progress,
        resume=args.resume,
    )
    return _finish(args, report)


def _bench_dynamics(args: argparse.Namespace) -> int:
    from .benchmarks import dynamics as dyn

    cfg = dyn.DynamicsBenchConfig()
    if args.envs:
        cfg = dataclasses.replace(cfg, envs=tuple(args.envs.split(",")))
    if args.models:
        from .models.dynamics import MODEL_KINDS

        cfg = dataclasses.replace(cfg, models=tuple(args.models.split(",")))
        unknown = [m for m in cfg.models if m not in MODEL_KINDS]
        if unknown:
            raise ValueError(f"unknown models {unknown} ({', '.join(MODEL_KINDS)})")
    if args.demo_dir:
        cfg = dataclasses.replace(cfg, demo_dir=Path(args.demo_dir))
    if args.steps is not None:
        cfg = dataclasses.replace(cfg, steps=args.steps)
    if args.seeds is not None:
        cfg = dataclasses.replace(cfg, seeds=args.seeds)
    if args.attention_blocks is not None:
        cfg = dataclasses.replace(cfg, attention_blocks=args.attention_blocks)
    if args.quick:
        cfg = dyn.quick_config(cfg)
    print(
        f"dynamics benchmark: {', '.join(cfg.models)} on {', '.join(cfg.envs)}; {cfg.seeds} seeds, "
        f"{cfg.steps} Adam steps each; attention blocks: {cfg.attention_blocks}"
        + (" [QUICK: smoke-test config, not a result]" if args.quick else ""),
        flush=True,
    )
    report = dyn.run_bench(cfg, args.out, workers=args.workers, progress=not args.no_progress)
    return _finish(args, report)


def _expert(args: argparse.Namespace) -> int:
    from . import experts

    if args.expert_cmd == "train":
        rec = experts.train_expert(
            args.env,
            args.out,
            args.steps,
            seed=args.seed,
            eval_every=args.eval_every,
            progress=not args.no_progress,
            resume=args.resume,
            stop_after=args.stop_after,
        )
        if args.stop_after is not None:
            print(
                f"SAC expert for {args.env}: stopped at {args.stop_after} env steps "
                f"({rec['wall_s']:.0f} s in all), best training-seed evaluation "
                f"{rec['eval_return_mean']:.0f}; continue with the same command and --resume"
            )
            return 0
        print(
            f"SAC expert for {args.env}: {args.steps} env steps in {rec['wall_s']:.0f} s; "
            f"return {rec['eval_return_mean']:.0f} +- {rec['eval_return_std']:.0f} over "
            f"{rec['eval_episodes']} held-out episodes -> {args.out}"
        )
        return 0
    res = experts.sample_demos(
        args.expert, args.env, args.n, args.seed, args.out, progress=not args.no_progress
    )
    print(
        f"{res['episodes']} {args.env} demos, return {res['return_mean']:.0f} +- "
        f"{res['return_std']:.0f}, {res['steps']} steps -> {res['path']}"
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    from .algos import ALGOS

    p = Parser(
        prog="mairl",
        description="MAIRL: model-based adversarial inverse RL with a self-attention dynamics model.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = p.add_subparsers(dest="cmd", required=True)

    BY_TASK = "by --task: gridworld, reach_table3, grasp_train, mujoco_scratch (Ant-v5: mujoco_scratch_ant)"

    def common(sp, out_default=None, config_default="gridworld"):
        sp.add_argument(
            "--config",
            default=config_default,
            help=f"experiment YAML: a path, or a name under config/ (default: {config_default or BY_TASK})",
        )
        sp.add_argument("--out", default=out_default, required=out_default is None, help="output directory")
        sp.add_argument("--no-progress", action="store_true", help="no progress bars")

    def threads_arg(sp):
        sp.add_argument(
            "--threads",
            type=count_arg,
            default=None,
            help="torch threads per run (default: OMP_NUM_THREADS if set, else the cores shared "
            "among the runs going at once; give 1 when other processes share the machine; with Ray: 1, "
            "and each run asks Ray for this many CPUs)",
        )
        sp.add_argument(
            "--backend",
            choices=("pool", "ray"),
            default=None,
            help="where the runs go: pool (processes on this machine, the default) or ray "
            "(a local Ray instance on 127.0.0.1 started for the run, or the cluster at --address)",
        )
        sp.add_argument(
            "--address",
            default=None,
            help="join the Ray cluster at this address (e.g. HEAD:6379; implies --backend ray)",
        )

    def seeded_runs(
        sp,
        seed_help="base seed; runs use S, S+1, ... (default 0)",
        quick_help="tiny smoke-test config; not a result",
    ):
        """The arguments every multi-seed benchmark shares."""
        sp.add_argument("--seed", type=seed_arg, default=0, help=seed_help)
        sp.add_argument(
            "--seeds", type=count_arg, default=None, help="number of seeds (default: from the config)"
        )
        sp.add_argument("--quick", action="store_true", help=quick_help)
        sp.add_argument(
            "--workers", type=count_arg, default=None, help="parallel processes (default: all cores)"
        )
        threads_arg(sp)

    def resume_arg(sp, also=""):
        sp.add_argument(
            "--resume",
            action="store_true",
            help=f"skip the runs already finished in --out/runs{also} (a long bench in pieces)",
        )

    d = sub.add_parser(
        "demo",
        help="the reach pipeline in-process: demos, MAIRL and BC training, "
        "evaluation -> runs/demo (`make demo` / mairl-ros-demo: the "
        "same through ROS 2)",
    )
    common(d, "runs/demo", config_default="reach_train")
    d.add_argument("--seed", type=seed_arg, default=0)
    d.set_defaults(func=_demo)

    r = sub.add_parser("demos", help="record scripted-operator demos (teleop path) as rosbag2 MCAP")
    r.add_argument("--task", choices=["reach", "grasp"], default="reach")
    r.add_argument("--n", type=count_arg, default=50, help="number of successful episodes (default 50)")
    r.add_argument("--seed", type=seed_arg, default=0)
    r.add_argument("--out", required=True, help="dataset directory (episode_NNN bags)")
    r.add_argument("--no-progress", action="store_true", help="no progress bars")
    r.set_defaults(func=_demos)

    da = sub.add_parser(
        "data", help="demo datasets (directories of MCAP bags): info, validate, delete-episode, merge"
    )
    dasub = da.add_subparsers(dest="data_cmd", required=True)
    di = dasub.add_parser("info", help="episodes, steps, topics, success and operator per bag")
    di.add_argument("dataset", help="dataset directory (episode bags)")
    di.add_argument("--json", action="store_true", help="print the full record as JSON")
    dv = dasub.add_parser(
        "validate",
        help="check every bag as a trainer reads it; exit 1 and one line per problem when it is not sound",
    )
    dv.add_argument("dataset", help="dataset directory (episode bags)")
    dd = dasub.add_parser("delete-episode", help="remove one episode bag from a dataset")
    dd.add_argument("dataset", help="dataset directory (episode bags)")
    dd.add_argument("episode", help="its name (episode_003) or index (3)")
    dm = dasub.add_parser(
        "merge",
        help="copy the bags of several datasets into a new one, renumbered; every bag is checked first",
    )
    dm.add_argument("sources", nargs="+", help="dataset directories, in order")
    dm.add_argument("--out", required=True, help="the new dataset directory")
    for sp in (di, dv, dd, dm):
        sp.set_defaults(func=_data)

    ex = sub.add_parser("expert", help="HalfCheetah/Ant experts (SAC) and their demos (Table II)")
    exsub = ex.add_subparsers(dest="expert_cmd", required=True)
    et = exsub.add_parser(
        "train",
        help="train a SAC expert on the true reward; writes the actor (safetensors) and expert.json to OUT",
    )
    et.add_argument("--env", required=True, choices=["HalfCheetah-v5", "Ant-v5"])
    et.add_argument("--steps", type=count_arg, default=300_000, help="env steps (default 300000)")
    et.add_argument(
        "--eval-every",
        type=count_arg,
        default=25_000,
        help="env steps between evaluations; the best evaluated actor is kept",
    )
    et.add_argument(
        "--resume",
        action="store_true",
        help="continue the interrupted run in OUT (its SAC state is saved to "
        "OUT/training_state at every evaluation, and deleted when a run finishes)",
    )
    et.add_argument(
        "--stop-after",
        type=count_arg,
        default=None,
        metavar="N",
        help="stop at N env steps (a multiple of --eval-every), keeping the state "
        "for --resume: a long run in pieces",
    )
    et.add_argument("--seed", type=seed_arg, default=0)
    et.add_argument("--out", required=True, help="expert directory")
    et.add_argument("--no-progress", action="store_true", help="no progress bars")
    et.set_defaults(func=_expert)
    ed = exsub.add_parser("demos", help="sample expert episodes into a compressed .npz")
    ed.add_argument("--env", required=True, choices=["HalfCheetah-v5", "Ant-v5"])
    ed.add_argument("--expert", required=True, help="expert directory (`mairl expert train`)")
    ed.add_argument("--n", type=count_arg, default=50, help="episodes (default 50)")
    ed.add_argument("--seed", type=seed_arg, default=0, help="reset seed of the first episode")
    ed.add_argument("--out", required=True, help="output .npz")
    ed.add_argument("--no-progress", action="store_true", help="no progress bars")
    ed.set_defaults(func=_expert)

    b = sub.add_parser("bench", help="benchmarks that write results.json and plots")
    bsub = b.add_subparsers(dest="bench", required=True)
    g = bsub.add_parser("gridworld", help="Table I + Fig. 3: Expert, GAIL, GAN-GCL, AIRL, MAIRL on GridWorld")
    common(g)
    seeded_runs(g, quick_help="reduced smoke-test config (2 seeds, 3200 env steps); not a result")
    resume_arg(g)
    g.set_defaults(func=_bench_gridworld)

    u = bsub.add_parser(
        "ur5", help="Table III in sim: Expert, Random, BC, GAIL, AIRL, MGAIL, MAIRL on UR5 reach or grasp"
    )
    common(u, config_default=None)
    u.add_argument("--task", choices=["reach", "grasp"], default="reach")
    u.add_argument(
        "--demos", default=None, help="demo bags (default: generate OUT/demos with the config's demos.seed)"
    )
    seeded_runs(u)
    u.add_argument(
        "--n-demos",
        type=count_arg,
        default=None,
        help="train on the first N demos (default: from the config); the demo-count sweep",
    )
    u.add_argument("--methods", default=None, help="comma-separated subset, e.g. BC,MAIRL")
    u.add_argument(
        "--publish",
        default=None,
        metavar="DIR",
        help="also copy MAIRL's checkpoint of the base seed to DIR/TASK_mairl.pt "
        "(bench/checkpoints/ holds the ones RESULTS.md quotes)",
    )
    resume_arg(u, " and continue a stopped one from its checkpoint there")
    u.set_defaults(func=_bench_ur5)

    x = bsub.add_parser(
        "transfer",
        help="reward transfer: frozen learned rewards train new policies "
        "on a changed robot, beside the policies moved unchanged",
    )
    common(x, config_default="reach_transfer")  # the new policy's learner: rung 5's measured one
    x.add_argument("--task", choices=["reach"], default="reach")
    x.add_argument(
        "--source", required=True, help="output directory of a `mairl bench ur5` run (its checkpoints/)"
    )
    x.add_argument(
        "--env-config",
        default="ur5_reach_changed",
        help="env YAML of the changed robot (default: ur5_reach_changed)",
    )
    x.add_argument(
        "--rows",
        default=None,
        help="comma-separated, of: Expert, BC moved, MAIRL moved, "
        "MAIRL reward, GAIL reward (the default set), MAIRL(s) moved, MAIRL(s) reward, "
        "True reward (reach's own reward: a control for the learner)",
    )
    seeded_runs(x, seed_help="base seed; runs use S, S+1, ... and the source's checkpoints of those seeds")
    resume_arg(x, " and continue a stopped new policy's run from its checkpoint there")
    x.set_defaults(func=_bench_transfer)

    mjp = bsub.add_parser(
        "mujoco",
        help="Table II: MAIRL (attention/GRU/MLP models), AIRL, GAIL, "
        "GAN-GCL, MGAIL, BC on HalfCheetah-v5 or Ant-v5",
    )
    common(mjp, config_default="mujoco_train")
    mjp.add_argument(
        "--env",
        required=True,
        help="HalfCheetah-v5 or Ant-v5 (committed demos), or any gymnasium MuJoCo env id with --demos",
    )
    mjp.add_argument(
        "--demos",
        default=None,
        help="a demos .npz: arrays obs, acts, next_obs (episodes x steps x dim, or flat "
        "with episode_lengths), optional returns (README, 'Your own demos')",
    )
    mjp.add_argument(
        "--methods",
        default=None,
        help="comma-separated subset, e.g. 'MAIRL (s,a),BC'; '' for none (peers only)",
    )
    mjp.add_argument(
        "--peer",
        choices=["imitation"],
        default=None,
        help="also run the imitation library's GAIL and AIRL (v4 envs, its own venv "
        ".peer-venv, built on first use) on the same demos and budget",
    )
    mjp.add_argument(
        "--demo-dir", default=None, help="where ENV.npz demos are (default: bench/demos of this checkout)"
    )
    seeded_runs(mjp)
    mjp.add_argument("--env-steps", type=count_arg, default=None, help="budget (default: config)")
    mjp.add_argument(
        "--resume",
        action="store_true",
        help="skip our runs already finished in --out/runs and continue the others from "
        "their checkpoints (exactly); the imitation peers restart",
    )
    mjp.set_defaults(func=_bench_mujoco)

    rlp = bsub.add_parser(
        "rl",
        help="our policy learner, SVG(H), on a task's TRUE reward beside "
        "stable-baselines3's SAC (learning curves, returns at 100k/300k)",
    )
    common(rlp, config_default="rl")
    rlp.add_argument("--env", required=True, help="a gymnasium env id, e.g. HalfCheetah-v5")
    rlp.add_argument(
        "--methods", default=None, help="comma-separated subset, e.g. 'SVG(0),SVG(1)' (default: the config's)"
    )
    seeded_runs(rlp)
    rlp.add_argument("--env-steps", type=count_arg, default=None, help="budget (default: config)")
    rlp.add_argument(
        "--resume",
        action="store_true",
        help="skip runs already finished in --out and continue ours from checkpoints",
    )
    rlp.set_defaults(func=_bench_rl)

    dy = bsub.add_parser(
        "dynamics",
        help="attention vs GRU vs MLP dynamics models: open-loop k-step error on held-out episodes, and cost",
    )
    dy.add_argument("--out", required=True, help="output directory")
    dy.add_argument(
        "--envs", default=None, help="comma-separated (default: HalfCheetah-v5,Ant-v5,UR5Reach-v0)"
    )
    dy.add_argument("--models", default=None, help="comma-separated (default: attention,gru,mlp)")
    dy.add_argument(
        "--demo-dir", default=None, help="where ENV.npz demos are (default: bench/demos of this checkout)"
    )
    dy.add_argument("--steps", type=count_arg, default=None, help="Adam steps per model (default 5000)")
    dy.add_argument("--seeds", type=count_arg, default=None, help="seeds per model (default 3)")
    dy.add_argument(
        "--attention-blocks",
        type=non_negative_arg,
        default=None,
        help="the attention model's Transformer-decoder blocks (default 2; 0: eq. 13's single attention)",
    )
    dy.add_argument("--quick", action="store_true", help="tiny smoke-test config; not a result")
    dy.add_argument("--workers", type=count_arg, default=None, help="parallel processes (default: all cores)")
    threads_arg(dy)
    dy.add_argument("--no-progress", action="store_true", help="no progress bars")
    dy.set_defaults(func=_bench_dynamics)

    lat = bsub.add_parser(
        "latency",
        add_help=False,
        help="policy server + safety node over DDS (loopback): latency p50/p99/max "
        "and missed periods at 125 and 500 Hz (options: mairl bench latency -h)",
    )
    lat.set_defaults(func=_bench_ros)
    soak = bsub.add_parser(
        "soak",
        add_help=False,
        help="the deploy graph for N minutes: node memory, command rate, e-stop "
        "latency (options: mairl bench soak -h)",
    )
    soak.set_defaults(func=_bench_ros)

    fz = bsub.add_parser(
        "fuzz-bags",
        help="the demo loader against damaged and adversarial MCAP "
        "bags: every case a valid load or one clear error",
    )
    fz.add_argument("--out", required=True, help="output directory (results.json)")
    fz.add_argument("--cases", type=count_arg, default=3000, help="damaged bags to try (default 3000)")
    fz.add_argument("--seed", type=seed_arg, default=0)
    fz.add_argument("--no-progress", action="store_true", help="no progress bar")
    fz.set_defaults(func=_bench_fuzz_bags)

    sw = sub.add_parser(
        "sweep",
        help="one method over a grid of algorithm settings x seeds: a metric per setting, a plot",
    )
    common(sw, config_default=None)
    sw.add_argument("--task", choices=("gridworld", "reach", "grasp"), default="gridworld")
    sw.add_argument("--method", required=True, help="a trained row of the task's bench ('MAIRL(s)', MAIRL)")
    sw.add_argument(
        "--grid",
        action="append",
        default=[],
        metavar="KEY=V1,V2",
        help="an algo setting and its values (repeat for more keys; every combination runs), "
        "e.g. --grid svg.horizon=0,1 --grid disc_steps=5,10",
    )
    sw.add_argument(
        "--metric",
        default=None,
        help="gridworld: return (default) or reward_pearson; reach/grasp: success_rate (default) "
        "or final_distance_median",
    )
    sw.add_argument("--seed", type=seed_arg, default=0, help="base seed; runs use S, S+1, ... (default 0)")
    sw.add_argument("--seeds", type=count_arg, default=3, help="seeds per setting (default 3)")
    sw.add_argument("--quick", action="store_true", help="the task's smoke-test budget; not a result")
    sw.add_argument("--workers", type=count_arg, default=None, help="parallel processes (default: all cores)")
    threads_arg(sw)
    resume_arg(sw, " and continue a stopped UR5 run from its checkpoint there")
    sw.set_defaults(func=_sweep)

    t = sub.add_parser("train", help="train one method; checkpoints, TensorBoard, resume")
    common(t, config_default=None)
    t.add_argument("--task", choices=(*TASKS, "mujoco"), default="gridworld")
    t.add_argument(
        "--env",
        default=None,
        help="--task mujoco: a gymnasium MuJoCo env id (HalfCheetah-v5, Hopper-v4, ...)",
    )
    t.add_argument("--algo", choices=ALGOS, default="mairl", help="bc: behaviour cloning (robot tasks only)")
    t.add_argument(
        "--demos",
        default=None,
        help="reach/grasp: directory of demo bags (`mairl demos`); "
        "mujoco: a demos .npz (README, 'Your own demos')",
    )
    t.add_argument(
        "--n-demos",
        type=count_arg,
        default=None,
        help="reach/grasp: use the first N demos (default: from the config)",
    )
    t.add_argument(
        "--mode",
        choices=["s", "s,a"],
        default="s",
        metavar="s|s,a",
        help="reward input: s (state, the default) or s,a (state-action; the UR5 bench's MAIRL row)",
    )
    t.add_argument("--seed", type=seed_arg, default=0)
    t.add_argument("--env-steps", type=count_arg, default=None, help="budget (default: from the config)")
    t.add_argument(
        "--checkpoint-every",
        type=count_arg,
        default=20,
        help="iterations between checkpoints (default 20; one is always saved at the end)",
    )
    t.add_argument(
        "--resume",
        action="store_true",
        help="continue from OUT/checkpoint.pt, exactly as if never interrupted (same "
        "method, mode, seed and config; only --env-steps may change)",
    )
    t.set_defaults(func=_train)

    e = sub.add_parser("eval", help="evaluate a trained policy; writes results.json")
    common(e, config_default=None)
    e.add_argument("--task", choices=TASKS, default="gridworld")
    e.add_argument(
        "--video",
        action="store_true",
        help="reach/grasp: also write OUT/episodes.gif of the first 3 episodes (headless)",
    )
    e.add_argument("--policy", required=True, help="checkpoint written by `mairl train`")
    e.add_argument(
        "--episodes",
        type=count_arg,
        default=None,
        help="test episodes (default: reach/grasp: the config's eval.episodes; gridworld: 100)",
    )
    e.add_argument(
        "--seed",
        type=seed_arg,
        default=None,
        help="seed of the test episodes' start states / targets (default: reach/grasp: "
        "the config's eval.seed; gridworld: 10000)",
    )
    e.set_defaults(func=_eval)
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, rest = parser.parse_known_args(argv)
    if getattr(args, "func", None) is _bench_ros:  # its options are parsed by its own module,
        args.ros_args = rest  # in its own process: nothing here to import first
        return _bench_ros(args)
    if rest:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    from .checkpoint import CheckpointError
    from .config import ConfigError
    from .eval.results import git_commit
    from .experts import ExpertError

    args.commit_at_start = git_commit()  # the code a long run actually ran
    import torch

    # The networks are tiny, so a second intra-op thread buys little, and beside other
    # processes it oversubscribes the cores: `mairl demo` with torch's default 2 threads beside
    # two benchmark workers trained at 40-100 env steps/s, against 420 when it ran alone.
    torch.set_num_threads(1)
    from .benchmarks import set_backend, set_job_threads, take_failed_runs

    set_job_threads(getattr(args, "threads", None))  # the torch threads of the benches' runs
    take_failed_runs()  # a command reports only its own runs' failures (main may run more than once)
    try:
        address = getattr(args, "address", None)
        set_backend(getattr(args, "backend", None) or ("ray" if address else "pool"), address)
        return args.func(args)
    except UsageError as exc:
        print(f"mairl: error: {exc}", file=sys.stderr)
        raise
    except (
        ConfigError,
        CheckpointError,
        ExpertError,
        FileExistsError,
        FileNotFoundError,
        ValueError,
        RuntimeError,
    ) as exc:
        print(f"mairl: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("mairl: interrupted; the last checkpoint is kept", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
