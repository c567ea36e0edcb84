"""Running a trained policy on a robot (the policy server's logic, without ROS).

The observation is built by the same functions as the task envs'
(``reach_observation`` / ``grasp_observation``) from what a robot reports: joint
positions and velocities, the block position, the suction state and the vacuum
sensor; the fingertip
comes from the same forward kinematics. The action (joint changes) becomes an
absolute joint command for the safety node, plus the suction switch for grasp.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .envs.kinematics import fingertip_position
from .envs.ur5_grasp import UR5GraspEnv, grasp_observation
from .envs.ur5_model import UR5Config, load_ur5
from .envs.ur5_reach import UR5ReachEnv, reach_observation

TASK_BY_OBS_DIM = {UR5ReachEnv.obs_dim: "reach", UR5GraspEnv.obs_dim: "grasp"}


@dataclass
class Decision:
    command: np.ndarray
    """Absolute joint positions (the safety node limits them)."""
    suction: bool | None
    """Grasp: the suction switch; reach: None."""
    observation: np.ndarray


def robot_observation(
    task: str, robot: UR5Config, q, qdot, target, suction: bool = False, vacuum: bool = False
) -> np.ndarray:
    """The observation of ``task`` from what a robot reports, by the envs' own functions."""
    q = np.asarray(q, float)
    tip = fingertip_position(robot, q)
    if task == "grasp":
        return grasp_observation(q, qdot, tip, target, float(suction), float(vacuum), robot.max_joint_speed)
    return reach_observation(q, qdot, tip, target, robot.max_joint_speed)


class PolicyRunner:
    """A checkpoint's policy (weights only) turned into joint commands."""

    def __init__(
        self,
        checkpoint: str | os.PathLike,
        task: str | None = None,
        robot: UR5Config | None = None,
        deterministic: bool = True,
    ):
        self.robot = robot or load_ur5()
        self.deterministic = deterministic
        self.task_wanted = task
        self.load(checkpoint)

    def load(self, checkpoint: str | os.PathLike) -> None:
        """(Re)load the policy; on any error the policy in use is kept and the error raised."""
        from .training import load_policy

        path = Path(checkpoint)
        if not path.is_file():
            raise FileNotFoundError(f"policy checkpoint {path} does not exist")
        policy, meta = load_policy(path)
        task = TASK_BY_OBS_DIM.get(meta["obs_dim"])
        if meta["obs_dim"] == UR5GraspEnv.obs_dim - 1 and not meta.get("discrete"):
            raise ValueError(
                f"{path}: a grasp policy from before the vacuum sensor joined the "
                f"observation ({meta['obs_dim']} entries, now {UR5GraspEnv.obs_dim}); "
                f"retrain it on demos that record /mairl/suction/vacuum"
            )
        if task is None or meta.get("discrete"):
            raise ValueError(f"{path}: not a UR5 task policy (obs_dim {meta['obs_dim']})")
        if self.task_wanted is not None and task != self.task_wanted:
            raise ValueError(f"{path}: a {task} policy, but this server runs {self.task_wanted}")
        policy.eval()
        self.policy, self.task, self.path = policy, task, path
        self.mtime = path.stat().st_mtime_ns

    def changed_on_disk(self) -> bool:
        """The checkpoint file was replaced since it was loaded."""
        try:
            return self.path.stat().st_mtime_ns != self.mtime
        except OSError:
            return False

    def observation(self, q, qdot, target, suction: bool = False, vacuum: bool = False) -> np.ndarray:
        return robot_observation(self.task, self.robot, q, qdot, target, suction, vacuum)

    @torch.no_grad()
    def decide(self, q, qdot, target, suction: bool = False, vacuum: bool = False) -> Decision:
        obs = self.observation(q, qdot, target, suction, vacuum)
        if not np.all(np.isfinite(obs)):
            raise ValueError("observation contains NaN or inf (joint state or target)")
        act = self.policy.act(torch.as_tensor(obs)[None], self.deterministic)[0].numpy()
        on = bool(act[6] > 0) if self.task == "grasp" else None
        return Decision(np.asarray(q, float) + act[:6].astype(float), on, obs)
