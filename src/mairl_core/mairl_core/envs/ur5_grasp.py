"""UR5 grasping with a suction cup in MuJoCo (paper §V-D), registered as ``mairl/UR5Grasp-v0``.

Reach plus suction: a block (box, cylinder or sphere; ``config/ur5_grasp.yaml``)
rests on the table somewhere under the fingertip box; the arm starts as in
reach. A suction cup on the flange is a MuJoCo adhesion actuator switched by
one binary command, as the real robot switches a digital output.

Observation (17): ``reach_observation`` with the block's centre as the target
(joint angles, joint velocities / speed limit, fingertip - block), then the
suction state (1 = on; the last command) and the vacuum sensor (1 = the block is
on the cup with the suction on; suction grippers report it on a digital input).
Without the sensor, "the block is on the cup" shows only as a few-millimetre change
of the fingertip-to-block vector, and policies lifted too early or never (measured
in bench/NOTEBOOK.md, the grasp runs before the sensor).
Action (7): six joint changes (the same safety function as reach) and the
suction command: on when the seventh entry is > 0. The policies keep it a
continuous value and the env thresholds it, so the dynamics model is trained on,
and differentiated through, the value the policy produced (the paper's
relaxation for a discrete choice, eq. 22, in its simplest form).
Success at the end of the episode: suction on, the block touching the cup and
lifted at least ``lift_height`` above where it rested.
The reward returned is -distance(fingertip, grasp point) + lift (logging only); the grasp
point is where the cup touches the block's top.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import mujoco
import numpy as np

from ..config import Count
from .ur5_model import fingertip_positions, ur5_mjcf
from .ur5_reach import GOAL_SLICE, ReachConfig, UR5ReachEnv, reach_observation

SHAPES = ("box", "cylinder", "sphere")


@dataclass
class GraspConfig(ReachConfig):
    """ReachConfig's fields (``success_radius`` is only reported here: the fingertip within it
    of the grasp point counts as 'reached') plus the block and the cup."""

    episode_steps: Count = 150
    object: str = "box"
    """Shape of the block: box, cylinder or sphere."""
    object_size: float = 0.025
    """Half-extent (m): box half-side, cylinder radius and half-height, sphere radius."""
    object_mass: float = 0.1
    cup_radius: float = 0.015
    """The suction cup: a sphere of this radius at the tool point."""
    suction_force: float = 20.0
    """Adhesion force (N) when on and touching."""
    lift_height: float = 0.05
    """Success: the block's centre this far above its resting height (m)."""

    def __post_init__(self) -> None:
        if self.object not in SHAPES:
            raise ValueError(f"object must be one of {', '.join(SHAPES)}, got {self.object!r}")
        if self.object_size <= 0 or self.object_mass <= 0 or self.cup_radius <= 0:
            raise ValueError("object_size, object_mass and cup_radius must be > 0")


def grasp_point(block, cfg: GraspConfig) -> np.ndarray:
    """Where the fingertip is when the cup touches the top of the block centred at ``block``."""
    return np.asarray(block, float) + np.array([0.0, 0.0, cfg.object_size + cfg.cup_radius])


def grasp_observation(
    q, qdot, fingertip, block, suction: float, vacuum: float, max_joint_speed: float
) -> np.ndarray:
    """[reach_observation(q, qdot, fingertip, block) (15), suction state, vacuum sensor] as
    float32."""
    return np.concatenate(
        [
            reach_observation(q, qdot, fingertip, block, max_joint_speed),
            [np.float32(suction), np.float32(vacuum)],
        ]
    ).astype(np.float32)


def grasp_task_features(robot, obs):
    """[fingertip - block, suction, vacuum, fingertip height] of raw observations (torch,
    (..., 17)): the grasp's state without the arm's pose. The height (forward kinematics of
    the observed joints, differentiable) is the lift while the block is held."""
    import torch

    tip_z = fingertip_positions(robot, obs[..., :6])[..., 2:]
    return torch.cat([obs[..., GOAL_SLICE.start :], tip_z.to(obs.dtype)], -1)  # goal, suction, vacuum


