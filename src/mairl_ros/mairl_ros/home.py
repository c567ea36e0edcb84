"""Moving the arm to its start pose between episodes, on a robot without a reset service.

With moveit_py (part of a ROS 2 + MoveIt install, not of the PyPI wheels) the move is
planned by MoveIt (collision-aware); otherwise a plain joint trajectory goes to the
driver's trajectory controller (``/scaled_joint_trajectory_controller/joint_trajectory``;
on the real UR5 that controller must be the active one for the move: docs/ros_interfaces.md).
"""

from __future__ import annotations

import numpy as np


def moveit_available() -> bool:
    try:
        import moveit.planning  # noqa: F401
    except ImportError:
        return False
    return True


def trajectory_home(names, q_now, q_home, max_speed: float, min_duration: float = 2.0):
    """A JointTrajectory from ``q_now`` to ``q_home`` at a third of ``max_speed``, at least
    ``min_duration`` s; returns (message, duration)."""
    from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint

    q_now, q_home = np.asarray(q_now, float), np.asarray(q_home, float)
    duration = max(min_duration, float(np.abs(q_home - q_now).max()) / (max_speed / 3))
    msg = JointTrajectory()
    msg.joint_names = list(names)
    point = JointTrajectoryPoint()
    point.positions = [float(v) for v in q_home]
    point.velocities = [0.0] * len(q_home)
    point.time_from_start.sec = int(duration)
    point.time_from_start.nanosec = int((duration % 1.0) * 1e9)
    msg.points = [point]
    return msg, duration


def moveit_home(q_home, group: str = "ur_manipulator") -> None:
    """Plan and execute the move home with moveit_py (raises ImportError without it)."""
    from moveit.core.robot_state import RobotState
    from moveit.planning import MoveItPy

    robot = MoveItPy(node_name="mairl_home")
    arm = robot.get_planning_component(group)
    goal = RobotState(robot.get_robot_model())
    goal.set_joint_group_positions(group, np.asarray(q_home, float))
    arm.set_start_state_to_current_state()
    arm.set_goal_state(robot_state=goal)
    plan = arm.plan()
    if not plan:
        raise RuntimeError("MoveIt found no plan to the start pose")
    robot.execute(plan.trajectory, controllers=[])
