"""Demo episodes as rosbag2 MCAP bags, with the topics and types of docs/ros_interfaces.md.

One bag per episode. Per control step t (stamp t x period):
``/joint_states`` (sensor_msgs/JointState: measured positions and velocities),
``/mairl/target`` (geometry_msgs/PointStamped) and, for t < T,
``/mairl/command`` (sensor_msgs/JointState: the safe absolute joint command sent) and,
for grasping, ``/mairl/suction`` (std_msgs/Bool: the suction command sent with it) and,
at every t, ``/mairl/suction/vacuum`` (std_msgs/Bool: the vacuum sensor, the block is on
the cup). For reach the target is fixed; for grasp ``/mairl/target`` follows the block.
Written with ``rosbags``, so ``ros2 bag play`` replays them on a ROS 2 machine
and the ROS recorder writes the same format.

Reading (``read_episode``, ``read_dataset`` for a directory of bags) matches joints by
name to the robot's order and refuses what a trainer must not learn from: corrupt or
incomplete bags, wrong topic types, unknown, missing or unnamed joints, NaN, and
positions or velocities beyond the robot's limits. Every refusal is a BagError whose
one-line message names the bag.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from ..envs.ur5_model import UR5Config

JOINT_STATES, TARGET, COMMAND, SUCTION, VACUUM = (
    "/joint_states",
    "/mairl/target",
    "/mairl/command",
    "/mairl/suction",
    "/mairl/suction/vacuum",
)
TYPES = {
    JOINT_STATES: "sensor_msgs/msg/JointState",
    TARGET: "geometry_msgs/msg/PointStamped",
    COMMAND: "sensor_msgs/msg/JointState",
}
SUCTION_TYPE = "std_msgs/msg/Bool"
GRASP_TYPES = {SUCTION: SUCTION_TYPE, VACUUM: SUCTION_TYPE}
POSITION_TOLERANCE = 0.05
"""rad a recorded position may lie outside the robot's joint limits (encoder noise, a servo
overshooting at a limit); beyond it the bag is refused (wrong units, a corrupt recording)."""
SPEED_TOLERANCE = 0.5
"""rad/s a measured joint velocity may exceed the robot's max_joint_speed (velocities are
noisy estimates; the recorded demos stay below 1 rad/s against a 3.14 rad/s limit)."""


class BagError(ValueError):
    """A demo bag (or dataset directory) is missing, corrupt, incomplete, has the wrong topic
    types or joints, or values a robot cannot have; the message is one line naming the bag."""

    def __init__(self, message: str):
        # one line whatever the bag holds: joint or topic names from a damaged bag may not be
        super().__init__(message.replace("\r", "\\r").replace("\n", "\\n"))


@dataclass
class Episode:
    """q, qdot: (T+1, n) measured joint states; commands: (T, n); target: (3,) where the block
    started; grasping adds suction: (T,) bool commands, target_path: (T+1, 3) the block and
    vacuum: (T+1,) bool, the vacuum sensor. The columns follow ``joint_names``; a read
    episode has the robot's joint order, whatever order the bag listed them in."""

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
        frame_id="base",
    )


META_PREFIX = "mairl."
"""Keys of the bag's ``custom_data`` (metadata.yaml) this project writes: ``mairl.task``
(reach or grasp), ``mairl.operator`` (who drove the arm: scripted, keyboard, ...)."""


