"""Fuzzing the demo loader: corrupt and adversarial MCAP bags must give a valid episode or a
clear BagError, never a traceback.

A case is (kind, seed): ``make_case`` writes a small real bag (``rosbags``, as
``write_episode`` does) and damages it one way — bytes of the ``.mcap`` or
``metadata.yaml`` truncated, flipped, zeroed or padded with garbage, files missing or
replaced by directories, topics missing or of the wrong type, NaN/inf or out-of-limit
values, joints renamed, reordered, dropped, added or unnamed, messages dropped or
duplicated — and ``check_case`` reads it with ``read_episode`` and ``read_dataset``.
The outcome is ``valid`` (an episode a trainer may use: the robot's joint order, finite,
within the limits and tolerances), ``error`` (a BagError of one line that names the bag
or the dataset) or ``traceback`` (anything else, a bug). ``test/core/test_bags_fuzz.py``
runs a few hundred cases through hypothesis; ``run_fuzz`` runs many more and writes
``results.json``.
"""

from __future__ import annotations

import shutil
import signal
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..data import bags
from ..data.bags import BagError, Episode, read_dataset, read_episode

JOINT_STATE, POINT_STAMPED, BOOL = (
    "sensor_msgs/msg/JointState",
    "geometry_msgs/msg/PointStamped",
    "std_msgs/msg/Bool",
)
OTHER_TYPES = [
    "std_msgs/msg/String",
    "std_msgs/msg/Bool",
    "geometry_msgs/msg/PointStamped",
    "sensor_msgs/msg/JointState",
    "std_msgs/msg/Float64",
]
STEPS = 8
"""Control steps of a fuzzed episode: small, so a case reads in milliseconds."""


@dataclass
class Message:
    """One message to write: ``fields`` of its type (JointState: name, position, velocity;
    PointStamped: point; Bool: data); other types are written with default fields."""

    topic: str
    msgtype: str
    stamp: int
    fields: dict[str, Any]


def base_episode(robot, seed: int, grasp: bool, steps: int = STEPS) -> Episode:
    """A plausible episode inside the robot's limits (not a good demo: a fuzzing seed)."""
    rng = np.random.default_rng(seed)
    lo, hi = np.asarray(robot.joint_lower) / 2, np.asarray(robot.joint_upper) / 2
    q = rng.uniform(lo, hi, size=(steps + 1, len(robot.joint_names)))
    qdot = rng.uniform(-1, 1, size=q.shape)
    target = rng.uniform(-0.3, 0.3, 3)
    if not grasp:
        return Episode(list(robot.joint_names), q, qdot, q[1:].copy(), target, 0.04)
    suction = rng.random(steps) < 0.5
    path = np.repeat(target[None], steps + 1, 0)
    return Episode(
        list(robot.joint_names),
        q,
        qdot,
        q[1:].copy(),
        target,
        0.04,
        suction=suction,
        target_path=path,
        vacuum=np.concatenate([[False], suction]),
    )


def episode_messages(ep: Episode) -> list[Message]:
    """The messages ``write_episode`` would write for ``ep``, in the same order."""
    out: list[Message] = []
    grasp = ep.suction is not None
    for t in range(len(ep.q)):
        ns = int(round(t * ep.period * 1e9))
        out.append(
            Message(
                bags.JOINT_STATES,
                JOINT_STATE,
                ns,
                {
                    "name": list(ep.joint_names),
                    "position": np.array(ep.q[t], float),
                    "velocity": np.array(ep.qdot[t], float),
                },
            )
        )
        point = ep.target if ep.target_path is None else ep.target_path[t]
        out.append(Message(bags.TARGET, POINT_STAMPED, ns, {"point": tuple(map(float, point))}))
        if grasp:
            out.append(Message(bags.VACUUM, BOOL, ns, {"data": bool(ep.vacuum[t])}))
        if t < len(ep.commands):
            out.append(
                Message(
                    bags.COMMAND,
                    JOINT_STATE,
                    ns,
                    {
                        "name": list(ep.joint_names),
                        "position": np.array(ep.commands[t], float),
                        "velocity": np.zeros(0),
                    },
                )
            )
            if grasp:
                out.append(Message(bags.SUCTION, BOOL, ns, {"data": bool(ep.suction[t])}))
    return out


