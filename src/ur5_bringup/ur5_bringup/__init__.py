"""ur5_bringup: launch files and configuration (robot, tasks, DDS) of the MAIRL UR5 stack.

The files themselves live at the repository root (``launch/``, ``config/``); this
package installs them under ``share/ur5_bringup`` so ``ros2 launch`` and the ament
index find them.
"""
