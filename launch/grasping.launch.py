"""UR5 grasping with MAIRL: `ros2 launch ur5_bringup grasping.launch.py sim:=true mode:=record`.

Arguments (`ros2 launch ur5_bringup grasping.launch.py --show-args`): sim, mode
(record | train | deploy), policy, dataset, operator, episodes, ur_type, robot_ip, target.
The nodes and parameters (config/ros_grasping.yaml) are ur5_bringup.stack's; without
`ros2 launch`, `mairl-ros-up grasping` starts the same ones.
"""

from ur5_bringup.launch_common import generate


def generate_launch_description():
    return generate("grasping")
