"""mairl-target: ``/mairl/target`` and ``/mairl/fingertip`` for the real arm.

On the sim these come from the sim node. On a real UR5 the block position is a parameter
(``target``: x, y, z in the base frame, m; or a perception node publishing the same topic
instead of this one) and the fingertip is the forward kinematics of ``/joint_states``, the
same function as the sim's (``mairl_core.envs.kinematics.fingertip_position``).
"""

from __future__ import annotations

from geometry_msgs.msg import PointStamped
from rclpy.node import Node
from sensor_msgs.msg import JointState

from mairl_core.envs.kinematics import fingertip_position
from mairl_core.envs.ur5_model import load_ur5

from .node import joint_state_arrays, param, point_msg, run_node


class Target(Node):
    def __init__(self):
        super().__init__("mairl_target")
        self.target = [float(v) for v in param(self, "target", [0.0, -0.5, 0.1])]
        if len(self.target) != 3:
            raise ValueError(f"target must be 3 numbers (x, y, z), got {self.target}")
        self.frame = param(self, "frame_id", "base")
        self.robot = load_ur5(param(self, "robot_config", "ur5"))
        self.pub_target = self.create_publisher(PointStamped, "/mairl/target", 10)
        self.pub_tip = self.create_publisher(PointStamped, "/mairl/fingertip", 10)
        self.create_subscription(JointState, "/joint_states", self.on_joint_state, 10)
        self.create_timer(1.0 / float(param(self, "rate", 25.0)), self.on_tick)
        self._fk = fingertip_position

    def on_joint_state(self, msg):
        q, _ = joint_state_arrays(msg, self.robot.joint_names)
        if q is not None:
            self.pub_tip.publish(point_msg(self, self._fk(self.robot, q), self.frame))

    def on_tick(self):
        self.pub_target.publish(point_msg(self, self.target, self.frame))


def make_node():
    """The node (``main`` spins it)."""
    return Target()


def main(args=None) -> int:
    return run_node(make_node, args)


if __name__ == "__main__":
    raise SystemExit(main())
