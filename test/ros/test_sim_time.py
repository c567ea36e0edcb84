"""The sim faster than real time (``real_time_factor``, ``publish_clock``) with the safety node
on its ``/clock`` (``use_sim_time``): the arm is held to its limits in physics time, and may
use them; a stopped clock stops the arm.

On the wall clock a sim four times faster than real time sees its commands a quarter period
apart, and the gate's rate rule lets each move a quarter step: the arm crawled at a quarter of
its speed limit, which is what the first test catches.
"""

from __future__ import annotations

import numpy as np
import pytest
from _ros_helpers import NodeProcess, Probe, start_sim_and_safety

pytest.importorskip("rclpy")

from rosgraph_msgs.msg import Clock  # noqa: E402
from sensor_msgs.msg import JointState  # noqa: E402
from std_msgs.msg import Float64MultiArray  # noqa: E402

from mairl_core.envs.ur5_model import load_ur5  # noqa: E402
from mairl_core.safety import load_safety_limits  # noqa: E402

NAMES = list(load_ur5().joint_names)
LIMITS = load_safety_limits()
DRIVER_CMD = "/forward_position_controller/commands"
RTF = 4.0


def stamp_s(stamp) -> float:
    return stamp.sec + stamp.nanosec * 1e-9


def command(pub, q, stamp=None) -> None:
    msg = JointState()
    if stamp is not None:
        msg.header.stamp = stamp
    msg.name, msg.position = list(NAMES), [float(v) for v in q]
    pub.publish(msg)


def q_of(msg) -> np.ndarray:
    return np.array([msg.position[msg.name.index(n)] for n in NAMES])


def test_a_fast_sim_on_its_clock_moves_at_the_speed_limit_in_sim_time_and_no_faster(tmp_path):
    probe = Probe("mairl_test_sim_time")
    topics = [(Clock, "/clock"), (JointState, "/joint_states"), (Float64MultiArray, DRIVER_CMD)]
    for msg_type, topic in topics:
        probe.listen(msg_type, topic, keep=topic != "/clock")
    try:
        procs, pub = start_sim_and_safety(
            probe,
            tmp_path,
            ("/joint_states", "/clock"),
            {"target": [0.1, -0.5, 0.2], "real_time_factor": RTF, "publish_clock": True},
            {"use_sim_time": True},
        )
    except BaseException:
        probe.close()
        raise
    try:
        probe.spin(0.5)
        # the sim stamps its states with its own clock (seconds since it started), not the wall's
        # (~1.8e9 s); the two topics arrive on their own, so under load the latest of each may be
        # some ticks apart (0.14 s of sim time seen on CI): the bound only tells the clocks apart
        js, clock = probe.latest["/joint_states"], probe.latest["/clock"].clock
        assert abs(stamp_s(js.header.stamp) - stamp_s(clock)) < 1.0
        q0 = q_of(js)
        goal = q0 + [0, 0, 0, 0, 0, 1.0]  # +1 rad on wrist 3, streamed once per control period
        probe.history[DRIVER_CMD], probe.history["/joint_states"] = [], []
        periods, t_next = 12, stamp_s(clock)
        while periods:
            now = stamp_s(probe.latest["/clock"].clock)
            if now >= t_next:
                command(pub, goal)
                periods, t_next = periods - 1, now + LIMITS.control_period
            probe.executor.spin_once(timeout_sec=0.001)
        probe.spin(0.2)
        sent = np.array([m.data[5] for _, m in probe.history[DRIVER_CMD]])
        # at the speed limit in sim time: about one step per period (the wall clock: a quarter)
        assert len(sent) >= 10
        assert sent[9] - sent[0] > 9 * 0.35 * LIMITS.max_step, np.diff(sent)
        # and no faster, measured on the sim's stamps
        states = [(stamp_s(m.header.stamp), q_of(m)[5]) for _, m in probe.history["/joint_states"]]
        (t_a, a), (t_b, b) = states[0], states[-1]
        assert t_b - t_a > 0.3
        assert (b - a) / (t_b - t_a) <= 1.1 * LIMITS.max_step / LIMITS.control_period
        assert np.all(np.diff(sent) <= LIMITS.max_step + 1e-9)
    finally:
        codes = [p.stop() for p in procs]
        probe.close()
    assert codes == [0, 0], [p.output() for p in procs]


