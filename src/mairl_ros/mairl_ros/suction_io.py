"""mairl-suction-io: the suction switch of the real UR5, a digital output.

Offers the stack's suction service (std_srvs/SetBool on ``/mairl/suction/set``, as the sim
does) and forwards it to ur_robot_driver's ``/io_and_status_controller/set_io``
(``ur_msgs/srv/SetIO``: fun=1 set digital out, ``pin``, state 1/0); publishes the switch
state on ``/mairl/suction``, and the gripper's vacuum sensor (a digital input, ``vacuum_pin``,
read from the driver's ``/io_and_status_controller/io_states``) on ``/mairl/suction/vacuum``:
the grasp policy's last observation entry. ``vacuum_pin: -1`` means no sensor (grasp
policies then see "not held" and will not lift). ``ur_msgs`` is part of a ROS 2 install with the UR driver
(``apt install ros-$ROS_DISTRO-ur-msgs``), not of the PyPI wheels this project installs:
without it the node exits at start-up and says so.
"""

from __future__ import annotations

from .node import SUCTION_TOPIC, VACUUM_TOPIC, param, run_node


def load_ur_msgs():
    """ur_msgs' (SetIO service, IOStates message) types, or a RuntimeError that says how to
    get them."""
    try:
        from ur_msgs.msg import IOStates
        from ur_msgs.srv import SetIO
    except ImportError:
        raise RuntimeError(
            "ur_msgs is not installed: the real robot's suction needs ur_robot_driver's "
            "messages (apt install ros-$ROS_DISTRO-ur-msgs, then source the ROS 2 setup)"
        ) from None
    return SetIO, IOStates


def digital_input(states, pin: int) -> bool | None:
    """The state of digital input ``pin`` in an IOStates message's ``digital_in_states``
    (each has ``pin`` and ``state``), or None when the message does not report it."""
    for d in states:
        if int(d.pin) == pin:
            return bool(d.state)
    return None


def make_node():
    from rclpy.node import Node
    from std_msgs.msg import Bool
    from std_srvs.srv import SetBool

    try:
        SetIO, IOStates = load_ur_msgs()
    except RuntimeError as exc:
        raise ValueError(str(exc)) from None

    class SuctionIO(Node):
        def __init__(self):
            super().__init__("mairl_suction_io")
            self.pin = int(param(self, "pin", 0))
            self.client = self.create_client(
                SetIO, param(self, "set_io_service", "/io_and_status_controller/set_io")
            )
            self.pub = self.create_publisher(Bool, SUCTION_TOPIC, 10)
            self.state = False
            self.vacuum_pin = int(param(self, "vacuum_pin", 0))
            if self.vacuum_pin >= 0:
                self.pub_vacuum = self.create_publisher(Bool, VACUUM_TOPIC, 10)
                self.create_subscription(
                    IOStates,
                    param(self, "io_states_topic", "/io_and_status_controller/io_states"),
                    self.on_io,
                    10,
                )
            else:
                self.get_logger().warning(
                    "vacuum_pin -1: no vacuum sensor; grasp policies will not see the block on the cup"
                )
            self.create_service(SetBool, param(self, "suction_service", "/mairl/suction/set"), self.on_set)
            self.create_timer(0.04, lambda: self.pub.publish(Bool(data=self.state)))

        def on_io(self, msg):
            held = digital_input(msg.digital_in_states, self.vacuum_pin)
            if held is not None:
                self.pub_vacuum.publish(Bool(data=held))

        def on_set(self, req, res):
            if not self.client.service_is_ready():
                res.success, res.message = False, "ur_robot_driver's set_io service is not available"
                return res
            io = SetIO.Request(
                fun=SetIO.Request.FUN_SET_DIGITAL_OUT, pin=self.pin, state=1.0 if req.data else 0.0
            )
            self.client.call_async(io)  # the driver answers within a cycle; state follows
            self.state = bool(req.data)
            res.success, res.message = True, f"digital out {self.pin} -> {int(req.data)}"
            return res

    return SuctionIO()


def main(args=None) -> int:
    return run_node(make_node, args)


if __name__ == "__main__":
    raise SystemExit(main())