def write_episode(path: str | Path, ep: Episode, meta: dict[str, str] | None = None) -> Path:
    """Write ``ep`` as an MCAP rosbag2 directory at ``path`` (must not exist); ``meta`` (e.g.
    {"task": "reach", "operator": "keyboard"}) goes into metadata.yaml's ``custom_data`` as
    ``mairl.KEY``, which ``ros2 bag info`` shows and ``bag_meta`` reads back."""
    from rosbags.rosbag2 import StoragePlugin, Writer

    ts = _typestore()
    js, pt, pnt = (
        ts.types["sensor_msgs/msg/JointState"],
        ts.types["geometry_msgs/msg/PointStamped"],
        ts.types["geometry_msgs/msg/Point"],
    )
    path = Path(path)
    grasp = ep.suction is not None
    if grasp and (ep.vacuum is None or ep.target_path is None):
        raise ValueError("a grasp episode needs target_path and vacuum beside suction")
    types = {**TYPES, **GRASP_TYPES} if grasp else dict(TYPES)
    with Writer(path, version=9, storage_plugin=StoragePlugin.MCAP) as w:
        for key, value in (meta or {}).items():
            w.set_custom_data(META_PREFIX + key, str(value))
        conns = {topic: w.add_connection(topic, types[topic], typestore=ts) for topic in types}
        for t in range(len(ep.q)):
            ns = int(round(t * ep.period * 1e9))
            w.write(
                conns[JOINT_STATES],
                ns,
                ts.serialize_cdr(
                    js(
                        header=_stamp(ts, ns),
                        name=list(ep.joint_names),
                        # contiguous: rosbags cannot serialise a strided row (a column-reordered array's)
                        position=np.ascontiguousarray(ep.q[t], float),
                        velocity=np.ascontiguousarray(ep.qdot[t], float),
                        effort=np.zeros(0),
                    ),
                    TYPES[JOINT_STATES],
                ),
            )
            target = ep.target if ep.target_path is None else ep.target_path[t]
            w.write(
                conns[TARGET],
                ns,
                ts.serialize_cdr(pt(header=_stamp(ts, ns), point=pnt(*map(float, target))), TYPES[TARGET]),
            )
            if grasp:
                w.write(
                    conns[VACUUM],
                    ns,
                    ts.serialize_cdr(ts.types[SUCTION_TYPE](data=bool(ep.vacuum[t])), SUCTION_TYPE),
                )
            if t < len(ep.commands):
                w.write(
                    conns[COMMAND],
                    ns,
                    ts.serialize_cdr(
                        js(
                            header=_stamp(ts, ns),
                            name=list(ep.joint_names),
                            position=np.ascontiguousarray(ep.commands[t], float),
                            velocity=np.zeros(0),
                            effort=np.zeros(0),
                        ),
                        TYPES[COMMAND],
                    ),
                )
                if ep.suction is not None:
                    w.write(
                        conns[SUCTION],
                        ns,
                        ts.serialize_cdr(ts.types[SUCTION_TYPE](data=bool(ep.suction[t])), SUCTION_TYPE),
                    )
    return path


def bag_meta(path: str | Path) -> dict[str, str]:
    """The ``mairl.*`` custom data of a bag directory's metadata.yaml, without the prefix
    ({} for a bare .mcap file, an older bag, or metadata that cannot be read)."""
    import yaml

    try:
        doc = yaml.safe_load((Path(path) / "metadata.yaml").read_text())
        custom = doc["rosbag2_bagfile_information"].get("custom_data") or {}
        return {
            k[len(META_PREFIX) :]: str(v)
            for k, v in custom.items()
            if isinstance(k, str) and k.startswith(META_PREFIX)
        }
    except Exception:  # noqa: BLE001 - metadata is advisory here; read_episode judges the bag
        return {}


