"""The recorder over real DDS: the scripted operator teleoperates the sim arm through
mairl-teleop -> mairl-recorder (differential IK) -> mairl-safety -> mairl-sim, and the
recorder writes MCAP episodes that rosbags opens, with the driver's names and types, and
that the training loader reads."""

from __future__ import annotations

import re

import numpy as np
import pytest
from _ros_helpers import NodeProcess, Probe

pytest.importorskip("rclpy")

from std_msgs.msg import String  # noqa: E402
from std_srvs.srv import Trigger  # noqa: E402

from mairl_core.data.bags import reach_transitions, read_episode  # noqa: E402
from mairl_core.envs.kinematics import fingertip_position  # noqa: E402
from mairl_core.envs.ur5_model import load_ur5  # noqa: E402
from mairl_core.safety import load_safety_limits  # noqa: E402
from mairl_ros.node import event_qos  # noqa: E402

STEPS = 40


def _event_probe(name: str) -> tuple[Probe, list[str]]:
    """A probe node and the list the recorder's episode events land in."""
    probe, events = Probe(name), []
    probe.node.create_subscription(
        String, "/mairl/episode/event", lambda m: events.append(m.data), event_qos()
    )
    return probe, events


def _tip_distances(robot, ep) -> tuple[float, float]:
    """Fingertip-to-block distance at the start and at the end of a recorded episode."""
    return tuple(float(np.linalg.norm(fingertip_position(robot, q) - ep.target)) for q in (ep.q[0], ep.q[-1]))


def test_recorder_writes_teleop_episodes_as_mcap(tmp_path):
    data = tmp_path / "demos"
    probe, events = _event_probe("mairl_test_recorder_probe")
    procs = [
        NodeProcess("sim_node", tmp_path / "sim.log", seed=4),
        NodeProcess("safety_node", tmp_path / "safety.log"),
        NodeProcess("teleop", tmp_path / "teleop.log", mode="scripted", seed=1),
        NodeProcess(
            "recorder",
            tmp_path / "rec.log",
            dataset=str(data),
            episodes=2,
            episode_steps=STEPS,
            reset_service="/mairl/sim/reset",
        ),
    ]
    try:
        rec = procs[3]
        # the recorder exits when done: wait for that, not for the probe to have seen its events
        # (a probe that DDS matched late, on a loaded machine, misses events of a gone node)
        probe.wait_for(lambda: not rec.alive(), 60.0, "two recorded episodes", procs=tuple(procs[:3]))
        assert rec.proc.wait(timeout=20) == 0, rec.output()
        logged = re.findall(r"\]: ((?:start|saved|finished) \d+)$", rec.output(), re.M)
        # resume: a second recorder continues the numbering, and its services work. Its
        # episodes are long, so the one it starts is still recording when it is discarded
        # (with STEPS it could finish and save first on a slow machine; seen in CI)
        again = NodeProcess("recorder", tmp_path / "rec2.log", dataset=str(data), episode_steps=100_000)
        try:
            res = probe.call(Trigger, "/mairl/episode/start", Trigger.Request())
            assert res.success and res.message == "recording episode_002", res.message
            probe.wait_for(lambda: "start 2" in events, 30.0, "the third episode to start")
            res = probe.call(Trigger, "/mairl/episode/discard", Trigger.Request())
            assert res.success and "discarded episode 2" in res.message
        finally:
            assert again.stop() == 0, again.output()
    finally:
        for p in procs:
            p.stop()
        probe.close()
    assert logged == ["start 0", "saved 0", "start 1", "saved 1", "finished 2"]
    bags = sorted(p.name for p in data.iterdir())
    assert bags == ["episode_000", "episode_001"]

    from rosbags.rosbag2 import Reader

    with Reader(data / "episode_000") as r:
        types = {c.topic: c.msgtype for c in r.connections}
        counts = {c.topic: c.msgcount for c in r.connections}
    assert types == {
        "/joint_states": "sensor_msgs/msg/JointState",
        "/mairl/target": "geometry_msgs/msg/PointStamped",
        "/mairl/command": "sensor_msgs/msg/JointState",
    }
    assert counts["/joint_states"] == STEPS + 1 and counts["/mairl/command"] == STEPS

    robot, limits = load_ur5(), load_safety_limits()
    eps = [read_episode(data / b) for b in bags]
    for ep in eps:
        assert ep.period == pytest.approx(limits.control_period, rel=1e-6)
        steps = np.abs(ep.commands - ep.q[:-1])
        assert steps.max() <= limits.max_step + 0.02  # safe commands, against a fresh state
        start, end = _tip_distances(robot, ep)
        assert end < start - 0.05, (start, end)  # the operator moved the arm to the block
    assert not np.allclose(eps[0].target, eps[1].target)  # a new block per episode
    arrays = reach_transitions(eps, robot)
    assert arrays["obs"].shape == (2, STEPS, 15) and arrays["act"].shape == (2, STEPS, 6)


