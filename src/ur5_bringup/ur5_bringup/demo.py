"""The main job through ROS 2 (``make demo``): UR5 reaching on the MuJoCo sim node.

1. Record: the reaching stack in record mode (``mairl-ros-up reaching --mode record
   --operator scripted``: sim, safety, recorder, scripted teleop) records the demos over
   the topics into MCAP bags; failed attempts are re-recorded. The sim runs
   up to ``--real-time-factor`` times faster than real time, in lockstep with the other three
   nodes, which time on its /clock (``use_sim_time``): it waits for each control period's
   command, so every period is what the in-process env makes of that command.
2. Train: ``mairl-trainer`` runs MAIRL from scratch (config/reach_table3.yaml, Table III's
   MAIRL row: no BC) from those bags; its on-policy data comes from an in-process copy of
   the same sim (``collect:=sim``, much faster than real time; ``--collect ros`` sends every
   training episode over the topics). Every 10 iterations the agent's and the explorer's
   policies are scored on 50 sim episodes and the best so far is served.
3. Evaluate: the deploy stack (sim, safety, policy server) runs the episodes on blocks the
   policy never trained on (the config's eval seed), the sim again 4 times faster than real
   time (``--real-time-factor``) with the safety node and the policy server timing their
   limits on its /clock; an episode is reset through the sim's
   service and ends after the task's number of control periods; success = the fingertip
   within 5 cm of the block at the end. The same policy is also evaluated in-process on the
   same blocks (``mairl eval``'s path), as a check that the ROS path behaves like the env.

Writes ``OUT/results.json`` (schema: docs/results.md), ``OUT/final_distance.png`` and prints
the table. Every stage resumes: existing demos are kept and topped up, a finished training
run is reused (an interrupted one continues).
"""

from __future__ import annotations

import argparse
import math
import sys
import threading
import time
from pathlib import Path

from .stack import params_file, stack
from .up import start_nodes, stop_nodes

RTF = 4.0  # record and evaluate with the sim at 4x real time (--real-time-factor); see bench/NOTEBOOK.md


def _progress(total: int, desc: str, enabled: bool):
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, disable=not enabled, dynamic_ncols=True)


class Log:
    """Node output into a log file."""

    def __init__(self, path: Path):
        self.file = open(path, "a")  # noqa: SIM115 - closed in close()
        self.lock = threading.Lock()

    def __call__(self, line: str) -> None:
        with self.lock:
            self.file.write(line)
            self.file.flush()

    def close(self) -> None:
        self.file.close()


class Follower:
    """A node of the demo's own, spun in a thread, that follows the stack's progress topics
    (the recorder's episode events, the trainer's progress) for the progress bars."""

    def __init__(self, name: str):
        import rclpy
        from rclpy.executors import SingleThreadedExecutor

        from mairl_ros.dds import apply_loopback_env

        apply_loopback_env()
        self.rclpy, self.context = rclpy, rclpy.Context()
        rclpy.init(context=self.context)
        self.node = rclpy.create_node(name, context=self.context)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self.running = True
        self.thread = threading.Thread(target=self._spin, daemon=True)
        self.thread.start()

    def _spin(self) -> None:
        while self.running and self.context.ok():
            self.executor.spin_once(timeout_sec=0.1)

    def subscribe(self, msg_type, topic: str, callback) -> None:
        from mairl_ros.node import event_qos

        self.node.create_subscription(msg_type, topic, callback, event_qos())

    def close(self) -> None:
        self.running = False
        self.thread.join(timeout=5)
        self.executor.shutdown()
        self.node.destroy_node()
        self.rclpy.try_shutdown(context=self.context)


