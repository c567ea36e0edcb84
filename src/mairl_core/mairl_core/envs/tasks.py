"""The UR5 robot tasks by name: their env class and env config (no torch: the ROS nodes and
the sim use these too)."""

from __future__ import annotations

ROBOT_TASKS = ("reach", "grasp")


def task_env_cls(task: str):
    """The gymnasium env class of a robot task."""
    if task == "reach":
        from .ur5_reach import UR5ReachEnv

        return UR5ReachEnv
    if task == "grasp":
        from .ur5_grasp import UR5GraspEnv

        return UR5GraspEnv
    raise ValueError(f"unknown robot task {task!r} ({', '.join(ROBOT_TASKS)})")


def task_env_config(task: str, env_config=None):
    """The env config of ``task`` from a YAML name or path (None: the task's default file); a
    config object of the task's class is returned as it is."""
    from ..config import load_config

    cls = task_env_cls(task)
    if isinstance(env_config, cls.config_cls):
        return env_config
    return load_config(cls.config_cls, env_config or cls.config_name)
