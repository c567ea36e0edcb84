"""Helpers for the ROS integration tests: real node processes and an in-test probe node.

Every process inherits the session's loopback DDS environment and ROS domain id
(test/conftest.py), so nothing leaves 127.0.0.1 and parallel runs do not cross-talk.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
TIMEOUT_S = 30.0


def node_env() -> dict[str, str]:
    env = dict(os.environ)
    paths = [str(REPO / "src" / "mairl_ros"), str(REPO / "src" / "mairl_core")]
    env["PYTHONPATH"] = os.pathsep.join(paths + [env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env["MAIRL_CONFIG_DIR"] = str(REPO / "config")
    env["PYTHONUNBUFFERED"] = "1"
    return env


def run_ros_bench(name: str, out: Path, *args: str) -> tuple[subprocess.CompletedProcess, dict]:
    """``mairl bench <name> ARGS --out OUT --no-progress`` in its own process: (the process,
    its results.json), asserting it exited 0."""
    cmd = [sys.executable, "-m", "mairl_core.cli", "bench", name, *args, "--out", str(out), "--no-progress"]
    proc = subprocess.run(cmd, env=node_env(), cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc, json.loads((out / "results.json").read_text())


class NodeProcess:
    """``python -m mairl_ros.<module> --ros-args -p k:=v ... [-r from:=to ...]`` with its
    output in ``log``."""

    def __init__(self, module: str, log: Path, remaps: dict[str, str] | None = None, **params):
        self.module, self.log = module, log
        args = [sys.executable, "-m", f"mairl_ros.{module}", "--ros-args"]
        for k, v in params.items():
            args += ["-p", f"{k}:={_param(v)}"]
        for a, b in (remaps or {}).items():
            args += ["-r", f"{a}:={b}"]
        self._out = open(log, "w")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            args, env=node_env(), stdout=self._out, stderr=subprocess.STDOUT, cwd=REPO
        )

    def output(self) -> str:
        if not self._out.closed:
            self._out.flush()
        return self.log.read_text()

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self) -> int:
        interrupt(self.proc)
        self._out.close()
        return self.proc.returncode


def interrupt(proc: subprocess.Popen) -> int:
    """Ctrl-C the process (a clean node exit), killing it if it has not gone in 10 s."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
    return proc.returncode


def _param(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (list, tuple)):
        return "[" + ",".join(repr(float(x)) for x in v) + "]"
    return str(v)


class Probe:
    """An rclpy node of the test itself, in its own context, spun by hand."""

    def __init__(self, name: str = "mairl_test_probe"):
        import rclpy
        from rclpy.executors import SingleThreadedExecutor

        self.rclpy = rclpy
        self.context = rclpy.Context()
        rclpy.init(context=self.context)
        self.node = rclpy.create_node(name, context=self.context)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self.latest: dict[str, object] = {}
        self.history: dict[str, list] = {}

    def listen(self, msg_type, topic: str, keep: bool = False):
        def store(msg):
            self.latest[topic] = msg
            if keep:
                self.history.setdefault(topic, []).append((time.monotonic(), msg))

        return self.node.create_subscription(msg_type, topic, store, 50)

    def spin(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self.executor.spin_once(timeout_sec=min(0.01, max(0.0, end - time.monotonic())))

    def wait_for(
        self,
        cond: Callable[[], bool],
        timeout: float = TIMEOUT_S,
        what: str = "",
        procs: tuple[NodeProcess, ...] = (),
    ) -> None:
        end = time.monotonic() + timeout
        while not cond():
            for p in procs:
                if not p.alive():
                    self.spin(1.0)  # what it sent just before it exited may still be on its way
                    if cond():
                        return
                    raise AssertionError(f"{p.module} exited:\n{p.output()}")
            if time.monotonic() > end:
                logs = "\n".join(f"--- {p.module}:\n{p.output()[-3000:]}" for p in procs)
                raise AssertionError(f"timed out after {timeout} s waiting for {what}\n{logs}")
            self.executor.spin_once(timeout_sec=0.01)

    def call(self, srv_type, name: str, request, timeout: float = TIMEOUT_S, resend_s: float = 5.0):
        """Call a service and return its reply. A request left unanswered for `resend_s` is
        sent again from a fresh client: DDS can report a service ready once our request
        reaches the server but before the server's reply writer has matched our reader,
        and that reply is then lost (seen in CI: a recorder started in a test never
        answered). Services the tests call must therefore tolerate a repeated request."""
        end = time.monotonic() + timeout
        while True:
            client = self.node.create_client(srv_type, name)
            try:
                self.wait_for(client.service_is_ready, max(0.0, end - time.monotonic()), f"service {name}")
                future = client.call_async(request)
                wait = min(resend_s, max(0.0, end - time.monotonic()))
                stop = time.monotonic() + wait
                while not future.done() and time.monotonic() < stop:
                    self.executor.spin_once(timeout_sec=0.01)
                if future.done():
                    return future.result()
                if time.monotonic() >= end:
                    raise AssertionError(f"timed out after {timeout} s waiting for reply from {name}")
            finally:
                self.node.destroy_client(client)

    def close(self) -> None:
        self.executor.shutdown()
        self.node.destroy_node()
        self.rclpy.try_shutdown(context=self.context)


def start_sim_and_safety(
    probe: Probe, logs: Path, ready: tuple[str, ...], sim: dict | None = None, safety: dict | None = None
) -> tuple[list[NodeProcess], object]:
    """mairl-sim and mairl-safety as processes (their parameters ``sim``, ``safety``) and the
    probe's publisher of ``/mairl/command``, returned once the probe has heard every topic in
    ``ready`` and the safety node has subscribed; the processes are stopped if that fails."""
    from sensor_msgs.msg import JointState

    procs = [
        NodeProcess("sim_node", logs / "sim.log", **(sim or {})),
        NodeProcess("safety_node", logs / "safety.log", **(safety or {})),
    ]
    pub = probe.node.create_publisher(JointState, "/mairl/command", 10)
    try:
        probe.wait_for(
            lambda: all(t in probe.latest for t in ready),
            what=f"the sim's {', '.join(ready)}",
            procs=tuple(procs),
        )
        probe.wait_for(
            lambda: pub.get_subscription_count() > 0,
            what="the safety node to subscribe to /mairl/command",
            procs=tuple(procs),
        )
    except BaseException:
        for proc in procs:
            proc.stop()
        raise
    return procs, pub
