"""mairl-teleop's keyboard mode on a real terminal (a pseudo-terminal here): keys become the
fingertip twist on /mairl/teleop/twist; and the sim's /clock when asked."""

from __future__ import annotations

import os
import pty
import subprocess
import sys

import pytest

from _ros_helpers import REPO, NodeProcess, Probe, node_env

pytest.importorskip("rclpy")

from geometry_msgs.msg import TwistStamped  # noqa: E402
from rosgraph_msgs.msg import Clock  # noqa: E402


def test_keyboard_keys_become_a_twist(tmp_path):
    master, slave = pty.openpty()
    log = open(tmp_path / "teleop.log", "w")  # noqa: SIM115
    proc = subprocess.Popen([sys.executable, "-m", "mairl_ros.teleop", "--ros-args", "-p",
                             "speed:=0.05"], stdin=slave, stdout=log, stderr=subprocess.STDOUT,
                            env=node_env(), cwd=REPO)
    os.close(slave)
    probe = Probe("mairl_test_teleop_probe")
    probe.listen(TwistStamped, "/mairl/teleop/twist")
    try:
        def linear():
            m = probe.latest.get("/mairl/teleop/twist")
            return None if m is None else (m.twist.linear.x, m.twist.linear.y, m.twist.linear.z)
        probe.wait_for(lambda: linear() is not None, 30.0, "the teleop twist")
        assert linear() == (0.0, 0.0, 0.0)
        os.write(master, b"ww")  # two presses: +x twice
        probe.wait_for(lambda: linear() == pytest.approx((0.1, 0.0, 0.0)), 10.0, "+x after 'ww'")
        os.write(master, b"df")  # -y, -z
        probe.wait_for(lambda: linear() == pytest.approx((0.1, -0.05, -0.05)), 10.0, "'d' and 'f'")
        os.write(master, b"x")  # stop
        probe.wait_for(lambda: linear() == (0.0, 0.0, 0.0), 10.0, "a stop after 'x'")
        assert probe.latest["/mairl/teleop/twist"].header.frame_id == "base"
    finally:
        proc.send_signal(2)
        proc.wait(timeout=20)
        os.close(master)
        log.close()
        probe.close()
    assert "w/s x" in (tmp_path / "teleop.log").read_text()


def test_keyboard_teleop_without_a_terminal_says_so(tmp_path):
    node = NodeProcess("teleop", tmp_path / "t.log")
    node.proc.wait(timeout=60)
    assert node.stop() == 2
    assert "needs a terminal" in node.output()


def test_sim_publishes_clock_faster_than_real_time(tmp_path):
    probe = Probe("mairl_test_clock_probe")
    stamps = []
    probe.node.create_subscription(Clock, "/clock", lambda m: stamps.append(
        m.clock.sec + m.clock.nanosec * 1e-9), 50)
    sim = NodeProcess("sim_node", tmp_path / "sim.log", publish_clock=True, real_time_factor=3.0)
    try:
        probe.wait_for(lambda: len(stamps) > 0, 30.0, "/clock", procs=(sim,))
        first = stamps[-1]
        probe.spin(1.0)
        advanced = stamps[-1] - first
    finally:
        sim.stop()
        probe.close()
    # sim time runs ahead of wall time (3x asked; at least 1.5x on a loaded machine)
    assert advanced > 1.5