def write_messages(
    path: Path, messages: list[Message], connections: list[tuple[str, str]] | None = None
) -> Path:
    """Write ``messages`` as an MCAP rosbag2 directory; one connection per (topic, type),
    in ``connections``' order if given (a topic with no messages may then be declared)."""
    from rosbags.rosbag2 import StoragePlugin, Writer

    ts = bags._typestore()
    keys = list(connections or [])
    for m in messages:
        if (m.topic, m.msgtype) not in keys:
            keys.append((m.topic, m.msgtype))
    with Writer(path, version=9, storage_plugin=StoragePlugin.MCAP) as w:
        conns = {k: w.add_connection(k[0], k[1], typestore=ts) for k in keys}
        for m in messages:
            w.write(conns[(m.topic, m.msgtype)], m.stamp, ts.serialize_cdr(_build(ts, m), m.msgtype))
    return path


def _build(ts, m: Message):
    header = bags._stamp(ts, m.stamp)
    f = m.fields
    if m.msgtype == JOINT_STATE:
        return ts.types[JOINT_STATE](
            header=header,
            name=list(f.get("name", [])),
            position=np.ascontiguousarray(f.get("position", np.zeros(0)), float),
            velocity=np.ascontiguousarray(f.get("velocity", np.zeros(0)), float),
            effort=np.zeros(0),
        )
    if m.msgtype == POINT_STAMPED:
        x, y, z = f.get("point", (0.0, 0.0, 0.0))
        return ts.types[POINT_STAMPED](header=header, point=ts.types["geometry_msgs/msg/Point"](x, y, z))
    if m.msgtype == BOOL:
        return ts.types[BOOL](data=bool(f.get("data", False)))
    if m.msgtype == "std_msgs/msg/String":
        return ts.types[m.msgtype](data=str(f.get("data", "not a joint state")))
    if m.msgtype == "std_msgs/msg/Float64":
        return ts.types[m.msgtype](data=float(f.get("data", 0.0)))
    raise ValueError(f"no builder for {m.msgtype}")


# --- mutations: each takes the case's rng, the robot and a bag to damage ----------------


def _mcap(bag: Path) -> Path:
    return next(p for p in bag.iterdir() if p.suffix == ".mcap")


def _bytes_truncate(rng, data: bytes) -> bytes:
    return data[: int(rng.integers(0, len(data)))]


def _bytes_flip(rng, data: bytes) -> bytes:
    b = bytearray(data)
    for i in rng.integers(0, len(b), int(rng.integers(1, 9))):
        b[i] ^= 1 << int(rng.integers(0, 8))
    return bytes(b)


def _bytes_randomise(rng, data: bytes) -> bytes:
    b = bytearray(data)
    i = int(rng.integers(0, len(b)))
    n = int(rng.integers(1, 65))
    b[i : i + n] = rng.integers(0, 256, len(b[i : i + n]), dtype=np.uint8).tobytes()
    return bytes(b)


def _bytes_zero(rng, data: bytes) -> bytes:
    b = bytearray(data)
    i = int(rng.integers(0, len(b)))
    n = int(rng.integers(1, 257))
    b[i : i + n] = bytes(len(b[i : i + n]))
    return bytes(b)


def _bytes_append(rng, data: bytes) -> bytes:
    return data + rng.integers(0, 256, int(rng.integers(1, 512)), dtype=np.uint8).tobytes()


def _bytes_insert(rng, data: bytes) -> bytes:
    i = int(rng.integers(0, len(data)))
    return data[:i] + rng.integers(0, 256, int(rng.integers(1, 64)), dtype=np.uint8).tobytes() + data[i:]


def _bytes_delete(rng, data: bytes) -> bytes:
    i = int(rng.integers(0, len(data)))
    return data[:i] + data[i + int(rng.integers(1, 64)) :]


BYTE_MUTATIONS: dict[str, Callable[[np.random.Generator, bytes], bytes]] = {
    "truncate": _bytes_truncate,
    "flip": _bytes_flip,
    "randomise": _bytes_randomise,
    "zero": _bytes_zero,
    "append": _bytes_append,
    "insert": _bytes_insert,
    "delete": _bytes_delete,
}


def _file_mutation(name: str, target: str) -> Callable:
    def mutate(rng, robot, bag: Path, msgs: list[Message], grasp: bool) -> None:
        path = _mcap(bag) if target == "mcap" else bag / "metadata.yaml"
        path.write_bytes(BYTE_MUTATIONS[name](rng, path.read_bytes()))

    return mutate


