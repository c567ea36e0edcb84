"""``mairl bench soak``: the deploy graph for N minutes: memory, command rate, e-stop latency.

The nodes of ``mairl-ros-up reaching --mode deploy`` (sim, safety, policy server, from the
same ``ur5_bringup.stack`` description and parameter file) run the committed reach policy on
a new block every episode: the policy is paused, the sim reset (``/mairl/sim/reset``: arm
home, the next block of its seeded sequence) and the policy resumed, as ``mairl-ros-demo``
evaluates. Every ``--sample-every`` s this process samples each node's resident memory
(VmRSS in ``/proc/PID/status``) and the rate of commands on the driver topic. Every
``--estop-every`` s, early in an episode while the arm moves, it latches the e-stop
(``/mairl/safety/estop``, data=true) and times it: from sending the request to receiving the
hold command on the driver topic (this process's own dispatch included); once the arm is at
rest it releases the stop (``/mairl/safety/release``, with a reason) and the episode goes on.
Every other e-stop happens under a flood: this process, a second command source, repeats the
policy's latest command at ``--flood-hz`` from half a second before the e-stop until its hold
has been watched. Writes ``results.json`` (docs/results.md) and ``soak.png``; timings are
reported, never asserted.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import deque
from collections.abc import Callable, Collection, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from .dds import apply_loopback_env
from .node import make_executor, now_s

REPO = Path(__file__).resolve().parents[3]
DRIVER_TOPIC = "/forward_position_controller/commands"
ESTOP, RELEASE = "/mairl/safety/estop", "/mairl/safety/release"
PAUSE_S = 0.25  # policy paused before a reset: the safety node holds first (as mairl-ros-demo)
ESTOP_AFTER = 10  # commands into an episode before the e-stop: the arm is moving by then
OBSERVE_S = 0.3  # driver commands watched after the e-stop's response
REST_SPEED = 0.005  # rad/s on every joint: the arm is at rest (the release asks for it)
REST_TIMEOUT_S = 5.0
FLOOD_LEAD_S = 0.5  # a flood runs this long before its e-stop (a backlog builds up)
FLOOD_FRAME = "mairl_soak_flood"  # header.frame_id of the flood's commands (not the policy's)


@dataclass
class EstopTrial:
    """One e-stop as seen on the driver topic (times in ms from sending the request)."""

    latency_ms: float | None
    """Until the e-stop's hold arrived: the first of the holds that the driver topic carries
    from then on (None: the last command seen was no hold)."""
    response_ms: float
    """Until the service's response arrived."""
    in_flight: int
    """Commands forwarded (not holds) received after the request was sent, before that hold:
    ones the safety node handled before the request."""
    other_holds: int
    """Holds among those (e.g. a joint state late under load): not the e-stop's."""
    after_response: int
    """Forwarded commands received after the response (the driver topic and the service
    reply are separate streams, so not a violation by itself)."""
    holds: int
    """Holds from the e-stop's on (one per incoming command while latched)."""
    flood_hz: float = 0.0
    """Rate of the second command source during this e-stop (0: none)."""
    observer_lag_ms: float | None = None
    """This process's own lag meanwhile: the largest delay from a joint state's stamp to its
    arrival here (part of ``latency_ms`` is this, not the safety node)."""


def analyse_estop(
    driver: Sequence[tuple[float, tuple]], states: Collection[tuple], t_call: float, t_response: float
) -> EstopTrial:
    """The driver commands (receipt time, positions) received from ``t_call`` on, of a safety
    node latched at ``t_call``, up to before its release. A hold commands a measured joint
    state, so a command equal to one of ``states`` (the joint states' positions, in the
    driver's joint order) is a hold; any other one was forwarded."""
    msgs = [(t, d) for t, d in driver if t >= t_call]
    is_hold = [d in states for _, d in msgs]
    first = len(msgs) - is_hold[::-1].index(False) if False in is_hold else 0
    before = is_hold[:first]
    return EstopTrial(
        latency_ms=(msgs[first][0] - t_call) * 1e3 if first < len(msgs) else None,
        response_ms=(t_response - t_call) * 1e3,
        in_flight=before.count(False),
        other_holds=before.count(True),
        after_response=sum(not h for (t, _), h in zip(msgs, is_hold) if t > t_response),
        holds=len(msgs) - first,
    )


