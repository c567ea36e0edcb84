"""Demo episodes as rosbag2 MCAP bags, with the topics and types of ROS_INTERFACES.md.

One bag per episode. Per control step t (stamp t x period):
``/joint_states`` (sensor_msgs/JointState: measured positions and velocities),
``/mairl/target`` (geometry_msgs/PointStamped) and, for t < T,
``/mairl/command`` (sensor_msgs/JointState: the safe absolute joint command sent) and,
for grasping, ``/mairl/suction`` (std_msgs/Bool: the suction command sent with it) and,
at every t, ``/mairl/suction/vacuum`` (std_msgs/Bool: the vacuum sensor, the block is on
the cup). For reach the target is fixed; for grasp ``/mairl/target`` follows the block.
Written with ``rosbags``, so ``ros2 bag play`` replays them on a ROS 2 machine
and the ROS recorder writes the same format.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

JOINT_STATES, TARGET, COMMAND, SUCTION, VACUUM = (
    "/joint_states", "/mairl/target", "/mairl/command", "/mairl/suction", "/mairl/suction/vacuum")
TYPES = {JOINT_STATES: "sensor_msgs/msg/JointState", TARGET: "geometry_msgs/msg/PointStamped",
         COMMAND: "sensor_msgs/msg/JointState"}
SUCTION_TYPE = "std_msgs/msg/Bool"
GRASP_TYPES = {SUCTION: SUCTION_TYPE, VACUUM: SUCTION_TYPE}


class BagError(ValueError):
    """A demo bag is missing, corrupt, incomplete or has the wrong topic types."""


@dataclass
class Episode:
    """q, qdot: (T+1, n) measured joint states; commands: (T, n); target: (3,) where the block
    started; grasping adds suction: (T,) bool commands, target_path: (T+1, 3) the block and
    vacuum: (T+1,) bool, the vacuum sensor."""

    joint_names: list[str]
    q: np.ndarray
    qdot: np.ndarray
    commands: np.ndarray
    target: np.ndarray
    period: float
    suction: np.ndarray | None = None
    target_path: np.ndarray | None = None
    vacuum: np.ndarray | None = None


def _typestore():
    from rosbags.typesys import Stores, get_typestore

    return get_typestore(Stores.ROS2_KILTED)


def _stamp(ts, t_ns: int):
    return ts.types["std_msgs/msg/Header"](
        stamp=ts.types["builtin_interfaces/msg/Time"](sec=t_ns // 10**9, nanosec=t_ns % 10**9),
        frame_id="base")


def write_episode(path: str | Path, ep: Episode) -> Path:
    """Write ``ep`` as an MCAP rosbag2 directory at ``path`` (must not exist)."""
    from rosbags.rosbag2 import StoragePlugin, Writer

    ts = _typestore()
    js, pt, pnt = (ts.types["sensor_msgs/msg/JointState"], ts.types["geometry_msgs/msg/PointStamped"],
                   ts.types["geometry_msgs/msg/Point"])
    path = Path(path)
    grasp = ep.suction is not None
    if grasp and (ep.vacuum is None or ep.target_path is None):
        raise ValueError("a grasp episode needs target_path and vacuum beside suction")
    types = {**TYPES, **GRASP_TYPES} if grasp else dict(TYPES)
    with Writer(path, version=9, storage_plugin=StoragePlugin.MCAP) as w:
        conns = {topic: w.add_connection(topic, types[topic], typestore=ts) for topic in types}
        for t in range(len(ep.q)):
            ns = int(round(t * ep.period * 1e9))
            w.write(conns[JOINT_STATES], ns, ts.serialize_cdr(js(
                header=_stamp(ts, ns), name=list(ep.joint_names), position=np.asarray(ep.q[t], float),
                velocity=np.asarray(ep.qdot[t], float), effort=np.zeros(0)), TYPES[JOINT_STATES]))
            target = ep.target if ep.target_path is None else ep.target_path[t]
            w.write(conns[TARGET], ns, ts.serialize_cdr(pt(
                header=_stamp(ts, ns), point=pnt(*map(float, target))), TYPES[TARGET]))
            if grasp:
                w.write(conns[VACUUM], ns, ts.serialize_cdr(
                    ts.types[SUCTION_TYPE](data=bool(ep.vacuum[t])), SUCTION_TYPE))
            if t < len(ep.commands):
                w.write(conns[COMMAND], ns, ts.serialize_cdr(js(
                    header=_stamp(ts, ns), name=list(ep.joint_names),
                    position=np.asarray(ep.commands[t], float), velocity=np.zeros(0),
                    effort=np.zeros(0)), TYPES[COMMAND]))
                if ep.suction is not None:
                    w.write(conns[SUCTION], ns, ts.serialize_cdr(
                        ts.types[SUCTION_TYPE](data=bool(ep.suction[t])), SUCTION_TYPE))
    return path


def read_episode(path: str | Path, grasp: bool = False) -> Episode:
    """Read a bag written by ``write_episode`` (or the ROS recorder); BagError names what is wrong.

    ``grasp``: the bag must also hold ``/mairl/suction`` and ``/mairl/suction/vacuum``, and
    the target may move."""
    from rosbags.rosbag2 import Reader

    path = Path(path)
    if not path.exists():
        raise BagError(f"{path}: no such bag")
    ts = _typestore()
    try:
        with Reader(path) as r:
            by_topic = {c.topic: c for c in r.connections}
            types = {**TYPES, **GRASP_TYPES} if grasp else TYPES
            for topic, msgtype in types.items():
                if topic not in by_topic:
                    raise BagError(f"{path}: topic {topic} missing (has: {sorted(by_topic)})")
                if by_topic[topic].msgtype != msgtype:
                    raise BagError(f"{path}: topic {topic} has type {by_topic[topic].msgtype}, "
                                   f"expected {msgtype}")
            msgs: dict[str, list] = {t: [] for t in types}
            stamps: list[int] = []
            for conn, stamp, raw in r.messages(connections=[by_topic[t] for t in types]):
                msgs[conn.topic].append(ts.deserialize_cdr(raw, conn.msgtype))
                if conn.topic == JOINT_STATES:
                    stamps.append(stamp)
    except BagError:
        raise
    except Exception as exc:  # noqa: BLE001 - rosbags raises many kinds for corrupt files
        raise BagError(f"{path}: cannot read bag ({type(exc).__name__}: {exc})") from None
    states, targets, commands = msgs[JOINT_STATES], msgs[TARGET], msgs[COMMAND]
    if len(states) < 2:
        raise BagError(f"{path}: incomplete episode ({len(states)} joint states)")
    if len(commands) != len(states) - 1:
        raise BagError(f"{path}: {len(commands)} commands for {len(states)} joint states "
                       f"(expected one fewer)")
    names = list(states[0].name)
    if any(list(m.name) != names for m in states + commands):
        raise BagError(f"{path}: joint names differ between messages")
    q = np.array([m.position for m in states], float)
    qdot = np.array([m.velocity for m in states], float)
    cmd = np.array([m.position for m in commands], float)
    target = np.array([[m.point.x, m.point.y, m.point.z] for m in targets], float)
    if not (np.all(np.isfinite(q)) and np.all(np.isfinite(qdot)) and np.all(np.isfinite(cmd))
            and np.all(np.isfinite(target))):
        raise BagError(f"{path}: NaN or inf in the recorded data")
    if grasp:
        suction = np.array([m.data for m in msgs[SUCTION]], bool)
        vacuum = np.array([m.data for m in msgs[VACUUM]], bool)
        if len(suction) != len(cmd) or len(target) != len(q) or len(vacuum) != len(q):
            raise BagError(f"{path}: {len(suction)} suction commands, {len(target)} targets and "
                           f"{len(vacuum)} vacuum readings for {len(cmd)} joint commands and "
                           f"{len(q)} joint states")
    elif len(target) == 0 or np.ptp(target, axis=0).max() > 1e-9:
        raise BagError(f"{path}: the target must be recorded and fixed within an episode")
    period = float(np.median(np.diff(stamps))) * 1e-9
    if not grasp:
        return Episode(names, q, qdot, cmd, target[0], period)
    return Episode(names, q, qdot, cmd, target[0], period, suction=suction, target_path=target,
                   vacuum=vacuum)


def _stack_transitions(obs: list[np.ndarray], act: list[np.ndarray]) -> dict[str, np.ndarray]:
    """Per-episode observations (T+1, d) and actions (T, k) -> obs, act, next_obs arrays."""
    if len({o.shape for o in obs}) > 1:
        raise BagError("episodes differ in length; trainers need fixed-length episodes")
    obs_arr = np.stack(obs)
    return {"obs": obs_arr[:, :-1], "act": np.stack(act), "next_obs": obs_arr[:, 1:]}


def reach_transitions(episodes: list[Episode], robot, max_joint_speed: float | None = None
                      ) -> dict[str, np.ndarray]:
    """Training arrays from reach episodes: obs (N, T, 15), act (N, T, 6) = command - q, next_obs.

    Observations come from ``reach_observation``, the function the env and the
    policy server use, so demos and agent data are alike by construction.
    """
    from ..envs.kinematics import fingertip_position
    from ..envs.ur5_reach import reach_observation

    speed = robot.max_joint_speed if max_joint_speed is None else max_joint_speed
    obs, act = [], []
    for ep in episodes:
        o = np.stack([reach_observation(q, qd, fingertip_position(robot, q), ep.target, speed)
                      for q, qd in zip(ep.q, ep.qdot)])
        obs.append(o)
        act.append((ep.commands - ep.q[:-1]).astype(np.float32))
    return _stack_transitions(obs, act)


def grasp_transitions(episodes: list[Episode], robot, suction_value: float,
                      max_joint_speed: float | None = None) -> dict[str, np.ndarray]:
    """Training arrays from grasp episodes: obs (N, T, 17), act (N, T, 7), next_obs.

    The suction state in obs[t] is the command of step t-1 (off at t = 0), the vacuum
    entry the sensor's reading at t; the
    action's suction entry is +suction_value (on) or -suction_value (off), the
    values the env thresholds at 0.
    """
    from ..envs.kinematics import fingertip_position
    from ..envs.ur5_grasp import grasp_observation

    speed = robot.max_joint_speed if max_joint_speed is None else max_joint_speed
    obs, act = [], []
    for ep in episodes:
        if ep.suction is None or ep.target_path is None or ep.vacuum is None:
            raise BagError("a grasp episode needs suction commands, the block's path and the "
                           "vacuum sensor")
        state = np.concatenate([[0.0], ep.suction.astype(float)])
        obs.append(np.stack([grasp_observation(q, qd, fingertip_position(robot, q), b, s, v, speed)
                             for q, qd, b, s, v in zip(ep.q, ep.qdot, ep.target_path, state,
                                                       ep.vacuum.astype(float))]))
        sign = np.where(ep.suction, suction_value, -suction_value)[:, None]
        act.append(np.concatenate([ep.commands - ep.q[:-1], sign], 1).astype(np.float32))
    return _stack_transitions(obs, act)