def read_episode(path: str | Path, grasp: bool = False, robot: UR5Config | None = None) -> Episode:
    """Read a bag written by ``write_episode`` (or the ROS recorder); BagError names the bag and
    what is wrong with it, in one line.

    Joints are matched by name to ``robot``'s order (default: the UR5 of ``config/ur5.yaml``),
    message by message, so a bag may list them in any order (the UR driver publishes them
    alphabetically); the episode's arrays and ``joint_names`` are in the robot's order. A bag
    is refused when a message names no joints, misses or repeats one or names one the robot
    does not have, when a value is NaN or inf, or when a measured or commanded position lies
    more than POSITION_TOLERANCE outside the robot's joint limits or a measured velocity more
    than SPEED_TOLERANCE above its joint speed limit, or when the header stamps of
    ``/joint_states`` or ``/mairl/command`` do not increase message by message.

    ``grasp``: the bag must also hold ``/mairl/suction`` and ``/mairl/suction/vacuum``, and
    the target may move."""
    from ..envs.ur5_model import load_ur5

    path = Path(path)
    if not path.exists():
        raise BagError(f"{path}: no such bag")
    robot = load_ur5() if robot is None else robot
    msgs, stamps = _read_messages(path, {**TYPES, **GRASP_TYPES} if grasp else TYPES)
    states, targets, commands = msgs[JOINT_STATES], msgs[TARGET], msgs[COMMAND]
    if len(states) < 2:
        raise BagError(f"{path}: incomplete episode ({len(states)} joint states)")
    if len(commands) != len(states) - 1:
        raise BagError(
            f"{path}: {len(commands)} commands for {len(states)} joint states (expected one fewer)"
        )
    q = _joint_array(path, JOINT_STATES, states, "position", robot)
    qdot = _joint_array(path, JOINT_STATES, states, "velocity", robot)
    cmd = _joint_array(path, COMMAND, commands, "position", robot)
    target = np.array([[m.point.x, m.point.y, m.point.z] for m in targets], float).reshape(-1, 3)
    if not np.all(np.isfinite(target)):
        raise BagError(f"{path}: NaN or inf in {TARGET}")
    lower = np.asarray(robot.joint_lower, float) - POSITION_TOLERANCE
    upper = np.asarray(robot.joint_upper, float) + POSITION_TOLERANCE
    speed = np.full(len(robot.joint_names), robot.max_joint_speed + SPEED_TOLERANCE)
    _check_range(path, f"{JOINT_STATES} position", q, lower, upper, "rad", robot.joint_names)
    _check_range(path, f"{COMMAND} position", cmd, lower, upper, "rad", robot.joint_names)
    _check_range(path, f"{JOINT_STATES} velocity", qdot, -speed, speed, "rad/s", robot.joint_names)
    if grasp:
        suction = np.array([bool(m.data) for m in msgs[SUCTION]], bool)
        vacuum = np.array([bool(m.data) for m in msgs[VACUUM]], bool)
        if len(suction) != len(cmd) or len(target) != len(q) or len(vacuum) != len(q):
            raise BagError(
                f"{path}: {len(suction)} suction commands, {len(target)} targets and "
                f"{len(vacuum)} vacuum readings for {len(cmd)} joint commands and "
                f"{len(q)} joint states"
            )
    elif len(target) == 0 or np.ptp(target, axis=0).max() > 1e-9:
        raise BagError(f"{path}: the target must be recorded and fixed within an episode")
    for topic, ms in ((JOINT_STATES, states), (COMMAND, commands)):
        sensed = np.array([m.header.stamp.sec * 10**9 + m.header.stamp.nanosec for m in ms], np.int64)
        back = np.flatnonzero(np.diff(sensed) <= 0)
        if len(back):
            raise BagError(
                f"{path}: {topic} header stamps do not increase at message "
                f"{back[0] + 1} ({sensed[back[0]]} then {sensed[back[0] + 1]} ns)"
            )
    period = float(np.median(np.diff(stamps))) * 1e-9
    if not period > 0:
        raise BagError(f"{path}: {JOINT_STATES} stamps do not advance (median period {period:g} s)")
    names = list(robot.joint_names)
    if not grasp:
        return Episode(names, q, qdot, cmd, target[0], period)
    return Episode(names, q, qdot, cmd, target[0], period, suction=suction, target_path=target, vacuum=vacuum)


