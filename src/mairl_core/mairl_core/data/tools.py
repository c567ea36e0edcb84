"""Dataset tools behind ``mairl data``: look into a directory of demo bags, check it before
training, delete an episode, merge datasets.

A dataset is a directory of episode bags (``mairl demos``, ``mairl-recorder``): rosbag2
MCAP, one bag per episode, read by ``bags.read_episode``. These tools never change a bag;
``delete_episode`` and ``merge`` change which bags a dataset holds, each in one rename, so
an interrupted command leaves the dataset as it was or as asked, never half-done.
"""

from __future__ import annotations

import os
import re
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from .bags import (
    GRASP_TYPES,
    JOINT_STATES,
    SUCTION,
    TYPES,
    BagError,
    _one_line,
    bag_meta,
    list_bags,
    read_episode,
)

CONTRACT = {**TYPES, **GRASP_TYPES}
"""Every topic a demo bag may hold, with its type (docs/ros_interfaces.md)."""


@dataclass
class BagInfo:
    """What ``bag_info`` finds in one bag; ``error`` is read_episode's refusal, if any."""

    name: str
    task: str
    steps: int = 0
    duration_s: float = 0.0
    topics: dict[str, dict] = field(default_factory=dict)  # topic -> {type, count}
    operator: str = "unknown"
    success: bool | None = None
    error: str | None = None


def _topics(path: Path) -> tuple[dict[str, dict], float]:
    """topic -> {type, count} and the duration (s) from a bag's index (no message decoding)."""
    from rosbags.rosbag2 import Reader

    try:
        with Reader(path) as r:
            topics: dict[str, dict] = {}
            for c in r.connections:
                t = topics.setdefault(c.topic, {"type": c.msgtype, "count": 0})
                t["count"] += c.msgcount
                if t["type"] != c.msgtype:
                    t["type"] += f", {c.msgtype}"
            return topics, r.duration * 1e-9 if r.message_count else 0.0
    except Exception as exc:  # noqa: BLE001 - rosbags raises many kinds for corrupt files
        raise BagError(f"{path}: cannot read bag ({_one_line(exc)})") from None


def bag_info(path: str | Path, robot=None, task: str | None = None) -> BagInfo:
    """One bag: its topics and counts, steps, duration, task (grasp when it records suction),
    operator (from its metadata) and the task's success test on the recorded episode; a bag
    read_episode refuses comes back with ``error`` set instead of raising."""
    from ..envs.tasks import task_env_config
    from ..envs.ur5_model import load_ur5
    from .recorder import episode_success

    path = Path(path)
    meta = bag_meta(path)
    info = BagInfo(path.name, task or meta.get("task", ""), operator=meta.get("operator", "unknown"))
    try:
        info.topics, info.duration_s = _topics(path)
        if not info.task:
            info.task = "grasp" if SUCTION in info.topics else "reach"
        info.steps = max(info.topics.get(JOINT_STATES, {}).get("count", 0) - 1, 0)
        robot = load_ur5() if robot is None else robot
        ep = read_episode(path, grasp=info.task == "grasp", robot=robot)
        cfg = task_env_config(info.task)
        info.success = episode_success(
            ep, info.task, robot, cfg.success_radius, getattr(cfg, "lift_height", 0.05)
        )
    except (BagError, ValueError) as exc:
        info.error = str(exc)
    return info


def dataset_info(demo_dir: str | Path) -> dict:
    """Every bag's ``bag_info`` and a summary: episodes, readable ones, steps, success rate,
    operators, tasks. BagError only when the directory itself is unusable."""
    from ..envs.ur5_model import load_ur5

    robot = load_ur5()
    bags = [bag_info(b, robot) for b in list_bags(demo_dir)]
    ok = [b for b in bags if b.error is None]
    steps = [b.steps for b in ok]
    operators: dict[str, int] = {}
    for b in bags:
        operators[b.operator] = operators.get(b.operator, 0) + 1
    return {
        "dataset": str(demo_dir),
        "episodes": len(bags),
        "readable": len(ok),
        "tasks": sorted({b.task for b in bags}),
        "steps": {"min": min(steps), "max": max(steps), "mean": float(np.mean(steps))} if ok else None,
        "success_rate": float(np.mean([b.success for b in ok])) if ok else None,
        "operators": operators,
        "bags": [asdict(b) for b in bags],
    }