def test_automatic_recording_waits_for_the_operator_and_the_safety_node(tmp_path):
    """With `episodes` set, the recorder starts its first episode only once the operator's
    twists arrive and the safety node forwards the commands: an episode recorded before the
    teleop node is up, or while the safety node has no joint state yet (DDS had not matched it
    with the sim's publisher on a loaded machine), held the arm still from start to end."""
    data = tmp_path / "demos"
    probe, events = _event_probe("mairl_test_recorder_wait_probe")
    deaf = {"/joint_states": "/mairl_test/no_joint_states"}  # a safety node that never hears the arm
    procs = [
        NodeProcess("sim_node", tmp_path / "sim.log", seed=5),
        NodeProcess("safety_node", tmp_path / "deaf_safety.log", remaps=deaf),
        NodeProcess(
            "recorder",
            tmp_path / "rec.log",
            dataset=str(data),
            episodes=1,
            episode_steps=STEPS,
            reset_service="/mairl/sim/reset",
        ),
    ]
    try:
        probe.wait_for(
            lambda: "waiting for the operator" in procs[2].output(),
            60.0,
            "the recorder to wait for the operator",
            procs=tuple(procs),
        )
        probe.spin(2.0)
        assert not any(e.startswith("start") for e in events), events
        procs.append(NodeProcess("teleop", tmp_path / "teleop.log", mode="scripted", seed=2))
        probe.wait_for(
            lambda: "scripted teleop" in procs[3].output(), 60.0, "the teleop node", procs=tuple(procs)
        )
        probe.spin(3.0)  # twists flow, the safety node holds: still no episode
        assert not any(e.startswith("start") for e in events), events
        assert procs[1].stop() == 0
        procs[1] = NodeProcess("safety_node", tmp_path / "safety.log")
        probe.wait_for(
            lambda: any(e.startswith("finished") for e in events),
            60.0,
            "the recorded episode",
            procs=tuple(procs),
        )
    finally:
        for p in procs:
            p.stop()
        probe.close()
    start, end = _tip_distances(load_ur5(), read_episode(data / "episode_000"))
    assert end < start - 0.05, (start, end)