class UR5GraspEnv(UR5ReachEnv):
    config_cls, config_name = GraspConfig, "ur5_grasp"
    obs_dim, act_dim = 17, 7

    def _mjcf(self) -> str:
        c = self.cfg
        size = {
            "box": f"{c.object_size} {c.object_size} {c.object_size}",
            "cylinder": f"{c.object_size} {c.object_size}",
            "sphere": f"{c.object_size}",
        }[c.object]
        # Only the cup, the block and the table top collide; the arm's links pass through
        # (the safety box keeps the fingertip above the table).
        world = (
            f'<geom name="table_top" type="plane" size="1 1 0.1" rgba="0 0 0 0" '
            f'contype="1" conaffinity="1"/>'
            f'<body name="block" pos="0 -0.5 {c.object_size}"><freejoint name="block"/>'
            f'<geom name="block" type="{c.object}" size="{size}" mass="{c.object_mass}" '
            f'contype="1" conaffinity="1" friction="1 0.01 0.001" rgba="0.9 0.2 0.2 1"/></body>'
        )
        # no contact margin: MuJoCo 4 treats it as an inflated surface (gap does not undo it)
        cup = (
            f'<geom name="cup" type="sphere" size="{c.cup_radius}" contype="1" conaffinity="1" '
            f'rgba="0.15 0.15 0.15 1"/>'
        )
        suction = f'<adhesion name="suction" body="tool_body" ctrlrange="0 1" gain="{c.suction_force}"/>'
        return ur5_mjcf(
            self.robot, extra_worldbody=world, tool_body=cup, extra_actuators=suction, **self._dynamics()
        )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._block = mujoco.mj_name2id(self.model, mujoco.mjtObj.mjOBJ_BODY, "block")
        self._block_geom = mujoco.mj_name2id(self.model, mujoco.mjtObj.mjOBJ_GEOM, "block")
        self._cup_geom = mujoco.mj_name2id(self.model, mujoco.mjtObj.mjOBJ_GEOM, "cup")
        self._block_qpos = self.model.jnt_qposadr[self.model.body_jntadr[self._block]]
        self.rest_height = self.cfg.object_size

    # ----- state -----
    def block_position(self) -> np.ndarray:
        return self.data.xpos[self._block].copy()

    @property
    def suction(self) -> float:
        return float(self.data.ctrl[6])

    def lift(self) -> float:
        """Height of the block's centre above its resting height (m)."""
        return float(self.data.xpos[self._block][2] - self.rest_height)

    def holding(self) -> bool:
        """Suction on and the cup touching the block."""
        if self.suction <= 0:
            return False
        pair = {self._block_geom, self._cup_geom}
        return any({int(c.geom1), int(c.geom2)} == pair for c in self.data.contact[: self.data.ncon])

    def grasp_point(self) -> np.ndarray:
        """Where the fingertip touches the top of the block with the cup."""
        return grasp_point(self.block_position(), self.cfg)

    def _distance(self) -> float:
        return float(np.linalg.norm(self._tip(self.data.qpos[:6]) - self.grasp_point()))

    def is_success(self, holding: bool | None = None) -> bool:
        held = self.holding() if holding is None else holding
        return held and self.lift() >= self.cfg.lift_height

    @property
    def task_features(self):
        """See UR5ReachEnv.task_features: ``grasp_task_features`` with this arm."""
        return functools.partial(grasp_task_features, self.robot)

    def _obs(self) -> np.ndarray:
        q = self.data.qpos[:6].copy()
        return grasp_observation(
            q,
            self.data.qvel[:6],
            self._tip(q),
            self.block_position(),
            self.suction,
            float(self.holding()),
            self.robot.max_joint_speed,
        )

    def _place_target(self, target) -> None:
        """The block on the table: at ``target``'s x, y if given, else uniform under the box."""
        lo, hi = self.limits.box_lower, self.limits.box_upper
        xy = np.asarray(target, float)[:2] if target is not None else self.np_random.uniform(lo[:2], hi[:2])
        a = self._block_qpos
        self.data.qpos[a : a + 7] = [xy[0], xy[1], self.rest_height, 1.0, 0.0, 0.0, 0.0]
        self.data.ctrl[6] = 0.0
        self.target = np.array([xy[0], xy[1], self.rest_height])

    def step(self, action):
        action = np.asarray(action, float)
        info = self._apply_joint_action(action)
        if len(action) != 7 or not np.isfinite(action[6]):
            info["suction_rejected"] = "the suction command must be one finite number"
        else:
            self.data.ctrl[6] = 1.0 if action[6] > 0 else 0.0
        mujoco.mj_step(self.model, self.data, nstep=self.substeps)
        self.t += 1
        self.target = self.block_position()
        dist, lift, held = self._distance(), self.lift(), self.holding()
        info.update(
            distance=dist, lift=lift, suction=self.suction, holding=held, is_success=self.is_success(held)
        )
        return self._obs(), -dist + lift, False, self.t >= self.cfg.episode_steps, info
