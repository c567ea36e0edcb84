"""``mairl bench latency``: policy server + safety node over real DDS (loopback).

A stand-in for the driver, in this process, publishes ``/joint_states`` at ``hz`` (125 Hz
as a CB3 UR5's driver, 500 Hz as an e-Series') with the block on ``/mairl/target``, and
listens to ``/forward_position_controller/commands``. ``mairl-policy-server``
(``trigger:=joint_states``, deciding on every state) and ``mairl-safety`` run as their own
processes. Latency = from publishing a joint state to receiving the safety node's command
computed from it: the policy server stamps its ``/mairl/command`` with the state's stamp,
and the safety node forwards commands one for one and in order, so the n-th driver command
belongs to the n-th ``/mairl/command``. A period is missed when no new command reaches the
driver between two consecutive states; ``late`` counts commands that arrive more than one
period after their state, ``unanswered`` states that got no command. Timings include this process's own
Python dispatch; they are reported, never asserted.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

from .dds import apply_loopback_env
from .node import make_executor, make_realtime

REPO = Path(__file__).resolve().parents[3]


def _start(module: str, log: Path, **params) -> subprocess.Popen:
    args = [sys.executable, "-m", f"mairl_ros.{module}", "--ros-args"]
    for k, v in params.items():
        args += ["-p", f"{k}:={v}"]
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in [str(Path(__file__).resolve().parents[1]), env.get("PYTHONPATH", "")] if p
    )
    return subprocess.Popen(args, env=env, stdout=open(log, "w"), stderr=subprocess.STDOUT)  # noqa: SIM115


LAYOUTS = ("separate", "composed")


def measure(
    hz: float,
    duration: float,
    policy: str,
    log_dir: Path,
    progress: bool = True,
    layout: str = "separate",
    rt_priority: int = 0,
) -> dict:
    """One rate and layout: start the two nodes, stream states for ``duration`` s, return the
    row."""
    import rclpy
    from geometry_msgs.msg import PointStamped
    from sensor_msgs.msg import JointState
    from std_msgs.msg import Float64MultiArray

    from mairl_core.envs.sim_arm import SimArm

    arm = SimArm("reach", seed=0)
    q, target, names = arm.positions, arm.target, arm.joint_names
    tag = f"{layout}_{hz:g}hz"
    server = {
        "policy": policy,
        "trigger": "joint_states",
        "rate": hz,
        "watch": "false",
        "rt_priority": rt_priority,
    }
    if layout == "composed":  # -p reaches both nodes: each takes the parameters it declares
        procs = [_start("control", log_dir / f"control_{tag}.log", watchdog_rate=hz, **server)]
    else:
        procs = [
            _start("safety_node", log_dir / f"safety_{tag}.log", watchdog_rate=hz, rt_priority=rt_priority),
            _start("policy_server", log_dir / f"policy_{tag}.log", **server),
        ]
    ctx = rclpy.Context()
    rclpy.init(context=ctx)
    node = rclpy.create_node("mairl_latency_driver", context=ctx)
    executor = make_executor(ctx)
    executor.add_node(node)
    sent: dict[int, int] = {}  # stamp (ns) -> publish time (perf ns)
    cmd_stamps: list[int] = []
    cmd_times: list[int] = []
    out_times: list[int] = []
    node.create_subscription(
        JointState,
        "/mairl/command",
        lambda m: (
            cmd_stamps.append(m.header.stamp.sec * 10**9 + m.header.stamp.nanosec),
            cmd_times.append(time.perf_counter_ns()),
        ),
        100,
    )
    node.create_subscription(
        Float64MultiArray,
        "/forward_position_controller/commands",
        lambda m: out_times.append(time.perf_counter_ns()),
        100,
    )
    pub_js = node.create_publisher(JointState, "/joint_states", 100)
    pub_target = node.create_publisher(PointStamped, "/mairl/target", 10)
    stop = threading.Event()
    sched = "SCHED_OTHER"
    if rt_priority > 0:  # this driver stand-in too, before its listener thread starts
        granted, message = make_realtime(rt_priority)
        sched = f"SCHED_FIFO {rt_priority}" if granted else f"SCHED_OTHER ({message})"
    spinner = threading.Thread(
        target=lambda: [executor.spin_once(timeout_sec=0.05) for _ in iter(stop.is_set, True)], daemon=True
    )
    spinner.start()

    last = [0]

    def publish_state(k: int) -> None:  # noqa: ARG001 - k: the state's index
        msg = JointState()
        # the time now (the safety node ignores states stamped more than its timeout ago),
        # unique per state: the stamp is the key that pairs a state with its command
        stamp = last[0] = max(last[0] + 1, time.time_ns())
        msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(stamp, 10**9)
        msg.name, msg.position, msg.velocity = list(names), q.tolist(), [0.0] * 6
        sent[stamp] = time.perf_counter_ns()
        pub_js.publish(msg)

    def publish_target() -> None:
        t = PointStamped()
        t.point.x, t.point.y, t.point.z = (float(v) for v in target)
        pub_target.publish(t)

    try:
        # warm up: until both nodes answer (imports, discovery), then forget it
        deadline = time.monotonic() + 60
        k = 0
        while not out_times:
            if time.monotonic() > deadline or any(p.poll() is not None for p in procs):
                raise RuntimeError(f"the nodes did not answer; logs in {log_dir}")
            publish_target()
            publish_state(k)
            k += 1
            time.sleep(0.02)
        time.sleep(0.5)
        sent.clear(), cmd_stamps.clear(), cmd_times.clear(), out_times.clear()
        period_ns = int(1e9 / hz)
        start = time.perf_counter_ns()
        n = int(duration * hz)
        next_report = time.monotonic()
        for i in range(n):
            due = start + i * period_ns
            now = time.perf_counter_ns()
            if due > now:  # sleep, never spin: a spinning thread would hold the GIL from the listener
                time.sleep((due - now) / 1e9)
            publish_state(k + i)
            if i % max(1, int(hz / 5)) == 0:
                publish_target()
            if progress and time.monotonic() >= next_report:
                print(f"\r  {hz:g} Hz: {i / hz:5.1f} / {duration:g} s", end="", flush=True)
                next_report += 1.0
        time.sleep(0.5)  # let the last commands arrive
    finally:
        stop.set()
        spinner.join(timeout=5)
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
        executor.shutdown()
        node.destroy_node()
        rclpy.try_shutdown(context=ctx)
    if progress:
        print()
    # /mairl/command i -> state stamp; driver command i -> /mairl/command i (one for one, in order)
    pairs = min(len(cmd_stamps), len(out_times))
    lat_ms, hop_ms, answered = [], [], set()
    for i in range(pairs):
        t_state = sent.get(cmd_stamps[i])
        if t_state is None:  # a command of the warm-up
            continue
        lat_ms.append((out_times[i] - t_state) / 1e6)
        hop_ms.append((cmd_times[i] - t_state) / 1e6)
        answered.add(cmd_stamps[i])
    lat = np.array(lat_ms)
    late = int((lat > 1e3 / hz).sum())
    unanswered = sum(1 for s in sent if s not in answered)
    # the driver's view: a control period [t_k, t_k+1) between two states in which no new
    # command arrived is a missed period
    starts = np.sort(np.array(list(sent.values())))
    arrivals = np.sort(np.array(out_times[:pairs]))
    got = np.searchsorted(arrivals, starts[1:]) - np.searchsorted(arrivals, starts[:-1])
    missed = int((got == 0).sum())
    return {
        "method": "policy server + safety (DDS)",
        "layout": layout,
        "rt_priority": rt_priority,
        "driver_sched": sched,
        "hz": hz,
        "duration_s": duration,
        "states": len(sent),
        "commands": int(len(lat)),
        "p50_ms": float(np.percentile(lat, 50)) if len(lat) else None,
        "p99_ms": float(np.percentile(lat, 99)) if len(lat) else None,
        "max_ms": float(lat.max()) if len(lat) else None,
        "policy_hop_p50_ms": float(np.percentile(hop_ms, 50)) if hop_ms else None,
        "policy_hop_p99_ms": float(np.percentile(hop_ms, 99)) if hop_ms else None,
        "missed": missed,
        "periods": int(len(starts) - 1),
        "late": late,
        "unanswered": unanswered,
        "latencies_ms": [round(v, 4) for v in lat.tolist()],
    }


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for r in rows:
        lat = np.sort(np.array(r["latencies_ms"]))
        if len(lat):
            ax.plot(
                lat,
                np.arange(1, len(lat) + 1) / len(lat),
                label=f"{r['hz']:g} Hz, {r.get('layout', 'separate')}",
            )
            ax.axvline(1e3 / r["hz"], ls=":", color=ax.lines[-1].get_color())
    ax.axvline(2.0, color="k", ls="--", lw=0.8, label="2 ms target")
    ax.set_xscale("log")
    ax.set_xlabel("joint state in -> safe command out (ms)")
    ax.set_ylabel("fraction of commands")
    ax.set_title("policy server + safety over DDS (dotted: one period)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="mairl bench latency", description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--rates", default="125,500", help="joint-state rates in Hz (default 125,500)")
    ap.add_argument("--duration", type=float, default=60.0, help="seconds per rate (default 60)")
    ap.add_argument("--policy", default=str(REPO / "bench" / "checkpoints" / "reach_mairl.pt"))
    ap.add_argument(
        "--layout",
        default="separate,composed",
        help="separate (two processes), composed (mairl-control: one process) or both "
        "(default separate,composed)",
    )
    ap.add_argument(
        "--rt-priority",
        type=int,
        default=0,
        help="SCHED_FIFO priority (1-99) of both nodes and the driver stand-in, memory "
        "locked; 0: normal scheduling (default 0)",
    )
    ap.add_argument("--quick", action="store_true", help="3 s per rate (a smoke test, not a result)")
    ap.add_argument("--seed", type=int, default=0, help="unused (no randomness); for the CLI contract")
    ap.add_argument("--no-progress", action="store_true")
    args = ap.parse_args(argv)
    duration = 3.0 if args.quick else args.duration
    if not Path(args.policy).is_file():
        print(f"error: policy checkpoint {args.policy} does not exist", file=sys.stderr)
        return 2
    layouts = [x.strip() for x in args.layout.split(",") if x.strip()]
    if not layouts or set(layouts) - set(LAYOUTS):
        print(f"error: --layout takes {' and/or '.join(LAYOUTS)}, got {args.layout!r}", file=sys.stderr)
        return 2
    if not (duration > 0 and np.isfinite(duration)) or args.seed < 0:
        print(
            f"error: --duration must be > 0 s and --seed >= 0, got {args.duration:g}, {args.seed}",
            file=sys.stderr,
        )
        return 2
    if not 0 <= args.rt_priority <= 99:
        print(f"error: --rt-priority must be 0..99, got {args.rt_priority}", file=sys.stderr)
        return 2
    from mairl_core.eval.results import git_commit, write_results

    apply_loopback_env()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    t0, commit = time.perf_counter(), git_commit()  # the code this run ran
    rows = []
    for layout in layouts:
        for hz in (float(r) for r in args.rates.split(",")):
            rows.append(
                measure(
                    hz,
                    duration,
                    args.policy,
                    out,
                    progress=not args.no_progress,
                    layout=layout,
                    rt_priority=args.rt_priority,
                )
            )
    plot(rows, out / "latency_cdf.png")
    write_results(
        out,
        "latency",
        rows,
        quick=bool(args.quick),
        wall_s=time.perf_counter() - t0,
        command="mairl bench latency " + " ".join(argv if argv is not None else sys.argv[1:]),
        commit_at_start=commit,
        platform=platform.platform(),
    )
    print(
        f"{'layout':>9} {'rate':>7} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} {'missed':>7} "
        f"{'periods':>8} {'late':>5} {'unanswered':>10}  driver"
    )
    for r in rows:
        print(
            f"{r['layout']:>9} {r['hz']:>5g}Hz {r['p50_ms']:8.3f} {r['p99_ms']:8.3f} "
            f"{r['max_ms']:8.3f} {r['missed']:7d} {r['periods']:8d} {r['late']:5d} "
            f"{r['unanswered']:10d}  {r['driver_sched']}"
        )
    print(f"results: {out / 'results.json'}  plot: {out / 'latency_cdf.png'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