def test_grasp_recording_over_ros_lifts_the_block(tmp_path):
    """Grasp: the scripted operator sees the block and the vacuum sensor over the topics,
    switches the suction through the sim's service, and the saved episode carries
    /mairl/suction and the vacuum sensor with the block lifted (the recorder keeps only
    successful episodes)."""
    from mairl_core.data.bags import grasp_transitions

    data = tmp_path / "grasp"
    probe = Probe("mairl_test_grasp_probe")
    procs = [
        NodeProcess("sim_node", tmp_path / "sim.log", task="grasp", seed=3),
        NodeProcess("safety_node", tmp_path / "safety.log"),
        NodeProcess("teleop", tmp_path / "teleop.log", task="grasp", mode="scripted", seed=2),
        NodeProcess(
            "recorder",
            tmp_path / "rec.log",
            task="grasp",
            dataset=str(data),
            episodes=1,
            require_success=True,
            reset_service="/mairl/sim/reset",
        ),
    ]
    try:
        probe.wait_for(
            lambda: not procs[3].alive(), 90.0, "a successful grasp episode", procs=tuple(procs[:3])
        )
        assert procs[3].proc.wait(timeout=20) == 0, procs[3].output()
    finally:
        for p in procs:
            p.stop()
        probe.close()
    ep = read_episode(data / "episode_000", grasp=True)
    assert ep.suction.any() and ep.suction[-1]
    assert ep.target_path[-1][2] - ep.target_path[0][2] >= 0.05  # lifted
    assert ep.vacuum[-1] and not ep.vacuum[0]  # the sensor saw the block on the cup at the end
    assert not (ep.vacuum[1:] & ~ep.suction).any()  # and never with the suction off
    arrays = grasp_transitions([ep], load_ur5(), suction_value=0.15)
    assert arrays["act"].shape == (1, 150, 7) and arrays["obs"].shape == (1, 150, 17)


def _record_session(tmp_path, name: str, data, episodes: int, seed: int = 4) -> str:
    """A whole recording stack started afresh (sim, safety, scripted teleop, recorder with
    ``episodes`` in total), run until the recorder exits; the recorder's log."""
    procs = [
        NodeProcess("sim_node", tmp_path / f"{name}-sim.log", seed=seed),
        NodeProcess("safety_node", tmp_path / f"{name}-safety.log"),
        NodeProcess("teleop", tmp_path / f"{name}-teleop.log", mode="scripted", seed=1),
    ]
    rec = NodeProcess(
        "recorder",
        tmp_path / f"{name}-rec.log",
        dataset=str(data),
        episodes=episodes,
        episode_steps=STEPS,
        reset_service="/mairl/sim/reset",
    )
    try:
        rec.proc.wait(timeout=90)
    finally:
        rec.stop()
        for p in procs:
            p.stop()
    assert rec.proc.returncode == 0, rec.output()
    return rec.output()


def test_resumed_recording_draws_new_blocks_and_episodes_count_in_total(tmp_path):
    """A recording stopped after one episode and started again (the whole stack: the sim's
    own counter starts over) gets new blocks, episode i's being env.reset(seed=seed + i),
    and `episodes` is the dataset's total: the same command finishes the dataset, and
    again records nothing."""
    from mairl_core.envs.ur5_reach import UR5ReachEnv

    data = tmp_path / "demos"
    _record_session(tmp_path, "first", data, episodes=1)
    log = _record_session(tmp_path, "again", data, episodes=2)
    assert "1 episode in the dataset; recording 1 more, up to episodes:=2 in total" in log, log
    assert "does not take the episode index" not in log
    bags = sorted(p.name for p in data.iterdir())
    assert bags == ["episode_000", "episode_001"], f"episodes:=2 after 1 recorded left {len(bags)}: {bags}"
    eps = [read_episode(data / b) for b in bags]
    env = UR5ReachEnv()

    def block(i: int):  # the sim's block i
        env.reset(seed=4 + i)
        return env.target.copy()

    blocks = [block(i) for i in range(2)]
    gap = float(np.linalg.norm(eps[1].target - eps[0].target))
    assert gap > 0.01, f"the resumed recording repeated episode_000's block ({gap * 100:.2f} cm apart)"
    for ep, block in zip(eps, blocks):
        assert np.allclose(ep.target, block, atol=1e-9), (ep.target, block)
    log = _record_session(tmp_path, "complete", data, episodes=2)
    assert "complete (episodes:=2 in total), nothing to record" in log, log
    assert sorted(p.name for p in data.iterdir()) == bags