def format_info(info: dict) -> str:
    """``dataset_info`` as the table ``mairl data info`` prints."""
    lines = [
        f"{info['dataset']}: {info['episodes']} episodes ({info['readable']} readable), "
        f"task {'/'.join(info['tasks'])}"
    ]
    if info["steps"]:
        s = info["steps"]
        lines.append(
            f"steps per episode: {s['min']}"
            if s["min"] == s["max"]
            else f"steps per episode: {s['min']}-{s['max']} (mean {s['mean']:.1f})"
        )
        lines.append(f"success rate: {info['success_rate']:.2f}")
    lines.append("operators: " + ", ".join(f"{k} ({v})" for k, v in sorted(info["operators"].items())))
    topics: dict[str, str] = {}
    for b in info["bags"]:
        for t, v in b["topics"].items():
            topics.setdefault(t, v["type"])
    lines.append("topics: " + ", ".join(f"{t} [{v}]" for t, v in sorted(topics.items())))
    width = max(len(b["name"]) for b in info["bags"])
    lines.append(f"{'episode':<{width}}  steps  duration_s  success  operator")
    for b in info["bags"]:
        if b["error"]:
            lines.append(f"{b['name']:<{width}}  UNREADABLE: {b['error']}")
        else:
            lines.append(
                f"{b['name']:<{width}}  {b['steps']:>5}  {b['duration_s']:>10.2f}  "
                f"{'yes' if b['success'] else 'no':>7}  {b['operator']}"
            )
    return "\n".join(lines)


def validate_dataset(demo_dir: str | Path) -> list[str]:
    """Everything that would stop a trainer, one line each ([] = the dataset is sound): bags
    read_episode refuses (corrupt, missing topics or wrong types, joints, NaN, limits,
    stamps that do not increase), topics of a known name with the wrong type, and a dataset
    mixing tasks, episode lengths or control periods. BagError when the directory itself is
    unusable."""
    from ..envs.ur5_model import load_ur5

    robot = load_ur5()
    problems, shapes = [], {}
    for b in list_bags(demo_dir):
        info = bag_info(b, robot)
        if info.error:
            problems.append(info.error)
            continue
        for topic, t in info.topics.items():
            if topic in CONTRACT and t["type"] != CONTRACT[topic]:
                problems.append(f"{b}: topic {topic} has type {t['type']}, expected {CONTRACT[topic]}")
        period = round(info.duration_s / max(info.steps, 1), 4)
        shapes.setdefault((info.task, info.steps, period), []).append(b.name)
    if len(shapes) > 1:
        groups = "; ".join(
            f"{len(v)} {task} episodes of {steps} steps at {period:g} s (e.g. {v[0]})"
            for (task, steps, period), v in shapes.items()
        )
        problems.append(
            f"{demo_dir}: trainers need one task, episode length and control period, found {groups}"
        )
    return problems


_EPISODE = re.compile(r"episode_(\d+)(\.mcap)?$")


def find_episode(demo_dir: str | Path, episode: str) -> Path:
    """A bag of the dataset by name (``episode_003``) or index (``3``)."""
    bags = list_bags(demo_dir)
    if episode.isdigit():
        hits = [b for b in bags if (m := _EPISODE.match(b.name)) and int(m.group(1)) == int(episode)]
    else:
        hits = [b for b in bags if b.name == episode]
    if len(hits) != 1:
        names = ", ".join(b.name for b in bags[:5]) + (", ..." if len(bags) > 5 else "")
        raise BagError(f"{demo_dir}: no episode {episode!r} (it holds {names})")
    return hits[0]


def delete_episode(demo_dir: str | Path, episode: str) -> tuple[Path, int]:
    """Remove one bag from a dataset (the others keep their names: trainers read the bags in
    name order and the recorder continues after the highest index). The bag is renamed out
    of the dataset first, so an interruption never leaves half a bag in it. Returns the bag
    and how many remain."""
    from .recorder import staging_dir

    bags = list_bags(demo_dir)
    bag = find_episode(demo_dir, episode)
    trash = staging_dir(demo_dir)
    trash.mkdir(exist_ok=True)
    try:
        os.rename(bag, trash / bag.name)
    finally:
        shutil.rmtree(trash, ignore_errors=True)
    return bag, len(bags) - 1


def merge_datasets(sources: list[str | Path], out: str | Path) -> dict:
    """Copy the bags of ``sources`` (in order) into the new dataset ``out`` as
    ``episode_000``... Every bag is read first: a bag read_episode refuses, or sources that
    mix tasks or episode lengths, stop the merge before anything is written. The copy is
    built beside ``out`` and renamed into place in one step."""
    from ..envs.ur5_model import load_ur5

    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise FileExistsError(f"{out} already exists and is not empty: merge into a new directory")
    robot = load_ur5()
    bags, shapes = [], set()
    for src in sources:
        for b in list_bags(src):
            info = bag_info(b, robot)
            if info.error:
                raise BagError(
                    f"{info.error} (nothing merged: fix or delete it with "
                    f"`mairl data delete-episode {src} {b.name}`)"
                )
            shapes.add((info.task, info.steps))
            bags.append(b)
    if len(shapes) > 1:
        raise BagError(
            f"the sources mix tasks or episode lengths {sorted(shapes)}: trainers need one (nothing merged)"
        )
    tmp = out.parent / f".{out.name}.merging"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        for i, b in enumerate(bags):
            name = f"episode_{i:03d}" + (".mcap" if b.is_file() else "")
            (shutil.copy2 if b.is_file() else shutil.copytree)(b, tmp / name)
        if out.exists():
            out.rmdir()  # empty, checked above
        os.rename(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return {"out": str(out), "episodes": len(bags), "sources": [str(s) for s in sources]}