def _joint_msgs(msgs: list[Message], topic: str | None = None) -> list[Message]:
    return [m for m in msgs if m.msgtype == JOINT_STATE and (topic is None or m.topic == topic)]


def _pick(rng, seq):
    return seq[int(rng.integers(0, len(seq)))]


def _m_wrong_type(rng, robot, bag, msgs, grasp):
    topic = _pick(rng, sorted({m.topic for m in msgs}))
    new = _pick(rng, [t for t in OTHER_TYPES if t != next(m.msgtype for m in msgs if m.topic == topic)])
    for m in msgs:
        if m.topic == topic:
            m.msgtype, m.fields = new, {}


def _m_missing_topic(rng, robot, bag, msgs, grasp):
    topic = _pick(rng, sorted({m.topic for m in msgs}))
    msgs[:] = [m for m in msgs if m.topic != topic]


def _m_nonfinite(rng, robot, bag, msgs, grasp):
    value = _pick(rng, [np.nan, np.inf, -np.inf])
    m = _pick(rng, [m for m in msgs if m.msgtype in (JOINT_STATE, POINT_STAMPED)])
    if m.msgtype == POINT_STAMPED:
        p = list(m.fields["point"])
        p[int(rng.integers(0, 3))] = value
        m.fields["point"] = tuple(p)
    else:
        key = "position" if m.topic == bags.COMMAND or rng.random() < 0.5 else "velocity"
        m.fields[key][int(rng.integers(0, len(m.fields[key])))] = value


def _m_out_of_range(rng, robot, bag, msgs, grasp):
    """A position or velocity far out (1e6, wrong units) or just past or inside a limit."""
    m = _pick(rng, _joint_msgs(msgs))
    key = "position" if m.topic == bags.COMMAND or rng.random() < 0.6 else "velocity"
    j = int(rng.integers(0, len(m.fields[key])))
    joint = robot.joint_names.index(m.fields["name"][j])
    if key == "position":
        edge = robot.joint_upper[joint] if rng.random() < 0.5 else robot.joint_lower[joint]
        tol = bags.POSITION_TOLERANCE
    else:
        edge = robot.max_joint_speed * (1 if rng.random() < 0.5 else -1)
        tol = bags.SPEED_TOLERANCE
    past = _pick(rng, [1e6, 360.0, 2 * tol, 0.5 * tol])  # the last one is inside the tolerance
    m.fields[key][j] = edge + np.sign(edge) * past


def _m_permute_joints(rng, robot, bag, msgs, grasp):
    """Reorder the joints (alphabetically, like the UR driver, or at random) in some messages."""
    alphabetical = rng.random() < 0.5
    for m in _joint_msgs(msgs):
        if rng.random() < 0.7:
            names = m.fields["name"]
            order = np.argsort(names) if alphabetical else rng.permutation(len(names))
            m.fields["name"] = [names[i] for i in order]
            for key in ("position", "velocity"):
                if len(m.fields[key]) == len(names):
                    m.fields[key] = m.fields[key][order]


def _m_bad_joints(rng, robot, bag, msgs, grasp):
    """Drop, add, rename, repeat or unname a joint, or drop a value, in one or all messages."""
    how = _pick(rng, ["drop", "add", "rename", "repeat", "unname", "short_values", "no_velocity"])
    chosen = _joint_msgs(msgs) if rng.random() < 0.5 else [_pick(rng, _joint_msgs(msgs))]
    for m in chosen:
        f = m.fields
        n = len(f["name"])
        j = int(rng.integers(0, n))
        if how == "drop":
            f["name"] = f["name"][:j] + f["name"][j + 1 :]
            for key in ("position", "velocity"):
                if len(f[key]) == n:
                    f[key] = np.delete(f[key], j)
        elif how == "add":
            f["name"] = f["name"] + ["gripper_finger_joint"]
            for key in ("position", "velocity"):
                if len(f[key]) == n:
                    f[key] = np.append(f[key], 0.0)
        elif how == "rename":
            f["name"] = (
                f["name"][:j]
                + [_pick(rng, ["", "joint_1", f["name"][j].upper(), "wrist\n3_joint", "ellbogen_gelenk_ü"])]
                + f["name"][j + 1 :]
            )
        elif how == "repeat":
            f["name"] = f["name"][:j] + [f["name"][(j + 1) % n]] + f["name"][j + 1 :]
        elif how == "unname":
            f["name"] = []
        elif how == "short_values":
            f["position"] = f["position"][:-1]
        elif m.topic == bags.JOINT_STATES:
            f["velocity"] = np.zeros(0)