def test_a_stopped_clock_stops_the_arm(tmp_path):
    """A frozen /clock, an arm that follows every forwarded command at once (the joint states
    published here), and a stream of commands far away. The first goes one step; every later
    one comes dt = 0 after it and may not move past it (on the wall clock each moved on)."""
    probe = Probe("mairl_test_frozen_clock")
    probe.listen(Float64MultiArray, DRIVER_CMD, keep=True)
    proc = NodeProcess("safety_node", tmp_path / "safety.log", use_sim_time=True)
    clock_pub = probe.node.create_publisher(Clock, "/clock", 10)
    js_pub = probe.node.create_publisher(JointState, "/joint_states", 10)
    cmd_pub = probe.node.create_publisher(JointState, "/mairl/command", 10)
    tick = Clock()
    tick.clock.sec = 100
    q0 = np.array([0.0, -1.57, 1.57, -1.57, -1.57, 0.0])
    try:
        probe.wait_for(
            lambda: cmd_pub.get_subscription_count() > 0 and clock_pub.get_subscription_count() > 0,
            what="the safety node",
            procs=(proc,),
        )
        for _ in range(30):
            clock_pub.publish(tick)
            probe.spin(0.01)
        for _ in range(20):
            msg = JointState()
            msg.header.stamp = tick.clock
            sent = probe.history.get(DRIVER_CMD)
            msg.name, msg.position = list(NAMES), list(sent[-1][1].data if sent else q0)
            js_pub.publish(msg)
            probe.spin(0.01)
            command(cmd_pub, q0 + [0, 0, 0, 0, 0, 1.0])
            probe.spin(0.03)
        probe.wait_for(lambda: len(probe.history.get(DRIVER_CMD, [])) >= 5, what="5 driver commands")
        sent = np.array([m.data for _, m in probe.history[DRIVER_CMD]])
        assert sent[0][5] == pytest.approx(q0[5] + LIMITS.max_step)
        assert np.all(np.abs(sent - sent[0]) < 1e-9)  # not a step more while the clock stands
    finally:
        code = proc.stop()
        probe.close()
    assert code == 0, proc.output()


def test_a_lockstep_sim_waits_for_each_periods_command_and_applies_it_over_the_whole_period(tmp_path):
    """``lockstep``: /clock moves a control period at a time and the sim simulates a period
    only once its command is in. A client commanding on every /clock (as the nodes' timers on
    sim time do) then gets periods that are what the in-process arm makes of each command from
    that state (on a free-running fast sim the command lands a tick or two into the period),
    and a client that stops leaves the clock standing for ``lockstep_timeout``."""
    from mairl_core.envs.sim_arm import SimArm

    probe = Probe("mairl_test_lockstep")
    probe.listen(Clock, "/clock", keep=True)
    cmd_pub = probe.node.create_publisher(Float64MultiArray, DRIVER_CMD, 10)
    states, sent = [], []

    def on_state(msg):
        states.append((stamp_s(msg.header.stamp), q_of(msg), np.array(msg.velocity)))

    def on_clock(msg):  # a period starts: command from its state, wrist 3 on 0.02 rad
        if len(sent) < 12 and states and states[-1][0] == stamp_s(msg.clock):
            q = states[-1][1] + [0, 0, 0, 0, 0.01, 0.02]
            sent.append((states[-1][0], q))
            cmd_pub.publish(Float64MultiArray(data=[float(v) for v in q]))

    probe.node.create_subscription(JointState, "/joint_states", on_state, 50)
    probe.node.create_subscription(Clock, "/clock", on_clock, 50)
    sim = NodeProcess(
        "sim_node",
        tmp_path / "sim.log",
        target=[0.1, -0.5, 0.2],
        real_time_factor=RTF,
        publish_clock=True,
        lockstep=True,
        lockstep_timeout=5.0,
    )
    try:
        probe.wait_for(lambda: len(sent) == 12, what="12 periods", procs=(sim,))
        probe.spin(1.0)  # the 12th command's period, then the sim waits for a 13th (5 s)
        stood = stamp_s(probe.latest["/clock"].clock)
        probe.spin(1.0)
        assert stamp_s(probe.latest["/clock"].clock) == stood  # waiting, not simulating
        by_time = {round(t, 6): (q, qd) for t, q, qd in states}
        period = LIMITS.control_period
        ticks = [stamp_s(m.clock) for _, m in probe.history["/clock"]]
        assert np.allclose(np.diff(ticks), period)  # the clock moves a period at a time
        arm = SimArm("reach", seed=0)
        arm.reset([0.1, -0.5, 0.2])
        # from the 2nd command on (the 1st may land while the sim still runs free)
        for t, q_cmd in sent[1:]:
            q, qd = by_time[round(t, 6)]
            after = by_time[round(t + period, 6)][0]
            arm.data.qpos[:6], arm.data.qvel[:6] = q, qd
            arm.command(q_cmd)
            arm.advance(period)
            assert np.max(np.abs(arm.positions - after)) < 1e-6, (t, arm.positions - after)
    finally:
        code = sim.stop()
        probe.close()
    assert code == 0, sim.output()
