"""Environments, registered with gymnasium on import.

- ``mairl/GridWorld-v0``: the paper's 5x5 diagnostic GridWorld (§V-B).
- ``mairl/UR5Reach-v0``: UR5 reaching in MuJoCo (§V-D).
"""

import gymnasium as gym

if "mairl/GridWorld-v0" not in gym.registry:
    gym.register(id="mairl/GridWorld-v0", entry_point="mairl_core.envs.gridworld:GridWorldEnv")
if "mairl/UR5Reach-v0" not in gym.registry:
    gym.register(id="mairl/UR5Reach-v0", entry_point="mairl_core.envs.ur5_reach:UR5ReachEnv")