def _m_counts(rng, robot, bag, msgs, grasp):
    """Drop or duplicate messages of one topic, or all of them."""
    how = _pick(rng, ["drop_some", "drop_all_but_one", "duplicate", "empty_bag"])
    topic = _pick(rng, sorted({m.topic for m in msgs}))
    on = [i for i, m in enumerate(msgs) if m.topic == topic]
    if how == "drop_some":
        gone = set(rng.choice(on, int(rng.integers(1, len(on) + 1)), replace=False).tolist())
        msgs[:] = [m for i, m in enumerate(msgs) if i not in gone]
    elif how == "drop_all_but_one":
        msgs[:] = [m for i, m in enumerate(msgs) if m.topic != topic or i == on[0]]
    elif how == "duplicate":
        i = int(_pick(rng, on))
        msgs.insert(i, Message(msgs[i].topic, msgs[i].msgtype, msgs[i].stamp, dict(msgs[i].fields)))
    else:
        msgs[:] = []


def _m_stamps(rng, robot, bag, msgs, grasp):
    """All stamps equal, or shuffled (the reader sorts by stamp)."""
    if rng.random() < 0.5:
        for m in msgs:
            m.stamp = 0
    else:
        stamps = rng.permutation([m.stamp for m in msgs])
        for m, s in zip(msgs, stamps):
            m.stamp = int(s)


def _m_moving_target(rng, robot, bag, msgs, grasp):
    m = _pick(rng, [m for m in msgs if m.topic == bags.TARGET])
    m.fields["point"] = tuple(np.asarray(m.fields["point"]) + rng.normal(0, 0.1, 3))


def _m_second_publisher(rng, robot, bag, msgs, grasp):
    """A second connection on a topic, of the same or of another type."""
    topic = _pick(rng, [bags.JOINT_STATES, bags.COMMAND])
    msgtype = JOINT_STATE if rng.random() < 0.5 else "std_msgs/msg/String"
    msgs.append(
        Message(
            topic,
            msgtype,
            msgs[-1].stamp,
            {"name": list(robot.joint_names), "position": np.zeros(6), "velocity": np.zeros(6)},
        )
    )


def _m_fs(rng, robot, bag, msgs, grasp):
    """Files missing, empty or replaced by directories; the bag a file or an empty directory."""
    how = _pick(
        rng,
        [
            "no_metadata",
            "no_mcap",
            "metadata_dir",
            "mcap_dir",
            "empty_mcap",
            "empty_metadata",
            "bag_is_mcap_file",
            "bag_is_text_file",
            "bag_empty_dir",
            "metadata_not_yaml",
            "metadata_other_file",
        ],
    )
    mcap = _mcap(bag)
    if how == "no_metadata":
        (bag / "metadata.yaml").unlink()
    elif how == "no_mcap":
        mcap.unlink()
    elif how == "metadata_dir":
        (bag / "metadata.yaml").unlink()
        (bag / "metadata.yaml").mkdir()
    elif how == "mcap_dir":
        mcap.unlink()
        mcap.mkdir()
    elif how == "empty_mcap":
        mcap.write_bytes(b"")
    elif how == "empty_metadata":
        (bag / "metadata.yaml").write_bytes(b"")
    elif how == "bag_is_mcap_file":  # a bare .mcap file: rosbags reads it without metadata
        data = mcap.read_bytes()
        shutil.rmtree(bag)
        bag.write_bytes(data)
    elif how == "bag_is_text_file":
        shutil.rmtree(bag)
        bag.write_text("not a bag\n")
    elif how == "bag_empty_dir":
        shutil.rmtree(bag)
        bag.mkdir()
    elif how == "metadata_not_yaml":
        (bag / "metadata.yaml").write_text(
            _pick(rng, ["[: {", "- 1\n- 2\n", "42\n", "a: [b\n", "rosbag2_bagfile_information: 3\n"])
        )
    else:
        import yaml

        meta = yaml.safe_load((bag / "metadata.yaml").read_text())
        info = meta["rosbag2_bagfile_information"]
        key = _pick(rng, sorted(info))
        info[key] = _pick(rng, [None, "x", -1, 10**30, [], {}])
        (bag / "metadata.yaml").write_text(yaml.safe_dump(meta))