def record(out: Path, n: int, seed: int, log: Log, progress: bool, rtf: float = 1.0) -> Path:
    from mairl_core.data.recorder import next_episode_index

    demos = out / "demos"
    have = next_episode_index(demos) if demos.is_dir() else 0
    if have >= n:
        print(f"[1/3] demos: {have} recorded episodes in {demos} (kept)")
        return demos
    print(
        f"[1/3] recording {n - have} scripted-teleop demos over ROS into {demos} "
        f"(the sim at {rtf:g}x real time: about {4.3 * (n - have) / rtf:.0f} s)"
    )
    from std_msgs.msg import String

    bar = _progress(n, "demos", progress)
    bar.update(have)
    follower = Follower("mairl_demo_record_progress")
    follower.subscribe(
        String, "/mairl/episode/event", lambda m: bar.update(1) if m.data.startswith("saved") else None
    )
    specs = stack(
        "reaching",
        mode="record",
        operator="scripted",
        episodes=n,  # n in total
        dataset=str(demos),
        seed=seed,
        real_time_factor=rtf,
    )  # episode i gets block seed + i, resumed or not
    procs = start_nodes(specs, str(params_file("reaching")), sink=log)
    try:
        recorder = dict(procs)["mairl_recorder"]
        while recorder.poll() is None:
            dead = [name for name, p in procs if p.poll() is not None and name != "mairl_recorder"]
            if dead:
                raise RuntimeError(f"{dead[0]} exited during recording (log: {log.file.name})")
            time.sleep(0.2)
    finally:
        stop_nodes(procs)
        follower.close()
        bar.close()
    if recorder.returncode != 0 or next_episode_index(demos) < n:
        raise RuntimeError(f"recording failed (log: {log.file.name})")
    return demos


def train(
    out: Path, demos: Path, config: str, collect: str, log: Log, progress: bool, select_episodes: int = 0
) -> Path:
    from mairl_core.robot import load_robot_experiment

    policy = out / "policy" / "reach_mairl.pt"
    budget = load_robot_experiment(config).algo.env_steps
    run_ckpt = policy.parent / "mairl_run" / "checkpoint.pt"
    if policy.is_file() and _trained_steps(run_ckpt) >= budget:
        print(f"[2/3] policy: {policy} ({budget} env steps, kept)")
        return policy
    print(
        f"[2/3] training MAIRL ({config}, {budget} env steps) from {demos}; on-policy data "
        f"{'over ROS' if collect == 'ros' else 'from an in-process copy of the sim'}"
    )
    from diagnostic_msgs.msg import DiagnosticStatus

    bar = _progress(budget, "MAIRL env steps", progress)

    def on_progress(msg):
        steps = next((int(kv.value) for kv in msg.values if kv.key == "env_steps"), None)
        if steps is not None:
            bar.update(max(min(steps, budget) - bar.n, 0))

    follower = Follower("mairl_demo_train_progress")
    follower.subscribe(DiagnosticStatus, "/mairl/trainer/progress", on_progress)
    specs = [
        s
        for s in stack("reaching", mode="train", policy=str(policy), dataset=str(demos))
        if s.executable == "mairl-trainer"
    ]
    specs[0].parameters.update(
        collect=collect, config=config, resume=True, select_episodes=select_episodes, checkpoint_every=10
    )
    if collect == "ros":  # the robot the episodes run on
        specs = [
            s
            for s in stack("reaching", mode="train", policy=str(policy), dataset=str(demos))
            if s.executable != "mairl-trainer"
        ] + specs
    procs = start_nodes(specs, str(params_file("reaching")), sink=log)
    try:
        trainer = dict(procs)["mairl_trainer"]
        trainer.wait()
    finally:
        stop_nodes(procs)
        follower.close()
        bar.close()
    if trainer.returncode != 0 or not policy.is_file():
        raise RuntimeError(f"training failed (log: {log.file.name})")
    return policy


def _trained_steps(ckpt: Path) -> int:
    if not ckpt.is_file():
        return 0
    from mairl_core.checkpoint import load_checkpoint

    try:
        return int(load_checkpoint(ckpt)["state"].get("env_steps", 0))
    except Exception:  # noqa: BLE001 - an unreadable checkpoint means: train again
        return 0


