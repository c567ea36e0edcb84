"""The task envs' MuJoCo UR5 driven the way ur_robot_driver drives the real one.

``mairl-sim`` (the ROS node) is a thin shell around :class:`SimArm`: the same
model, block and suction as ``mairl/UR5Reach-v0`` / ``mairl/UR5Grasp-v0``, but
commanded by absolute joint positions (``forward_position_controller``) or a
joint trajectory (``scaled_joint_trajectory_controller``) and advanced in
continuous time, like a robot, instead of one gym step per action. Like the
driver, it applies no safety limits of its own: that is the safety node's job.
"""

from __future__ import annotations

import bisect
import os

import mujoco
import numpy as np

from .tasks import task_env_cls, task_env_config


class SimArm:
    """One simulated UR5 with the block of ``task`` (reach | grasp)."""

    def __init__(self, task: str = "reach", seed: int = 0, env_config=None):
        """``env_config``: a config object, or a YAML name or path (None: the task's own)."""
        env_cls = task_env_cls(task)
        self.task = task
        if env_config is None or isinstance(env_config, (str, os.PathLike)):
            env_config = task_env_config(task, env_config)
        self.env = env_cls(env_config)
        self.model, self.data = self.env.model, self.env.data
        self.joint_names = list(self.env.robot.joint_names)
        self.seed, self.episode = seed, 0
        self.trajectory: list[tuple[float, np.ndarray]] = []
        self.time = 0.0
        self.reset()
        self.episode = 0  # the first reset() places the same block again: blocks follow
        # env.reset(seed=seed + i), i = 0, 1, ..., as in `mairl eval --seed` (same targets)

    # ----- state -----
    @property
    def positions(self) -> np.ndarray:
        return self.data.qpos[:6].copy()

    @property
    def velocities(self) -> np.ndarray:
        return self.data.qvel[:6].copy()

    @property
    def fingertip(self) -> np.ndarray:
        return self.env._tip(self.data.qpos[:6])

    @property
    def target(self) -> np.ndarray:
        """The block's position (grasp: its centre, which moves when lifted)."""
        if self.task == "grasp":
            return self.env.block_position()
        return np.asarray(self.env.target, float).copy()

    @property
    def suction(self) -> bool:
        return self.task == "grasp" and self.env.suction > 0

    @property
    def holding(self) -> bool:
        """The block is on the cup with the suction on (what a vacuum sensor reports)."""
        return self.task == "grasp" and self.env.holding()

    def observation(self) -> np.ndarray:
        """The task env's observation of the current state (what a policy is trained on)."""
        return self.env._obs()

    # ----- commands -----
    def reset(self, target=None) -> np.ndarray:
        """Arm to the start pose, a new block (the next of this sim's seeded sequence, or
        ``target``); returns the block position."""
        options = None if target is None else {"target": np.asarray(target, float)}
        self.env.reset(seed=self.seed + self.episode, options=options)
        self.episode += 1
        self.trajectory = []
        return self.target

    def command(self, q) -> None:
        """Absolute joint positions for the position servos (cancels a running trajectory)."""
        q = np.asarray(q, float)
        if q.shape != (6,) or not np.all(np.isfinite(q)):
            raise ValueError(f"a command is 6 finite joint positions, got {q!r}")
        self.trajectory = []
        self.data.ctrl[:6] = q

    def follow(self, points: list[tuple[float, np.ndarray]]) -> None:
        """A joint trajectory: (seconds from now, 6 positions) in increasing time; the servos
        get positions interpolated linearly from the current command."""
        times = [float(t) for t, _ in points]
        if not points or any(b <= a for a, b in zip(times, times[1:])) or times[0] < 0:
            raise ValueError("trajectory times must be >= 0 and strictly increasing")
        qs = [np.asarray(q, float) for _, q in points]
        if any(q.shape != (6,) or not np.all(np.isfinite(q)) for q in qs):
            raise ValueError("every trajectory point needs 6 finite positions")
        self.trajectory = [(self.time, self.data.ctrl[:6].copy())] + [
            (self.time + t, q) for t, q in zip(times, qs)
        ]

    def set_suction(self, on: bool) -> None:
        if self.task != "grasp":
            raise ValueError("this sim has no suction cup (task 'reach')")
        self.data.ctrl[6] = 1.0 if on else 0.0

    def advance(self, seconds: float) -> None:
        """Step the physics ``seconds`` forward (whole sim timesteps)."""
        n = max(1, int(round(seconds / self.model.opt.timestep)))
        for _ in range(n):
            if self.trajectory:
                self.data.ctrl[:6] = self._trajectory_point(self.time)
                if self.time >= self.trajectory[-1][0]:
                    self.trajectory = []
            mujoco.mj_step(self.model, self.data)
            self.time += self.model.opt.timestep

    def _trajectory_point(self, t: float) -> np.ndarray:
        times = [p[0] for p in self.trajectory]
        i = bisect.bisect_right(times, t)
        if i >= len(times):
            return self.trajectory[-1][1]
        (t0, q0), (t1, q1) = self.trajectory[i - 1], self.trajectory[i]
        return q0 + (q1 - q0) * (t - t0) / (t1 - t0)

    def is_success(self) -> bool:
        return self.env.is_success()

    def distance(self) -> float:
        return self.env.distance()