MESSAGE_MUTATIONS = {
    "wrong_type": _m_wrong_type,
    "missing_topic": _m_missing_topic,
    "nonfinite": _m_nonfinite,
    "out_of_range": _m_out_of_range,
    "permute_joints": _m_permute_joints,
    "bad_joints": _m_bad_joints,
    "counts": _m_counts,
    "stamps": _m_stamps,
    "moving_target": _m_moving_target,
    "second_publisher": _m_second_publisher,
}
"""Mutations of the messages, applied before the bag is written."""
FILE_MUTATIONS = {
    **{f"mcap_{k}": _file_mutation(k, "mcap") for k in BYTE_MUTATIONS},
    **{
        f"metadata_{k}": _file_mutation(k, "metadata")
        for k in ("truncate", "flip", "randomise", "zero", "append")
    },
    "files": _m_fs,
}
"""Mutations of the written files."""
KINDS = sorted([*MESSAGE_MUTATIONS, *FILE_MUTATIONS, "none"])


def valid_bag(work: Path, grasp: bool, robot) -> Path:
    """``work/valid_reach`` or ``work/valid_grasp``: an undamaged bag, written once."""
    path = work / f"valid_{'grasp' if grasp else 'reach'}"
    if not path.exists():
        write_messages(path, episode_messages(base_episode(robot, 12345, grasp)))
    return path


def make_case(kind: str, seed: int, out_dir: Path, robot, work: Path | None = None) -> tuple[Path, bool]:
    """Write case (kind, seed) as ``out_dir/dataset/episode_000`` beside a valid
    ``episode_001`` (a copy of ``valid_bag(work)``, default ``work = out_dir``); returns the
    damaged bag's path and whether it is a grasp bag."""
    rng = np.random.default_rng(seed)
    grasp = bool(rng.random() < 0.3)
    dataset = out_dir / "dataset"
    dataset.mkdir(parents=True)
    bag = dataset / "episode_000"
    msgs = episode_messages(base_episode(robot, seed, grasp))
    shutil.copytree(valid_bag(work or out_dir, grasp, robot), dataset / "episode_001")
    if kind in MESSAGE_MUTATIONS:
        MESSAGE_MUTATIONS[kind](rng, robot, bag, msgs, grasp)
    declared = None
    if kind == "counts" and not msgs:  # the topics declared, no message on them
        types = {**bags.TYPES, **bags.GRASP_TYPES} if grasp else bags.TYPES
        declared = list(types.items())
    write_messages(bag, msgs, declared)
    if kind in FILE_MUTATIONS:
        FILE_MUTATIONS[kind](rng, robot, bag, msgs, grasp)
    return bag, grasp


class _Timeout(Exception):
    pass


def valid_episode_problem(ep: Episode, robot, grasp: bool) -> str | None:
    """Why a loaded episode is not one a trainer may use, or None."""
    n = len(robot.joint_names)
    T = len(ep.commands)
    if list(ep.joint_names) != list(robot.joint_names):
        return f"joint_names {ep.joint_names}"
    if ep.q.shape != (T + 1, n) or ep.qdot.shape != (T + 1, n) or ep.commands.shape != (T, n) or T < 1:
        return f"shapes q {ep.q.shape} qdot {ep.qdot.shape} commands {ep.commands.shape}"
    arrays = [ep.q, ep.qdot, ep.commands, ep.target] + ([ep.target_path] if grasp else [])
    if not all(np.all(np.isfinite(a)) for a in arrays):
        return "NaN or inf"
    lo = np.asarray(robot.joint_lower) - bags.POSITION_TOLERANCE
    hi = np.asarray(robot.joint_upper) + bags.POSITION_TOLERANCE
    if np.any(ep.q < lo) or np.any(ep.q > hi) or np.any(ep.commands < lo) or np.any(ep.commands > hi):
        return "a position outside the limits"
    if np.any(np.abs(ep.qdot) > robot.max_joint_speed + bags.SPEED_TOLERANCE):
        return "a velocity above the speed limit"
    if not ep.period > 0:
        return f"period {ep.period}"
    if grasp and (
        ep.suction is None
        or ep.suction.shape != (T,)
        or ep.vacuum.shape != (T + 1,)
        or ep.target_path.shape != (T + 1, 3)
    ):
        return "grasp arrays' shapes"
    return None