def evaluate_over_ros(
    policy: Path,
    episodes: int,
    seed: int,
    steps: int,
    radius: float,
    log: Log,
    progress: bool,
    real_time_factor: float = 1.0,
) -> list[float]:
    """Final fingertip-to-block distances of ``episodes`` episodes through policy server +
    safety + sim node (the sim at ``real_time_factor``, the other two on its /clock)."""
    import rclpy
    from geometry_msgs.msg import PointStamped
    from sensor_msgs.msg import JointState
    from std_srvs.srv import SetBool, Trigger

    from mairl_ros.dds import apply_loopback_env
    from mairl_ros.node import make_executor

    apply_loopback_env()
    specs = stack("reaching", mode="deploy", policy=str(policy), seed=seed, real_time_factor=real_time_factor)
    procs = start_nodes(specs, str(params_file("reaching")), sink=log)
    ctx = rclpy.Context()
    rclpy.init(context=ctx)
    node = rclpy.create_node("mairl_demo_evaluator", context=ctx)
    executor = make_executor(ctx)
    executor.add_node(node)
    state = {"commands": 0, "tip": None, "target": None}
    node.create_subscription(
        JointState, "/mairl/command", lambda m: state.__setitem__("commands", state["commands"] + 1), 50
    )
    node.create_subscription(
        PointStamped,
        "/mairl/fingertip",
        lambda m: state.__setitem__("tip", (m.point.x, m.point.y, m.point.z)),
        10,
    )
    node.create_subscription(
        PointStamped,
        "/mairl/target",
        lambda m: state.__setitem__("target", (m.point.x, m.point.y, m.point.z)),
        10,
    )
    reset = node.create_client(Trigger, "/mairl/sim/reset")
    enable = node.create_client(SetBool, "/mairl/policy/enable")

    def spin_until(cond, what, timeout=60.0):
        end = time.monotonic() + timeout
        while not cond():
            for name, p in procs:
                if p.poll() is not None:
                    raise RuntimeError(f"{name} exited during evaluation (log: {log.file.name})")
            if time.monotonic() > end:
                raise RuntimeError(f"timed out waiting for {what} (log: {log.file.name})")
            executor.spin_once(timeout_sec=0.01)

    finals: list[float] = []
    bar = _progress(episodes, "evaluation (ROS)", progress)
    try:
        spin_until(
            lambda: reset.service_is_ready() and enable.service_is_ready() and state["commands"] > 0,
            "the sim and the policy server",
            timeout=120.0,
        )

        def call(client, request, what):
            future = client.call_async(request)
            spin_until(future.done, what)

        for _ in range(episodes):
            # pause the policy; the safety node then holds the arm (its stale timeout) before
            # the sim's reset, so no command computed from the old pose reaches the new episode
            call(enable, SetBool.Request(data=False), "the policy server to pause")
            pause_end = time.monotonic() + 0.25
            spin_until(lambda: time.monotonic() >= pause_end, "the pause")  # noqa: B023
            call(reset, Trigger.Request(), "the sim's reset")
            start = state["commands"]
            call(enable, SetBool.Request(data=True), "the policy server to resume")
            spin_until(lambda: state["commands"] - start >= steps, "the episode's commands")  # noqa: B023
            executor.spin_once(timeout_sec=0.01)
            finals.append(math.dist(state["tip"], state["target"]))
            bar.update(1)
            bar.set_postfix(success=f"{sum(d <= radius for d in finals) / len(finals):.2f}")
    finally:
        bar.close()
        executor.shutdown()
        node.destroy_node()
        rclpy.try_shutdown(context=ctx)
        stop_nodes(procs)
    return finals