def release_estop(
    call: Callable, wait: Callable[[float], None], reason: str, timeout: float = REST_TIMEOUT_S
) -> int:
    """Release a latched e-stop through ``/mairl/safety/release`` (diagnostic_msgs/
    AddDiagnostics, the reason in its one field), asking again while the safety node refuses
    (the arm not at rest yet) until ``timeout`` s; ``call(srv_type, name, request)`` returns
    the response. Returns how many requests it took."""
    from diagnostic_msgs.srv import AddDiagnostics

    end, attempts = now_s() + timeout, 0
    while True:
        res = call(AddDiagnostics, RELEASE, AddDiagnostics.Request(load_namespace=reason))
        attempts += 1
        if res.success:
            return attempts
        if now_s() > end:
            raise RuntimeError(f"{RELEASE} refused the release: {res.message}")
        wait(0.1)


def rss_mb(pid: int) -> float | None:
    """Resident memory of process ``pid`` (VmRSS, MB), or None when it is gone."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def slope_per_hour(t_s: Sequence[float], values: Sequence[float]) -> float | None:
    """Least-squares slope of ``values`` against time, per hour (None: under 2 samples)."""
    if len(t_s) < 2 or max(t_s) == min(t_s):
        return None
    return float(np.polyfit(np.asarray(t_s) / 3600.0, values, 1)[0])


class SoakDriver:
    """This process's node: counts the commands, keeps the latest joint state and the recent
    driver commands, and runs episodes, e-stops and samples against the node processes."""

    def __init__(self, procs: list[tuple[str, object]], sample_every: float, progress: bool):
        import rclpy
        from sensor_msgs.msg import JointState
        from std_msgs.msg import Float64MultiArray
        from std_srvs.srv import SetBool, Trigger

        self.rclpy, self.SetBool, self.Trigger = rclpy, SetBool, Trigger
        self.procs, self.sample_every, self.progress = procs, sample_every, progress
        self.context = rclpy.Context()
        rclpy.init(context=self.context)
        self.node = rclpy.create_node("mairl_soak", context=self.context)
        self.executor = make_executor(self.context)
        self.executor.add_node(self.node)
        self.driver: deque = deque(maxlen=20000)  # (receipt time, positions): an e-stop's window
        self.driver_count = self.commands = 0
        self.states: deque = deque(maxlen=1000)  # recent joint states' positions: what a hold sends
        self.state_lag: deque = deque(maxlen=1000)  # (arrival, arrival - stamp) of joint states
        self.speed = None  # max |joint velocity| of the latest joint state
        self.last_command = None  # the policy's latest command: what a flood repeats
        self.flood_hz, self.flood_due = 0.0, 0.0
        self.flooded = False  # a flood ran since the last sample: its rate window is not the loop's
        self.flood_pub = self.node.create_publisher(JointState, "/mairl/command", 100)
        self.node.create_subscription(Float64MultiArray, DRIVER_TOPIC, self._on_driver, 100)
        self.node.create_subscription(JointState, "/mairl/command", self._on_command, 100)
        self.node.create_subscription(JointState, "/joint_states", self._on_state, 10)
        self.reset = self.node.create_client(Trigger, "/mairl/sim/reset")
        self.enable = self.node.create_client(SetBool, "/mairl/policy/enable")
        self.estop = self.node.create_client(SetBool, ESTOP)
        self.samples: list[dict] = []
        self.trials: list[EstopTrial] = []
        self.episodes = 0
        self.release_requests = 0  # the safety node refuses while the arm is not yet at rest
        self.t0 = self.next_sample = None

    def _on_driver(self, msg) -> None:
        self.driver.append((now_s(), tuple(msg.data)))
        self.driver_count += 1

    def _on_command(self, msg) -> None:
        if msg.header.frame_id != FLOOD_FRAME:
            self.commands += 1
            self.last_command = msg

    def _flood(self) -> float:
        """Publish the flood's command when it is due; returns how long the executor may wait."""
        if not self.flood_hz or self.last_command is None:
            return 0.01
        t = now_s()
        if t >= self.flood_due:
            self.last_command.header.frame_id = FLOOD_FRAME
            self.flood_pub.publish(self.last_command)
            # the next one a period on, but no burst to catch up after a stall
            self.flood_due = max(self.flood_due, t - 0.01) + 1.0 / self.flood_hz
        return min(0.01, max(0.0, self.flood_due - now_s()))

    def _on_state(self, msg) -> None:
        stamp = msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9
        self.state_lag.append((now_s(), time.time() - stamp))
        self.states.append(tuple(msg.position))
        self.speed = max((abs(v) for v in msg.velocity), default=0.0)

    def spin_until(self, cond: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
        end = now_s() + timeout
        while not cond():
            for label, p in self.procs:
                if p.poll() is not None:
                    raise RuntimeError(f"{label} exited ({p.returncode}) while waiting for {what}")
            if now_s() > end:
                raise RuntimeError(f"timed out after {timeout:g} s waiting for {what}")
            self.executor.spin_once(timeout_sec=self._flood())
            if self.next_sample is not None and now_s() >= self.next_sample:
                self.sample()

    def wait(self, seconds: float) -> None:
        end = now_s() + seconds
        self.spin_until(lambda: now_s() >= end, f"{seconds:g} s to pass")

    def call(self, client, request, what: str):
        self.spin_until(client.service_is_ready, f"the service of {what}")
        future = client.call_async(request)
        self.spin_until(future.done, what)
        return future.result()

    def start(self, minutes: float) -> None:
        self.spin_until(
            lambda: (
                self.reset.service_is_ready()
                and self.enable.service_is_ready()
                and self.estop.service_is_ready()
                and self.driver_count > 0
            ),
            "the sim, the safety node and the policy server",
            timeout=120.0,
        )
        self.minutes = minutes
        self.t0 = self.next_sample = now_s()
        self.sample()

    def sample(self) -> None:
        t = now_s()
        last = self.samples[-1] if self.samples else None
        rate = (
            None if last is None else (self.driver_count - last["driver_count"]) / (t - self.t0 - last["t_s"])
        )
        self.samples.append(
            {
                "t_s": round(t - self.t0, 3),
                "driver_count": self.driver_count,
                "rate_hz": rate,
                "flooded": self.flooded,
                "episodes": self.episodes,
                "rss_mb": {label: rss_mb(p.pid) for label, p in self.procs},
            }
        )
        self.flooded = bool(self.flood_hz)
        self.next_sample = t + self.sample_every
        if self.progress:
            rss = " ".join(f"{k} {v:.0f}" for k, v in self.samples[-1]["rss_mb"].items() if v)
            print(
                f"\r  soak {(t - self.t0) / 60:5.1f} / {self.minutes:g} min  "
                f"episodes {self.episodes}  e-stops {len(self.trials)}  "
                f"rate {rate or 0:5.1f} Hz  RSS MB: {rss}",
                end="",
                flush=True,
            )

    def episode(self, steps: int, estop: float | None) -> None:
        """Pause, reset (new block), resume, ``steps`` policy commands; ``estop`` (not None):
        an e-stop cycle once the arm moves, under a flood at that rate (0: none)."""
        self.call(self.enable, self.SetBool.Request(data=False), "the policy server to pause")
        self.wait(PAUSE_S)
        self.call(self.reset, self.Trigger.Request(), "the sim's reset")
        start = self.commands
        self.call(self.enable, self.SetBool.Request(data=True), "the policy server to resume")
        if estop is not None:
            self.spin_until(lambda: self.commands - start >= ESTOP_AFTER, "the arm to move")
            self.estop_cycle(estop)
        self.spin_until(lambda: self.commands - start >= steps, "the episode's commands")
        self.episodes += 1

    def estop_cycle(self, flood_hz: float = 0.0) -> EstopTrial:
        """Latch, watch the driver topic, wait for rest, release. ``flood_hz``: meanwhile a
        second command source (this process) repeats the policy's latest command at that
        rate, from ``FLOOD_LEAD_S`` before the e-stop until the hold has been watched."""
        self.spin_until(self.estop.service_is_ready, "the e-stop service")
        self.flood_hz, self.flood_due = flood_hz, now_s()
        self.flooded = self.flooded or bool(flood_hz)
        try:
            self.wait(FLOOD_LEAD_S if flood_hz else 0.0)
            t_call = now_s()
            future = self.estop.call_async(self.SetBool.Request(data=True))
            self.spin_until(future.done, "the e-stop's response")
            t_response = now_s()
            self.wait(OBSERVE_S)
        finally:
            self.flood_hz = 0.0
        trial = analyse_estop(self.driver, set(self.states), t_call, t_response)
        trial.flood_hz = flood_hz
        trial.observer_lag_ms = max((lag * 1e3 for t, lag in self.state_lag if t >= t_call), default=None)
        self.trials.append(trial)
        self.spin_until(
            lambda: self.speed is not None and self.speed < REST_SPEED,
            "the arm to come to rest",
            REST_TIMEOUT_S,
        )
        self.release_requests += release_estop(
            self.call_service, self.wait, "mairl bench soak: e-stop cycle, arm at rest"
        )
        return trial

    def call_service(self, srv_type, name: str, request):
        client = self.node.create_client(srv_type, name)
        try:
            return self.call(client, request, name)
        finally:
            self.node.destroy_client(client)

    def close(self) -> None:
        if self.progress and self.samples:
            print()
        self.executor.shutdown()
        self.node.destroy_node()
        self.rclpy.try_shutdown(context=self.context)


def estop_summary(trials: list[EstopTrial], flood_hz: float, control_period: float) -> dict:
    """The e-stops of one condition (flood rate): latency distribution and ordering counts."""
    lat = np.array([tr.latency_ms for tr in trials if tr.latency_ms is not None])
    out = {
        "flood_hz": flood_hz,
        "trials": len(trials),
        "control_period_ms": control_period * 1e3,
        "within_one_period": int((lat <= control_period * 1e3).sum()),
        "no_hold_seen": sum(tr.latency_ms is None for tr in trials),
        "in_flight_max": max((tr.in_flight for tr in trials), default=0),
        "other_holds": sum(tr.other_holds for tr in trials),
        "after_response_max": max((tr.after_response for tr in trials), default=0),
        "observer_lag_max_ms": max((tr.observer_lag_ms or 0.0 for tr in trials), default=0.0),
    }
    if len(lat):
        out.update(
            p50_ms=float(np.percentile(lat, 50)),
            p99_ms=float(np.percentile(lat, 99)),
            max_ms=float(lat.max()),
            mean_ms=float(lat.mean()),
        )
    out["latencies_ms"] = [round(float(v), 3) for v in lat]
    out["trials_detail"] = [asdict(tr) for tr in trials]
    return out


def summarise(driver: SoakDriver, control_period: float) -> tuple[list[dict], dict, list[dict]]:
    """Per-node memory rows, the command rate and the e-stop latencies (one summary per
    flood rate)."""
    samples = driver.samples
    t = [s["t_s"] for s in samples]
    rows = []
    for label, p in driver.procs:
        pts = [(s["t_s"], s["rss_mb"][label]) for s in samples if s["rss_mb"].get(label)]
        if not pts:
            continue
        ts, mb = zip(*pts)
        half = [(a, b) for a, b in pts if a >= t[-1] / 2]
        rows.append(
            {
                "node": label,
                "pid": p.pid,
                "rss_start_mb": round(mb[0], 1),
                "rss_end_mb": round(mb[-1], 1),
                "rss_max_mb": round(max(mb), 1),
                "slope_mb_per_h": slope_per_hour(ts, mb),
                "slope_mb_per_h_second_half": slope_per_hour(*zip(*half)) if len(half) > 1 else None,
                "samples": len(pts),
            }
        )
    rates = np.array([s["rate_hz"] for s in samples if s["rate_hz"] is not None and not s["flooded"]])
    rate = {
        "expected_hz": 1.0 / control_period,
        "windows": int(len(rates)),
        "window_s": driver.sample_every,
        "windows_left_out": sum(s["flooded"] for s in samples),
    }  # a flood's commands in them
    if len(rates):
        rate.update(
            mean_hz=float(rates.mean()), min_hz=float(rates.min()), p1_hz=float(np.percentile(rates, 1))
        )
    estop = [
        estop_summary([tr for tr in driver.trials if tr.flood_hz == hz], hz, control_period)
        for hz in sorted({tr.flood_hz for tr in driver.trials})
    ]
    return rows, rate, estop


def plot(driver: SoakDriver, estop: list[dict], control_period: float, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    samples = driver.samples
    minutes = np.array([s["t_s"] for s in samples]) / 60.0
    fig, axes = plt.subplots(1, 3, figsize=(15, 4))
    for label, _ in driver.procs:
        axes[0].plot(minutes, [s["rss_mb"].get(label) or np.nan for s in samples], label=label)
    axes[0].set_xlabel("minutes")
    axes[0].set_ylabel("VmRSS (MB)")
    axes[0].set_title("node memory")
    axes[0].legend(fontsize=8)
    calm = [s for s in samples[1:] if not s["flooded"]]
    axes[1].plot([s["t_s"] / 60 for s in calm], [s["rate_hz"] for s in calm], ".-")
    axes[1].axhline(1.0 / control_period, color="k", ls=":", label="control rate")
    axes[1].set_xlabel("minutes")
    axes[1].set_ylabel(f"driver commands per s ({driver.sample_every:g} s windows)")
    axes[1].set_title("command rate (dips: resets; windows with a flood left out)")
    axes[1].legend(fontsize=8)
    for e in estop:
        if e["latencies_ms"]:
            axes[2].hist(
                e["latencies_ms"],
                bins=np.geomspace(0.1, 2e4, 50),
                alpha=0.7,
                label=f"flood {e['flood_hz']:g} Hz" if e["flood_hz"] else "no flood",
            )
    axes[2].axvline(control_period * 1e3, color="k", ls=":", label="one control period")
    axes[2].set_xscale("log")
    axes[2].set_xlabel("e-stop request -> its hold on the driver topic (ms)")
    axes[2].set_ylabel("e-stops")
    axes[2].set_title(f"e-stop latency ({sum(e['trials'] for e in estop)} e-stops)")
    axes[2].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _parse(argv) -> argparse.Namespace | str:
    """The options, or the one line that says what is wrong with them."""
    ap = argparse.ArgumentParser(prog="mairl bench soak", description=__doc__.split("\n\n")[0])
    ap.add_argument("--minutes", default="30", help="how long the graph runs (default 30)")
    ap.add_argument("--out", default=str(REPO / "bench" / "results" / "soak"))
    ap.add_argument("--policy", default=str(REPO / "bench" / "checkpoints" / "reach_mairl.pt"))
    ap.add_argument("--seed", type=int, default=0, help="the sim's block sequence (default 0)")
    ap.add_argument(
        "--sample-every", type=float, default=5.0, help="seconds between memory and rate samples (default 5)"
    )
    ap.add_argument(
        "--estop-every", type=float, default=20.0, help="seconds between e-stop cycles; 0: none (default 20)"
    )
    ap.add_argument(
        "--flood-hz",
        type=float,
        default=1000.0,
        help="every other e-stop, a second command source repeats the policy's "
        "latest command at this rate around it; 0: never (default 1000)",
    )
    ap.add_argument("--quick", action="store_true", help="1 minute (a smoke test, not a result)")
    ap.add_argument("--no-progress", action="store_true")
    args = ap.parse_args(argv)
    try:
        args.minutes = 1.0 if args.quick else float(args.minutes)
    except ValueError:
        return f"error: --minutes must be a number of minutes > 0, got {args.minutes!r}"
    if not args.minutes > 0 or not np.isfinite(args.minutes):
        return f"error: --minutes must be > 0, got {args.minutes:g}"
    if not args.sample_every > 0 or not args.estop_every >= 0 or not args.flood_hz >= 0:
        return "error: --sample-every must be > 0, --estop-every and --flood-hz >= 0"
    if args.seed < 0:
        return f"error: --seed must be >= 0, got {args.seed}"
    if not Path(args.policy).is_file():
        return f"error: policy checkpoint {args.policy} does not exist"
    return args


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = _parse(argv)
    if isinstance(args, str):
        print(args, file=sys.stderr)
        return 2
    try:
        from ur5_bringup.stack import params_file, stack
        from ur5_bringup.up import start_nodes, stop_nodes
    except ImportError:
        print(
            "error: `mairl bench soak` runs the deploy graph of the ur5_bringup package "
            "(`make venv` installs it)",
            file=sys.stderr,
        )
        return 2
    from mairl_core.config import load_config
    from mairl_core.envs.ur5_reach import ReachConfig
    from mairl_core.eval.results import git_commit, write_results
    from mairl_core.safety import load_safety_limits

    apply_loopback_env()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    commit = git_commit()
    control_period = load_safety_limits().control_period
    steps = load_config(ReachConfig, "ur5_reach").episode_steps
    log = open(out / "nodes.log", "w")  # noqa: SIM115 - closed below, after the nodes stopped
    specs = stack("reaching", mode="deploy", policy=args.policy, seed=args.seed)
    t_start = time.perf_counter()
    procs = start_nodes(specs, str(params_file("reaching")), sink=log.write)
    driver = SoakDriver(procs, args.sample_every, not args.no_progress)
    error = None
    try:
        driver.start(args.minutes)
        deadline = driver.t0 + args.minutes * 60.0
        next_estop = driver.t0 + (args.estop_every or np.inf) / 2
        while now_s() < deadline:
            due = now_s() >= next_estop
            driver.episode(steps, estop=(args.flood_hz if len(driver.trials) % 2 else 0.0) if due else None)
            if due:
                next_estop += args.estop_every
        driver.sample()
    except (RuntimeError, KeyboardInterrupt) as exc:
        error = f"{type(exc).__name__}: {exc}"
        print(f"\nsoak stopped early: {error} (node output: {out / 'nodes.log'})", file=sys.stderr)
    finally:
        driver.close()
        stop_nodes(procs)
        log.close()
    rows, rate, estop = summarise(driver, control_period)
    if driver.samples:
        plot(driver, estop, control_period, out / "soak.png")
    ran_min = driver.samples[-1]["t_s"] / 60.0 if driver.samples else 0.0
    path = write_results(
        out,
        "soak",
        rows,
        quick=bool(args.quick),
        wall_s=time.perf_counter() - t_start,
        command="mairl bench soak " + " ".join(argv),
        commit_at_start=commit,
        minutes=args.minutes,
        ran_minutes=round(ran_min, 3),
        episodes=driver.episodes,
        exit_codes={label: p.returncode for label, p in procs},
        error=error,
        command_rate=rate,
        estop=estop,
        release_requests=driver.release_requests,
        samples=driver.samples,
    )
    print(f"{'node':>22} {'RSS start':>10} {'end':>8} {'max':>8} {'MB/h':>8}")
    for r in rows:
        slope = "-" if r["slope_mb_per_h"] is None else f"{r['slope_mb_per_h']:8.2f}"
        print(
            f"{r['node']:>22} {r['rss_start_mb']:10.1f} {r['rss_end_mb']:8.1f} "
            f"{r['rss_max_mb']:8.1f} {slope:>8}"
        )
    if "mean_hz" in rate:
        print(
            f"driver command rate: mean {rate['mean_hz']:.2f} Hz, min {rate['min_hz']:.2f}, "
            f"p1 {rate['p1_hz']:.2f} ({rate['windows']} windows of {args.sample_every:g} s)"
        )
    for e in estop:
        if "p50_ms" in e:
            label = f"flood {e['flood_hz']:g} Hz" if e["flood_hz"] else "no flood"
            print(
                f"e-stop -> its hold ({label}): p50 {e['p50_ms']:.1f} ms, p99 {e['p99_ms']:.1f}, "
                f"max {e['max_ms']:.1f} over {e['trials']} e-stops, {e['within_one_period']} "
                f"within one control period; up to {e['in_flight_max']} commands forwarded "
                f"ahead of the hold; this process's own lag up to "
                f"{e['observer_lag_max_ms']:.1f} ms"
            )
    print(f"{ran_min:.1f} min, {driver.episodes} episodes; results: {path}  plot: {out / 'soak.png'}")
    return 1 if error else 0


if __name__ == "__main__":
    raise SystemExit(main())
