"""UR5 reaching in MuJoCo (paper §V-D), registered as ``mairl/UR5Reach-v0``.

Observation: joint angles, joint velocities / speed limit, fingertip - target
(``reach_observation``, the same function the ROS policy server uses).
Action: a change of each joint angle, at most ``max_step`` per control period;
every command passes ``mairl_core.safety.safe_command``. The target is drawn
uniformly in the fingertip box; the arm starts with its fingertip at the
middle of the box's +x face. Success: fingertip within ``success_radius``.
The reward returned is -distance (for logging; the learners never see it).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import gymnasium as gym
import mujoco
import numpy as np
from gymnasium import spaces

from ..config import Count
from ..safety import SafetyLimits, load_safety_limits, safe_command
from .kinematics import fingertip_position, solve_position_ik
from .ur5_model import UR5Config, load_ur5, ur5_mjcf


@dataclass
class ReachConfig:
    episode_steps: Count = 100
    success_radius: float = 0.05
    ik_seed: list[float] = field(default_factory=lambda: [1.57, -1.2, 1.6, -1.97, -1.57, 0.0])
    sim_timestep: float = 0.002
    servo_kp: float = 1000.0
    """Position-servo stiffness (N m/rad); with joint_damping and payload, the robot's dynamics
    (a changed robot for reward transfer: config/ur5_reach_changed.yaml)."""
    joint_damping: float = 2.0
    payload: float = 0.0
    """kg at the tool point, not gravity-compensated (the links are)."""


def reach_observation(
    q: np.ndarray, qdot: np.ndarray, fingertip: np.ndarray, target: np.ndarray, max_joint_speed: float
) -> np.ndarray:
    """[q (6), qdot / speed limit (6), fingertip - target (3)] as float32."""
    return np.concatenate(
        [q, np.asarray(qdot) / max_joint_speed, np.asarray(fingertip) - np.asarray(target)]
    ).astype(np.float32)


GOAL_SLICE = slice(12, 15)  # observation entries fingertip - target (reach_observation)


def reach_task_features(obs):
    """fingertip - target of raw observations (..., 15)."""
    return obs[..., GOAL_SLICE]


class UR5ReachEnv(gym.Env):
    metadata = {"render_modes": ["rgb_array"], "render_fps": 25}
    config_cls, config_name = ReachConfig, "ur5_reach"
    obs_dim, act_dim = 15, 6
    goal_slice = GOAL_SLICE  # relabeled_negatives, the gradient penalty's goal entries

    def __init__(
        self,
        config: ReachConfig | None = None,
        robot: UR5Config | None = None,
        limits: SafetyLimits | None = None,
        render_mode: str | None = None,
        width: int = 320,
        height: int = 240,
    ):
        from ..config import load_config

        if render_mode not in (None, "rgb_array"):
            raise ValueError(f"render_mode must be None or 'rgb_array', got {render_mode!r}")
        self.render_mode = render_mode
        self._size = (height, width)
        self._renderer = None
        self.cfg = config or load_config(self.config_cls, self.config_name)
        self.robot = robot or load_ur5()
        self.limits = limits or load_safety_limits()
        period = self.limits.control_period
        self.substeps = int(round(period / self.cfg.sim_timestep))
        if self.substeps < 1 or abs(self.substeps * self.cfg.sim_timestep - period) > 1e-9:
            raise ValueError(
                f"control period {period} s is not a multiple of the sim timestep {self.cfg.sim_timestep} s"
            )
        self.model = mujoco.MjModel.from_xml_string(self._mjcf())
        self.data = mujoco.MjData(self.model)
        lo, hi = self.limits.box_lower, self.limits.box_upper
        # on the +x face (the paper's "right boundary"), the safety margin inside it: a first
        # step from a pose on the face itself overshoots it
        start_tip = np.array([hi[0] - self.limits.box_margin, (lo[1] + hi[1]) / 2, (lo[2] + hi[2]) / 2])
        self.q_start, err = solve_position_ik(self.robot, start_tip, np.array(self.cfg.ik_seed))
        if err > 1e-3:
            raise ValueError(f"start pose unreachable from ik_seed (error {err:.3f} m)")
        s = self.limits.max_step
        self.action_space = spaces.Box(-s, s, (self.act_dim,), np.float32)
        self.observation_space = spaces.Box(-np.inf, np.inf, (self.obs_dim,), np.float32)
        self.target = start_tip
        self.t = 0

    def _mjcf(self) -> str:
        target_body = (
            '<body name="target" mocap="true"><geom type="box" size="0.02 0.02 0.02" '
            'rgba="0.9 0.2 0.2 1"/></body>'
        )
        return ur5_mjcf(self.robot, extra_worldbody=target_body, **self._dynamics())

    def _dynamics(self) -> dict:
        c = self.cfg
        return {
            "timestep": c.sim_timestep,
            "kp": c.servo_kp,
            "damping": c.joint_damping,
            "payload": c.payload,
        }

    def _tip(self, q: np.ndarray) -> np.ndarray:
        return fingertip_position(self.robot, q)

    @property
    def task_features(self):
        """A function of raw observations (torch, (..., obs_dim)) giving the entries that say
        how the task stands, whatever the arm's pose (``disc_inputs: task``)."""
        return reach_task_features

    def _obs(self) -> np.ndarray:
        q = self.data.qpos[:6].copy()
        return reach_observation(q, self.data.qvel[:6], self._tip(q), self.target, self.robot.max_joint_speed)

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        mujoco.mj_resetData(self.model, self.data)
        self.data.qpos[:6] = self.q_start
        self.data.ctrl[:6] = self.q_start
        self._place_target(options["target"] if options and "target" in options else None)
        mujoco.mj_forward(self.model, self.data)
        self.t = 0
        return self._obs(), {"distance": self._distance()}

    def _place_target(self, target) -> None:
        """The block: ``target`` if given, else uniform in the fingertip box."""
        self.target = (
            np.asarray(target, float)
            if target is not None
            else self.np_random.uniform(self.limits.box_lower, self.limits.box_upper)
        )
        self.data.mocap_pos[0] = self.target

    def goal_position(self, obs: np.ndarray) -> np.ndarray:
        """The block position an observation was made with: fingertip(q) - obs[goal_slice]."""
        return self._tip(np.asarray(obs[:6], float)) - np.asarray(obs[self.goal_slice], float)

    def _distance(self) -> float:
        return float(np.linalg.norm(self._tip(self.data.qpos[:6]) - self.target))

    def distance(self) -> float:
        """Fingertip to block (m) now."""
        return self._distance()

    def is_success(self) -> bool:
        """The task's success test, applied at the end of an episode."""
        return self._distance() <= self.cfg.success_radius

    @staticmethod
    def step_bound() -> float:
        """The largest joint change per step (rad) under config/safety.yaml."""
        return load_safety_limits().max_step

    def render(self):
        """An RGB frame (H, W, 3) of the arm and block; headless (MuJoCo EGL or OSMesa)."""
        if self.render_mode != "rgb_array":
            return None
        if self._renderer is None:
            try:
                self._renderer = mujoco.Renderer(self.model, *self._size)
            except Exception as exc:  # noqa: BLE001 - GL back-ends fail in many ways
                raise RuntimeError(
                    f"cannot render headless ({type(exc).__name__}: {exc}); set MUJOCO_GL=egl "
                    "(GPU/EGL) or MUJOCO_GL=osmesa (needs libosmesa6)"
                ) from None
            self._camera = mujoco.MjvCamera()
            lo, hi = np.array(self.limits.box_lower), np.array(self.limits.box_upper)
            self._camera.lookat[:] = (lo + hi) / 2 * np.array([0.5, 0.7, 0.5])
            self._camera.distance, self._camera.azimuth, self._camera.elevation = 1.9, 135.0, -25.0
        self._renderer.update_scene(self.data, self._camera)
        return self._renderer.render().copy()  # the renderer reuses its buffer

    def close(self):
        if self._renderer is not None:
            self._renderer.close()
            self._renderer = None

    def _apply_joint_action(self, action) -> dict:
        """Joint deltas -> safe absolute command -> the position servos; the info of the step."""
        q = self.data.qpos[:6].copy()
        res = safe_command(q, q + np.asarray(action, float)[:6], self.limits, self._tip)
        info = {"safety_clipped": res.clipped}
        if res.command is None:  # hold position, say why
            info["safety_rejected"] = res.rejected
            command = self.data.ctrl[:6].copy()
        else:
            command = res.command
        self.data.ctrl[:6] = command
        info["command"] = command
        return info

    def step(self, action):
        info = self._apply_joint_action(action)
        mujoco.mj_step(self.model, self.data, nstep=self.substeps)
        self.t += 1
        dist = self._distance()
        info.update(distance=dist, is_success=self.is_success())
        return self._obs(), -dist, False, self.t >= self.cfg.episode_steps, info


