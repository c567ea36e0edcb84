"""Recording demo episodes from a live robot, one control period at a time (the ROS
recorder's logic, without ROS).

At each tick k the recorder notes what the robot reports (joint positions and
velocities, the block, the suction state) and, one tick later, the safe joint
command that was sent after tick k (what the safety node forwarded to the
driver). After ``steps`` commands the episode holds ``steps + 1`` states and is
written with ``write_episode``: the same MCAP layout as ``mairl demos``, so the
same loader reads both. A dataset directory grows by ``episode_NNN`` bags and a
recorder started on an existing one continues its numbering (resume).

The dataset only ever holds complete bags: an episode is kept in memory until it is
complete (a recorder killed mid-episode loses that episode, nothing else), and its bag is
written into a staging directory and renamed into the dataset in one step. A recorder
killed while writing leaves only the staging directory, which the next one removes; a
write that fails (a full disk) leaves nothing of the episode behind.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import numpy as np

from .bags import Episode, write_episode

_EPISODE = re.compile(r"episode_(\d+)$")


def next_episode_index(dataset: str | Path) -> int:
    """1 + the highest ``episode_NNN`` in ``dataset`` (0 for a new or empty one)."""
    d = Path(dataset)
    found = [int(m.group(1)) for p in d.iterdir() if (m := _EPISODE.match(p.name))] if d.is_dir() else []
    return max(found) + 1 if found else 0


def episode_success(
    ep: Episode, task: str, robot, success_radius: float = 0.05, lift_height: float = 0.05
) -> bool:
    """The task's success test on a recorded episode: reach, the fingertip ends within
    ``success_radius`` of the block; grasp, suction on and the block on the cup (vacuum
    sensor) at the end, and the block lifted by ``lift_height`` (from the recorded path)."""
    from ..envs.kinematics import fingertip_position

    if task == "reach":
        return bool(np.linalg.norm(fingertip_position(robot, ep.q[-1]) - ep.target) <= success_radius)
    if ep.suction is None or ep.target_path is None or ep.vacuum is None:
        return False
    return bool(
        ep.suction[-1] and ep.vacuum[-1] and ep.target_path[-1][2] - ep.target_path[0][2] >= lift_height
    )


class EpisodeRecorder:
    """Collects one fixed-length episode at a time and saves it into a dataset directory."""

    def __init__(
        self,
        dataset: str | Path,
        joint_names,
        period: float,
        steps: int,
        grasp: bool = False,
        meta: dict[str, str] | None = None,
    ):
        """``meta``: written into every bag's metadata (``write_episode``), e.g. the operator."""
        if steps < 1 or period <= 0:
            raise ValueError(f"steps must be >= 1 and period > 0, got {steps}, {period}")
        self.dataset, self.names = Path(dataset), list(joint_names)
        self.period, self.steps, self.grasp = period, steps, grasp
        self.meta = {"task": "grasp" if grasp else "reach", **(meta or {})}
        self.dataset.mkdir(parents=True, exist_ok=True)
        self.staging = staging_dir(self.dataset)
        #: bags an interrupted recorder left unfinished in ``staging`` (removed now)
        self.removed = sorted(p.name for p in self.staging.iterdir()) if self.staging.is_dir() else []
        shutil.rmtree(self.staging, ignore_errors=True)
        self.index = next_episode_index(self.dataset)
        self.recording = False
        self._clear()

    def _clear(self) -> None:
        self.q, self.qdot, self.targets, self.commands = [], [], [], []
        self.suction_state, self.vacuum = [], []
        self.holds = 0  # commands of this episode recorded as holds: nothing was forwarded

    def start(self) -> int:
        """Begin episode ``self.index`` (discarding one in progress); returns its index."""
        self._clear()
        self.recording = True
        return self.index

    def discard(self) -> None:
        self._clear()
        self.recording = False

    @property
    def complete(self) -> bool:
        return len(self.commands) >= self.steps

    def tick(self, q, qdot, target, suction: bool = False, last_command=None, vacuum: bool = False) -> bool:
        """Record the state at this tick (grasp: with the suction switch and the vacuum sensor)
        and ``last_command``, the safe command sent after the previous tick (ignored at the
        first tick). Returns True when the episode is complete."""
        if not self.recording or self.complete:
            return self.complete
        if self.q:
            if last_command is None:  # nothing forwarded: the arm was told to stay
                last_command = self.commands[-1] if self.commands else self.q[-1]
                self.holds += 1
            self.commands.append(np.asarray(last_command, float).copy())
        self.q.append(np.asarray(q, float).copy())
        self.qdot.append(np.asarray(qdot, float).copy())
        self.targets.append(np.asarray(target, float).copy())
        self.suction_state.append(bool(suction))
        self.vacuum.append(bool(vacuum))
        return self.complete

    def episode(self) -> Episode:
        if not self.complete:
            raise ValueError(f"episode incomplete: {len(self.commands)} of {self.steps} commands")
        n = self.steps + 1
        q, qdot, targets = (np.array(x[:n]) for x in (self.q, self.qdot, self.targets))
        commands = np.array(self.commands[: self.steps])
        if not self.grasp:
            # the block stands still in reach; the recorded position is its mean (sensor noise)
            return Episode(self.names, q, qdot, commands, targets.mean(0), self.period)
        # the suction command of step k is the state seen at tick k + 1
        suction = np.array(self.suction_state[1:n], bool)
        return Episode(
            self.names,
            q,
            qdot,
            commands,
            targets[0],
            self.period,
            suction=suction,
            target_path=targets,
            vacuum=np.array(self.vacuum[:n], bool),
        )

    def save(self) -> Path:
        """Write the complete episode as ``episode_NNN`` and get ready for the next.

        The bag is written in ``staging``, flushed to disk and renamed into the dataset. On an
        error (OSError, e.g. a full disk) nothing of it is left on disk, the index stays and
        the episode stays in memory; the saved episodes are untouched."""
        ep = self.episode()
        path = self.dataset / f"episode_{self.index:03d}"
        tmp = self.staging / path.name
        try:
            self.staging.mkdir(exist_ok=True)
            write_episode(tmp, ep, meta=self.meta)
            _sync_tree(tmp)
            os.rename(tmp, path)  # atomic; never over an existing bag (a non-empty directory)
            _sync_dir(self.dataset)
        finally:
            shutil.rmtree(self.staging, ignore_errors=True)
        self.index += 1
        self.recording = False
        self._clear()
        return path


def staging_dir(dataset: str | Path) -> Path:
    """Where a bag is written before it joins ``dataset``: ``.NAME.partial`` beside the
    dataset (outside it: the dataset loader reads every directory inside), or inside it when
    the dataset is a mount point of its own (a rename cannot cross file systems)."""
    d = Path(dataset).absolute()
    if d.is_dir() and d.parent.stat().st_dev != d.stat().st_dev:
        return d / ".partial"
    return d.parent / f".{d.name}.partial"


def _sync_tree(path: Path) -> None:
    """fsync every file of a bag and the bag directory (the rename must not outrun the data)."""
    for f in path.iterdir():
        with open(f, "rb") as fh:
            os.fsync(fh.fileno())
    _sync_dir(path)


def _sync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