def check_load(load: Callable[[], Any], names: list[Path]) -> tuple[str, Any]:
    """Run ``load``: ('valid', what it returned), ('error', message) for a one-line BagError
    naming one of ``names``, else ('traceback', what happened)."""
    try:
        result = load()
    except _Timeout:
        raise
    except BagError as exc:
        msg = str(exc)
        if "\n" in msg or not any(str(p) in msg for p in names):
            return "traceback", f"unclear BagError: {msg!r}"
        return "error", msg
    except Exception as exc:  # noqa: BLE001 - the point: anything else is a bug
        return "traceback", f"{type(exc).__name__}: {exc}"
    return "valid", result


def check_case(bag: Path, grasp: bool, robot) -> tuple[str, str]:
    """Read the case bag alone and as part of its dataset; the worse outcome of the two."""
    outcomes = []
    for load, names in (
        (lambda: read_episode(bag, grasp=grasp, robot=robot), [bag]),
        (lambda: read_dataset(bag.parent, grasp=grasp, robot=robot), [bag, bag.parent]),
    ):
        kind, detail = check_load(load, names)
        if kind == "valid":
            eps = detail if isinstance(detail, list) else [detail]
            why = next((w for e in eps if (w := valid_episode_problem(e, robot, grasp))), None)
            kind, detail = ("traceback", f"invalid episode loaded: {why}") if why else ("valid", "")
        outcomes.append((kind, detail))
    rank = {"traceback": 0, "error": 1, "valid": 2}
    return min(outcomes, key=lambda o: rank[o[0]])


def run_case(kind: str, seed: int, work: Path, robot, time_limit_s: float = 0.0) -> tuple[str, str]:
    """make_case + check_case in a fresh directory under ``work``; a case running past
    ``time_limit_s`` (0: no limit; main thread only) counts as 'hang'."""
    with tempfile.TemporaryDirectory(dir=work) as d:
        bag, grasp = make_case(kind, seed, Path(d), robot, work)
        if time_limit_s <= 0:
            return check_case(bag, grasp, robot)

        def alarm(signum, frame):
            raise _Timeout()

        old = signal.signal(signal.SIGALRM, alarm)
        signal.setitimer(signal.ITIMER_REAL, time_limit_s)
        try:
            return check_case(bag, grasp, robot)
        except _Timeout:
            return "hang", f"no answer within {time_limit_s} s"
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, old)


def run_fuzz(
    n_cases: int,
    seed: int,
    out_dir: str | Path,
    *,
    time_limit_s: float = 10.0,
    progress: bool = True,
    command: str | None = None,
    commit_at_start: str | None = None,
) -> dict[str, Any]:
    """Fuzz the loader with ``n_cases`` cases (kinds in turn, seeds from ``seed``) and write
    ``out_dir/results.json``: totals (cases, valid_loads, clear_errors, tracebacks, hangs;
    tracebacks and hangs must be 0), one row per kind, and the first failures with the
    (kind, seed) that reproduces each (``run_case``). Returns the totals."""
    from tqdm import tqdm

    from ..envs.ur5_model import load_ur5
    from ..eval.results import write_results

    robot = load_ur5()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    counts = {k: {"kind": k, "cases": 0, "valid": 0, "error": 0, "traceback": 0, "hang": 0} for k in KINDS}
    failures: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="fuzz_bags_") as work:
        for i in tqdm(range(n_cases), desc="fuzz bags", unit="case", disable=not progress):
            kind, case_seed = KINDS[i % len(KINDS)], seed + i
            outcome, detail = run_case(kind, case_seed, Path(work), robot, time_limit_s)
            counts[kind]["cases"] += 1
            counts[kind][outcome] += 1
            if outcome in ("traceback", "hang") and len(failures) < 50:
                failures.append({"kind": kind, "seed": case_seed, "outcome": outcome, "detail": detail[:500]})
    totals = {
        "cases": n_cases,
        "valid_loads": sum(c["valid"] for c in counts.values()),
        "clear_errors": sum(c["error"] for c in counts.values()),
        "tracebacks": sum(c["traceback"] for c in counts.values()),
        "hangs": sum(c["hang"] for c in counts.values()),
    }
    write_results(
        out,
        "fuzz_bags",
        list(counts.values()),
        quick=False,
        wall_s=time.perf_counter() - t0,
        command=command,
        commit_at_start=commit_at_start,
        seed=seed,
        totals=totals,
        failures=failures,
    )
    return totals
