"""mairl-safety: the only path from ``/mairl/command`` to the driver's command topic.

Each ``/mairl/command`` (sensor_msgs/JointState: names + absolute positions) goes through
``mairl_core.safety.SafetyGate`` (the shared pure function ``safe_command`` against the
latest ``/joint_states``) and out on ``/forward_position_controller/commands``
(std_msgs/Float64MultiArray, UR joint order). Stale input (no command or joint state
within ``timeout`` s), NaN/inf, wrong length or unknown joint names hold the arm where it
is; ``/mairl/safety/estop`` (std_srvs/SetBool) latches a hold until released. What was
clipped or rejected, and why, goes out on ``/mairl/safety/status``
(diagnostic_msgs/DiagnosticStatus). Limits: ``config/safety.yaml`` + ``config/ur5.yaml``.
"""

from __future__ import annotations

from .node import now_s, param, run_node

LEVELS = {"ok": 0, "clipped": 1, "rejected": 2, "stale": 1, "estop": 2}  # DiagnosticStatus levels


def make_node():
    from diagnostic_msgs.msg import DiagnosticStatus, KeyValue
    from rclpy.node import Node
    from sensor_msgs.msg import JointState
    from std_msgs.msg import Float64MultiArray
    from std_srvs.srv import SetBool

    from mairl_core.envs.kinematics import fingertip_position
    from mairl_core.envs.ur5_model import load_ur5
    from mairl_core.safety import SafetyGate, load_safety_limits

    class SafetyNode(Node):
        def __init__(self):
            super().__init__("mairl_safety")
            robot_config = param(self, "robot_config", "ur5")
            robot = load_ur5(robot_config)
            limits = load_safety_limits(param(self, "safety_config", "safety"), robot_config)
            timeout = float(param(self, "timeout", 0.1))
            watchdog_rate = float(param(self, "watchdog_rate", 125.0))
            if watchdog_rate <= 0:
                raise ValueError("watchdog_rate must be > 0")
            self.gate = SafetyGate(limits, robot.joint_names, lambda q: fingertip_position(robot, q),
                                   timeout)
            self.pub_cmd = self.create_publisher(
                Float64MultiArray, param(self, "output_topic", "/forward_position_controller/commands"), 10)
            self.pub_status = self.create_publisher(
                DiagnosticStatus, param(self, "status_topic", "/mairl/safety/status"), 10)
            self.create_subscription(JointState, param(self, "joint_states_topic", "/joint_states"),
                                     self.on_joint_state, 10)
            self.create_subscription(JointState, param(self, "command_topic", "/mairl/command"),
                                     self.on_command, 10)
            self.create_service(SetBool, param(self, "estop_service", "/mairl/safety/estop"),
                                self.on_estop)
            self.create_timer(1.0 / watchdog_rate, self.on_tick)
            self._Float64MultiArray, self._Status, self._KeyValue = Float64MultiArray, DiagnosticStatus, KeyValue
            self.counts = dict.fromkeys(LEVELS, 0)
            self.rt_priority = int(param(self, "rt_priority", 0))  # run_node: 0 off, 1-99 SCHED_FIFO
            self.get_logger().info(
                f"safety: step limit {limits.max_step:.3f} rad per {limits.control_period:g} s, "
                f"timeout {timeout:g} s, fingertip box {limits.box_lower.tolist()}..{limits.box_upper.tolist()} m")

        def on_joint_state(self, msg):
            why = self.gate.on_joint_state(msg.name, list(msg.position), now_s())
            if why:
                self.get_logger().warning(f"joint state ignored: {why}", throttle_duration_sec=1.0)

        def on_command(self, msg):
            self.emit(self.gate.on_command(msg.name, list(msg.position), now_s()))

        def on_tick(self):
            out = self.gate.tick(now_s())
            if out is not None:
                self.emit(out)

        def on_estop(self, req, res):
            out = self.gate.set_estop(req.data)
            if out is not None:
                self.emit(out)
            res.success = True
            res.message = "e-stop latched: holding" if req.data else "e-stop released"
            self.get_logger().warning(res.message)
            return res

        def emit(self, out):
            if out.command is not None:
                self.pub_cmd.publish(self._Float64MultiArray(data=[float(v) for v in out.command]))
            self.counts[out.level] += 1
            if out.level != "ok":
                status = self._Status(level=bytes([LEVELS[out.level]]), name="mairl_safety",
                                      message=out.message, hardware_id="ur5")
                status.values = [self._KeyValue(key="action", value=out.level)]
                self.pub_status.publish(status)
                if out.level in ("rejected", "estop"):
                    self.get_logger().warning(out.message, throttle_duration_sec=1.0)

    return SafetyNode()


def main(args=None) -> int:
    return run_node(make_node, args)


if __name__ == "__main__":
    raise SystemExit(main())