class UR5ReachVecEnv:
    """The trainers' view of ``n_envs`` UR5 envs (reach, or ``env_cls``) stepping in lock-step
    (float32 tensors)."""

    discrete = False
    dynamics_head = "gaussian"

    def __init__(self, n_envs: int, seed: int = 0, env_cls: type[UR5ReachEnv] | None = None, config=None):
        import torch

        self._torch = torch
        self.envs = [(env_cls or UR5ReachEnv)(config) for _ in range(n_envs)]
        for i, e in enumerate(self.envs):
            e.reset(seed=seed * 10_007 + i)  # seeds each env's generator once
        self.n_envs = n_envs
        self.obs_dim, self.act_dim = self.envs[0].obs_dim, self.envs[0].act_dim
        self.horizon = self.envs[0].cfg.episode_steps
        self.action_scale = self.envs[0].limits.max_step  # policies squash into the step limit

    @property
    def goal_slice(self) -> slice:
        return self.envs[0].goal_slice

    @property
    def task_features(self):
        """See UR5ReachEnv.task_features."""
        return self.envs[0].task_features

    def goal_positions(self, obs):
        """(N, 3) block positions of (N, obs_dim) raw observations (see UR5ReachEnv.goal_position)."""
        return self._torch.as_tensor(
            np.stack([self.envs[0].goal_position(o) for o in np.asarray(obs)]), dtype=self._torch.float32
        )

    def reset(self):
        return self._torch.as_tensor(np.stack([e.reset()[0] for e in self.envs]))

    def step(self, env_actions):
        out = [e.step(a) for e, a in zip(self.envs, env_actions.numpy())]
        obs = self._torch.as_tensor(np.stack([o[0] for o in out]))
        return obs, np.array([o[1] for o in out]), any(o[4] for o in out)

    def step_from(self, obs, env_actions):
        raise NotImplementedError(
            "a MuJoCo UR5 env cannot be reset to an arbitrary observation: use rollout_mode 'imagined'"
        )

    def rng_state(self) -> dict:
        return {"envs": [e.np_random.bit_generator.state for e in self.envs]}

    def set_rng_state(self, state: dict) -> None:
        for e, s in zip(self.envs, state["envs"]):
            e.np_random.bit_generator.state = s

    def success_rate(self) -> float:
        return float(np.mean([e.is_success() for e in self.envs]))