def read_dataset(
    demo_dir: str | Path, n: int | None = None, grasp: bool = False, robot: UR5Config | None = None
) -> list[Episode]:
    """The first ``n`` (default: all) episodes of a dataset directory, sorted by name.

    A dataset is a directory of bags (``mairl demos`` or ``mairl-recorder`` output:
    ``episode_NNN`` bag directories; a bare ``.mcap`` file in it counts as a bag too). A file,
    or a single bag directory (one holding ``metadata.yaml``), is refused rather than read as
    a one-episode dataset: trainers need many episodes, and the message says what to pass.
    Every bag is read by ``read_episode``; the episodes must all have the same number of
    steps. BagError names the directory or the offending bag.
    """
    from ..envs.ur5_model import load_ur5

    d = Path(demo_dir)
    bags = list_bags(d, "grasp" if grasp else "reach")
    if n is not None:
        if n < 1:
            raise BagError(f"{d}: {n} demos asked for; at least 1 is needed")
        if n > len(bags):
            raise BagError(f"{d}: {n} demos asked for, {len(bags)} recorded")
        bags = bags[:n]
    robot = load_ur5() if robot is None else robot
    episodes = [read_episode(b, grasp=grasp, robot=robot) for b in bags]
    steps = len(episodes[0].q) - 1
    for b, ep in zip(bags, episodes):
        if len(ep.q) - 1 != steps:
            raise BagError(
                f"{b}: {len(ep.q) - 1} steps, but {bags[0].name} has {steps}; "
                f"trainers need episodes of one length"
            )
    return episodes


def list_bags(demo_dir: str | Path, task: str = "reach") -> list[Path]:
    """The bags of a dataset directory, sorted by name: its subdirectories and bare ``.mcap``
    files (hidden ones excluded). BagError when it is missing, a file, one bag rather than a
    directory of bags, unreadable or empty (``task`` only shapes the hint)."""
    d = Path(demo_dir)
    make = f"make one with `mairl demos --task {task} --out {d}`"
    if not d.exists():
        raise BagError(f"{d}: demo directory does not exist ({make})")
    if not d.is_dir():
        raise BagError(
            f"{d}: is a file, not a directory of demo bags (pass the directory that "
            f"holds the episode bags, e.g. the --out of `mairl demos`)"
        )
    if (d / "metadata.yaml").exists():
        raise BagError(
            f"{d}: is one bag, not a directory of demo bags (pass the directory that holds it, {d.parent})"
        )
    try:
        bags = sorted(
            p for p in d.iterdir() if not p.name.startswith(".") and (p.is_dir() or p.suffix == ".mcap")
        )
    except OSError as exc:
        raise BagError(f"{d}: cannot list the demo directory ({_one_line(exc)})") from None
    if not bags:
        raise BagError(f"{d}: no episode bags in it ({make})")
    return bags


def _one_line(exc: BaseException | str, limit: int = 300) -> str:
    """An exception as one short line (rosbags' and YAML's messages can span lines)."""
    text = str(exc) if isinstance(exc, str) else f"{type(exc).__name__}: {exc}"
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _read_messages(path: Path, types: dict[str, str]) -> tuple[dict[str, list], list[int]]:
    """The deserialised messages of ``types``' topics, and the log stamps of /joint_states.

    Every connection on a topic is read (two publishers on /joint_states show up as a count
    mismatch instead of one being dropped silently); each must have the expected type."""
    from rosbags.rosbag2 import Reader

    ts = _typestore()
    try:
        with Reader(path) as r:
            conns: dict[str, list] = {}
            for c in r.connections:
                conns.setdefault(c.topic, []).append(c)
            for topic, msgtype in types.items():
                if topic not in conns:
                    raise BagError(f"{path}: topic {topic} missing (has: {sorted(conns)})")
                for c in conns[topic]:
                    if c.msgtype != msgtype:
                        raise BagError(f"{path}: topic {topic} has type {c.msgtype}, expected {msgtype}")
            msgs: dict[str, list] = {t: [] for t in types}
            stamps: list[int] = []
            for conn, stamp, raw in r.messages(connections=[c for t in types for c in conns[t]]):
                msgs[conn.topic].append(ts.deserialize_cdr(raw, conn.msgtype))
                if conn.topic == JOINT_STATES:
                    stamps.append(stamp)
    except BagError:
        raise
    except Exception as exc:  # noqa: BLE001 - rosbags raises many kinds for corrupt files
        raise BagError(f"{path}: cannot read bag ({_one_line(exc)})") from None
    return msgs, stamps


