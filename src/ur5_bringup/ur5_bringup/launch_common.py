"""The launch description of a job (``launch/reaching.launch.py``, ``grasping.launch.py``).

``launch`` and ``launch_ros`` come with a ROS 2 install, not from PyPI: they are imported
here, when a launch file is loaded, never by the rest of the project. The nodes and their
parameters are ``ur5_bringup.stack``'s, the same the pip-only ``mairl-ros-up`` starts.
``sim:=false`` includes ur_robot_driver's ``ur_control.launch.py`` with
``initial_joint_controller:=forward_position_controller`` (the controller the safety node
streams to); ``operator:=joy`` starts ROS's ``joy_node`` for the gamepad.
"""

from __future__ import annotations

from .stack import ARGUMENTS, CHOICES, driver_arguments, params_file, stack


def generate(job: str):
    from launch.actions import DeclareLaunchArgument, OpaqueFunction

    from launch import LaunchDescription

    declared = [
        DeclareLaunchArgument(
            name,
            default_value=default,
            description=text,
            **({"choices": list(CHOICES[name])} if name in CHOICES else {}),
        )
        for name, (default, text) in ARGUMENTS.items()
    ]
    return LaunchDescription([*declared, OpaqueFunction(function=_nodes, args=[job])])


def _nodes(context, job: str):
    from launch.substitutions import LaunchConfiguration
    from launch_ros.actions import Node

    values = {name: LaunchConfiguration(name).perform(context) for name in ARGUMENTS}
    params = str(params_file(job))
    actions = [
        Node(
            package=s.package,
            executable=s.executable,
            name=s.name,
            output="screen",
            emulate_tty=True,
            parameters=[params, s.parameters],
        )
        for s in stack(job, **values)
    ]
    if values["sim"].lower() in ("false", "0", "no"):
        actions.insert(0, _driver(values))
    if values["mode"] == "record" and values["operator"] == "joy":
        # ROS's joy driver (package joy); repeating the held buttons keeps the deadman fresh
        actions.append(
            Node(
                package="joy",
                executable="joy_node",
                name="joy_node",
                output="screen",
                parameters=[{"autorepeat_rate": 25.0}],
            )
        )
    return actions


def _driver(values):
    from launch.actions import IncludeLaunchDescription
    from launch.launch_description_sources import PythonLaunchDescriptionSource
    from launch.substitutions import PathJoinSubstitution
    from launch_ros.substitutions import FindPackageShare

    source = PathJoinSubstitution([FindPackageShare("ur_robot_driver"), "launch", "ur_control.launch.py"])
    return IncludeLaunchDescription(
        PythonLaunchDescriptionSource(source), launch_arguments=driver_arguments(values).items()
    )
