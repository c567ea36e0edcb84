"""Environments, registered with gymnasium on import.

- ``mairl/GridWorld-v0``: the paper's 5x5 diagnostic GridWorld (§V-B).
- ``mairl/UR5Reach-v0``: UR5 reaching in MuJoCo (§V-D).
- ``mairl/UR5Grasp-v0``: UR5 grasping with a suction cup (§V-D).
"""

import os

import gymnasium as gym

# Headless rendering: without a display MuJoCo's default (GLFW) cannot open a context; EGL
# can. MuJoCo reads MUJOCO_GL when it is first imported, so this must run before that.
if not os.environ.get("DISPLAY") and "MUJOCO_GL" not in os.environ:
    os.environ["MUJOCO_GL"] = "egl"

if "mairl/GridWorld-v0" not in gym.registry:
    gym.register(id="mairl/GridWorld-v0", entry_point="mairl_core.envs.gridworld:GridWorldEnv")
if "mairl/UR5Reach-v0" not in gym.registry:
    gym.register(id="mairl/UR5Reach-v0", entry_point="mairl_core.envs.ur5_reach:UR5ReachEnv")
if "mairl/UR5Grasp-v0" not in gym.registry:
    gym.register(id="mairl/UR5Grasp-v0", entry_point="mairl_core.envs.ur5_grasp:UR5GraspEnv")