def plot(path: Path, ros: list[float], local: list[float], radius: float) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    fig, ax = plt.subplots(figsize=(6, 3.5))
    bins = np.linspace(0, max(max(ros), max(local), radius * 2) * 100, 30)
    ax.hist(np.array(ros) * 100, bins=bins, alpha=0.6, label="over ROS (policy server + safety + sim)")
    ax.hist(np.array(local) * 100, bins=bins, alpha=0.6, label="in-process env, same blocks")
    ax.axvline(radius * 100, color="k", ls="--", lw=1, label="success radius")
    ax.set_xlabel("final fingertip-to-block distance (cm)")
    ax.set_ylabel("episodes")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv=None) -> int:
    from mairl_core.cli import Parser, count_arg, non_negative_arg, positive_float_arg

    ap = Parser(
        prog="mairl-ros-demo",
        description=__doc__.split("\n\n")[0],
        epilog=__doc__.split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument("--out", default="runs/demo", help="output directory (default runs/demo)")
    ap.add_argument("--config", default="reach_table3", help="training config (default reach_table3)")
    ap.add_argument(
        "--episodes",
        type=count_arg,
        default=None,
        help="evaluation episodes (default: the config's eval.episodes, 100)",
    )
    ap.add_argument(
        "--n-demos", type=count_arg, default=None, help="demos to record (default: the config's, 50)"
    )
    ap.add_argument(
        "--collect",
        choices=["sim", "ros"],
        default="sim",
        help="where the trainer's on-policy episodes run (default sim: in-process)",
    )
    ap.add_argument(
        "--select-episodes",
        type=non_negative_arg,
        default=50,
        help="sim episodes (training-seed targets) that score each checkpoint's policy; the "
        "trainer serves the best one (0: the last; default 50: on 16 a policy that tested "
        "at 0.92 won a tie at 1.00)",
    )
    ap.add_argument(
        "--real-time-factor",
        type=positive_float_arg,
        default=RTF,
        help="recording and evaluation: sim seconds per wall second; the other nodes then "
        f"time on the sim's /clock (use_sim_time) (default {RTF:g})",
    )
    ap.add_argument("--no-progress", action="store_true")
    args = ap.parse_args(argv)
    progress = not args.no_progress

    from mairl_core.config import load_config
    from mairl_core.envs.ur5_reach import ReachConfig
    from mairl_core.eval.results import git_commit, write_results
    from mairl_core.robot import evaluate_robot, load_robot_experiment
    from mairl_core.training import load_policy

    exp = load_robot_experiment(args.config)
    n_demos = args.n_demos or exp.demos.n_demos
    episodes = args.episodes or exp.eval.episodes
    env_cfg = load_config(ReachConfig, "ur5_reach")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    log = Log(out / "nodes.log")
    t0, commit = time.perf_counter(), git_commit()  # the code this run ran
    timings = {}
    try:
        t = time.perf_counter()
        demos = record(out, n_demos, exp.demos.seed, log, progress, args.real_time_factor)
        timings["record_s"] = time.perf_counter() - t
        t = time.perf_counter()
        policy = train(out, demos, args.config, args.collect, log, progress, args.select_episodes)
        timings["train_s"] = time.perf_counter() - t
        t = time.perf_counter()
        rtf = args.real_time_factor
        print(
            f"[3/3] evaluating {episodes} episodes over ROS (blocks of seed {exp.eval.seed}, never "
            f"trained on; the sim at {rtf:g}x real time: about "
            f"{episodes * (env_cfg.episode_steps * 0.04 / rtf + 0.3):.0f} s)"
        )
        ros = evaluate_over_ros(
            policy,
            episodes,
            exp.eval.seed,
            env_cfg.episode_steps,
            env_cfg.success_radius,
            log,
            progress,
            rtf,
        )
        timings["evaluate_s"] = time.perf_counter() - t
    except (RuntimeError, OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        log.close()
    pol, _ = load_policy(policy)
    local = evaluate_robot(pol, episodes, exp.eval.seed)
    radius = env_cfg.success_radius
    import numpy as np

    rows = [
        {
            "method": "MAIRL",
            "mode": "s,a",
            "env": "UR5Reach (ROS: policy server + safety + sim node)",
            "success_rate": float(np.mean([d <= radius for d in ros])),
            "episodes": episodes,
            "seeds": 1,
            "demos": n_demos,
            "final_distance_median": float(np.median(ros)),
            "eval_seed": exp.eval.seed,
        },
        {
            "method": "MAIRL",
            "mode": "s,a",
            "env": "UR5Reach-v0 (in-process, same blocks)",
            "success_rate": local["success_rate"],
            "episodes": episodes,
            "seeds": 1,
            "demos": n_demos,
            "final_distance_median": local["final_distance_median"],
            "eval_seed": exp.eval.seed,
        },
    ]
    write_results(
        out,
        "demo",
        rows,
        quick=False,
        wall_s=time.perf_counter() - t0,
        command="mairl-ros-demo " + " ".join(argv if argv is not None else sys.argv[1:]),
        commit_at_start=commit,
        timings_s={k: round(v, 1) for k, v in timings.items()},
        training={"config": args.config, "collect": args.collect, "env_steps": exp.algo.env_steps},
        real_time_factor=args.real_time_factor,
        final_distances_ros=ros,
        final_distances_in_process=local["final_distances"],
    )
    plot(out / "final_distance.png", ros, local["final_distances"], radius)
    print(f"\nUR5 reach, MAIRL from {n_demos} demos recorded over ROS; {episodes} episodes on unseen blocks")
    print(f"{'path':<48} {'success':>8} {'median final distance':>22}")
    for r in rows:
        print(f"{r['env']:<48} {r['success_rate']:>8.2f} {100 * r['final_distance_median']:>19.1f} cm")
    print(
        f"times: record {timings['record_s']:.0f} s, train {timings['train_s']:.0f} s, "
        f"evaluate {timings['evaluate_s']:.0f} s; total {time.perf_counter() - t0:.0f} s"
    )
    print(
        f"results: {out / 'results.json'}  plot: {out / 'final_distance.png'}  node logs: {out / 'nodes.log'}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
