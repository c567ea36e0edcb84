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
    proc = subprocess.Popen(
        [sys.executable, "-m", "mairl_ros.teleop", "--ros-args", "-p", "speed:=0.05"],
        stdin=slave,
        stdout=log,
        stderr=subprocess.STDOUT,
        env=node_env(),
        cwd=REPO,
    )
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
    probe.node.create_subscription(
        Clock, "/clock", lambda m: stamps.append(m.clock.sec + m.clock.nanosec * 1e-9), 50
    )
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


def test_joy_moves_the_arm_only_while_the_deadman_is_held(tmp_path):
    """Gamepad teleop over DDS: Joy messages (the default mapping: left stick x, deadman LB =
    button 4) -> mairl-teleop -> recorder (IK) -> safety -> sim. The stick alone moves
    nothing; with the deadman held the arm moves; let go, the twist is zero from the next
    control period on and the arm comes to rest."""
    import time

    import numpy as np
    from geometry_msgs.msg import PointStamped
    from sensor_msgs.msg import JointState, Joy

    from mairl_core.safety import load_safety_limits

    period = load_safety_limits().control_period
    probe = Probe("mairl_test_joy_probe")
    probe.listen(TwistStamped, "/mairl/teleop/twist", keep=True)
    probe.listen(JointState, "/joint_states", keep=True)
    probe.listen(PointStamped, "/mairl/fingertip")
    joy = probe.node.create_publisher(Joy, "/joy", 10)
    state = {"axes": [0.0] * 6, "buttons": [0] * 8}
    sent: list[tuple[float, bool]] = []

    def publish():
        msg = Joy()
        msg.header.stamp = probe.node.get_clock().now().to_msg()
        msg.axes, msg.buttons = list(state["axes"]), list(state["buttons"])
        joy.publish(msg)
        sent.append((time.time(), bool(state["buttons"][4])))

    probe.node.create_timer(period, publish)
    procs = [
        NodeProcess("sim_node", tmp_path / "sim.log", seed=2),
        NodeProcess("safety_node", tmp_path / "safety.log"),
        NodeProcess("recorder", tmp_path / "rec.log", dataset=str(tmp_path / "demos")),
        NodeProcess("teleop", tmp_path / "teleop.log", mode="joy", speed=0.1),
    ]

    def q_now():
        return np.array(probe.latest["/joint_states"].position)

    def twists_since(t):
        return [
            m
            for _, m in probe.history.get("/mairl/teleop/twist", [])
            if m.header.stamp.sec + m.header.stamp.nanosec * 1e-9 >= t
        ]

    try:
        probe.wait_for(
            lambda: all(
                t in probe.latest for t in ("/joint_states", "/mairl/teleop/twist", "/mairl/fingertip")
            ),
            60.0,
            "the sim and the teleop",
            procs=tuple(procs),
        )
        probe.spin(2.0)  # every node up and matched; the arm at rest
        # full stick towards the middle of the safety node's fingertip box (x: axis 1), so no
        # box wall stops the motion; deadman not held
        state["axes"][1] = -float(np.sign(probe.latest["/mairl/fingertip"].point.x)) or 1.0
        q0, t0 = q_now(), time.time()
        probe.spin(1.5)
        assert all(m.twist.linear.x == 0.0 for m in twists_since(t0)) and twists_since(t0)
        assert np.abs(q_now() - q0).max() < 2e-3, "the arm moved without the deadman"

        state["buttons"][4] = 1  # deadman held
        probe.spin(1.5)
        moving = [m.twist.linear.x for m in twists_since(t0)]
        assert max(map(abs, moving)) == pytest.approx(0.1)
        assert np.abs(q_now() - q0).max() > 0.02, "the arm did not move with the deadman held"

        state["buttons"][4] = 0  # let go, stick still forward
        n_sent = len(sent)
        probe.wait_for(lambda: len(sent) > n_sent, 5.0, "the release to be sent")
        t_release = sent[n_sent][0]
        assert not sent[n_sent][1]
        probe.spin(1.5)
        after = twists_since(t_release)
        first_zero = next(i for i, m in enumerate(after) if m.twist.linear.x == 0.0)
        assert all(m.twist.linear.x == 0.0 for m in after[first_zero:])
        stamp = after[first_zero].header.stamp
        # one control period after the release reached the teleop (DDS delivery: a few ms,
        # up to tens on a loaded machine)
        assert stamp.sec + stamp.nanosec * 1e-9 - t_release < period + 0.1
        q_rest = q_now()
        probe.spin(0.5)
        assert np.abs(q_now() - q_rest).max() < 2e-3, "the arm kept moving after the release"
    finally:
        for p in procs:
            p.stop()
        probe.close()


def test_spacemouse_teleop_without_the_package_says_so_in_one_line(tmp_path):
    node = NodeProcess("teleop", tmp_path / "t.log", mode="spacemouse")
    node.proc.wait(timeout=60)
    assert node.stop() == 2
    out = node.output()
    assert "needs the pyspacemouse package" in out and "Traceback" not in out