def _joint_array(path: Path, topic: str, msgs: list, field: str, robot: UR5Config) -> np.ndarray:
    """(len(msgs), 6): each JointState message's ``field`` matched by name to the robot's order."""
    from ..safety import order_by_name

    rows = []
    for i, m in enumerate(msgs):
        names = list(m.name)
        if not names:  # the gate reads unnamed values as in order; a recording must say
            raise BagError(
                f"{path}: {topic} message {i} names no joints (expected {list(robot.joint_names)})"
            )
        values = getattr(m, field)
        if len(values) == 0:
            raise BagError(f"{path}: {topic} message {i} has no {field} values")
        row, why = order_by_name(names, values, robot.joint_names)
        if row is None:
            raise BagError(f"{path}: {topic} message {i} ({field}): {why}")
        rows.append(row)
    arr = np.array(rows, float).reshape(len(rows), len(robot.joint_names))
    if not np.all(np.isfinite(arr)):
        raise BagError(f"{path}: NaN or inf in {topic} {field}")
    return arr


def _check_range(
    path: Path, what: str, values: np.ndarray, lo: np.ndarray, hi: np.ndarray, unit: str, names: list[str]
) -> None:
    bad = np.argwhere((values < lo) | (values > hi))
    if len(bad):
        t, j = bad[0]
        raise BagError(
            f"{path}: {what} of {names[j]} is {values[t, j]:.6g} {unit} at step {t}, "
            f"outside [{lo[j]:.4g}, {hi[j]:.4g}] (the robot's limits and tolerance)"
        )


def _stack_transitions(obs: list[np.ndarray], act: list[np.ndarray]) -> dict[str, np.ndarray]:
    """Per-episode observations (T+1, d) and actions (T, k) -> obs, act, next_obs arrays."""
    odd = [i for i, o in enumerate(obs) if o.shape != obs[0].shape]
    if odd:  # read_dataset names the bag; this guards callers that build episodes themselves
        raise BagError(
            f"episode {odd[0]} has {len(obs[odd[0]]) - 1} steps, episode 0 has "
            f"{len(obs[0]) - 1}; trainers need episodes of one length"
        )
    obs_arr = np.stack(obs)
    return {"obs": obs_arr[:, :-1], "act": np.stack(act), "next_obs": obs_arr[:, 1:]}


def reach_transitions(
    episodes: list[Episode], robot, max_joint_speed: float | None = None
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
        o = np.stack(
            [
                reach_observation(q, qd, fingertip_position(robot, q), ep.target, speed)
                for q, qd in zip(ep.q, ep.qdot)
            ]
        )
        obs.append(o)
        act.append((ep.commands - ep.q[:-1]).astype(np.float32))
    return _stack_transitions(obs, act)


def grasp_transitions(
    episodes: list[Episode], robot, suction_value: float, max_joint_speed: float | None = None
) -> dict[str, np.ndarray]:
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
            raise BagError("a grasp episode needs suction commands, the block's path and the vacuum sensor")
        state = np.concatenate([[0.0], ep.suction.astype(float)])
        obs.append(
            np.stack(
                [
                    grasp_observation(q, qd, fingertip_position(robot, q), b, s, v, speed)
                    for q, qd, b, s, v in zip(ep.q, ep.qdot, ep.target_path, state, ep.vacuum.astype(float))
                ]
            )
        )
        sign = np.where(ep.suction, suction_value, -suction_value)[:, None]
        act.append(np.concatenate([ep.commands - ep.q[:-1], sign], 1).astype(np.float32))
    return _stack_transitions(obs, act)
