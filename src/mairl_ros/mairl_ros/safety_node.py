"""mairl-safety: the only path from ``/mairl/command`` to the driver's command topic.

Each ``/mairl/command`` (sensor_msgs/JointState: names + absolute positions) goes through
``mairl_core.safety.SafetyGate`` (the shared pure function ``safe_command`` against the
latest ``/joint_states``) and out on ``/forward_position_controller/commands``
(std_msgs/Float64MultiArray, UR joint order). Stale input (no command or joint state
within ``timeout`` s), NaN/inf, wrong length or unknown joint names hold the arm where it
is (its latest measured position). A joint state that jumps farther than the arm can move
between two states (a spoofed ``/joint_states``, a second publisher, a sim reset) stops all
forwarding until the states agree again, and is reported.

E-stop: ``/mairl/safety/estop`` (std_srvs/SetBool, data true) latches a hold; data false
is refused. Releasing is a separate, deliberate act: ``/mairl/safety/release``
(diagnostic_msgs/AddDiagnostics, its one request field ``load_namespace`` carrying the
reason), accepted only with the arm at rest and fresh joint states, and logged with the
reason::

    ros2 service call /mairl/safety/release diagnostic_msgs/srv/AddDiagnostics \
        "{load_namespace: 'cell checked, J. Doe'}"

What was clipped, rejected or held, and why, goes out on ``/mairl/safety/status``
(diagnostic_msgs/DiagnosticStatus). Limits: ``config/safety.yaml`` + ``config/ur5.yaml``.
Every parameter is read-only: the limits and timeouts are fixed for the node's life.

Times (the speed limit's dt, the timeouts) are monotonic wall seconds; with ``use_sim_time``
they are the sim node's ``/clock`` instead, so that a sim run faster than real time
(``real_time_factor``) is held to the arm's limits in its own physics time. That is for the
simulator only: a real arm's limits are in real seconds.
"""

from __future__ import annotations

import os
import threading

import rclpy
from diagnostic_msgs.msg import DiagnosticStatus, KeyValue
from diagnostic_msgs.srv import AddDiagnostics
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from sensor_msgs.msg import JointState
from std_msgs.msg import Float64MultiArray
from std_srvs.srv import SetBool

from mairl_core.envs.kinematics import fingertip_position
from mairl_core.envs.ur5_model import load_ur5
from mairl_core.safety import GateOutput, SafetyGate, load_safety_limits

from .dds import security_plugins_available
from .node import node_clock, param, run_node

LEVELS = {
    "ok": 0,
    "clipped": 1,
    "rejected": 2,
    "stale": 1,
    "estop": 2,
    "suspect": 2,
    "ignored": 1,
}  # DiagnosticStatus levels


class SafetyNode(Node):
    def __init__(self):
        super().__init__("mairl_safety")
        robot_config = param(self, "robot_config", "ur5", "robot model (config/<name>.yaml)")
        robot = load_ur5(robot_config)
        limits = load_safety_limits(
            param(self, "safety_config", "safety", "limits (config/<name>.yaml)"), robot_config
        )
        timeout = float(
            param(self, "timeout", 0.1, "s without a command or joint state: hold", allowed="> 0")
        )
        watchdog_rate = float(
            param(self, "watchdog_rate", 125.0, "Hz of the stale-input watchdog", allowed="> 0")
        )
        if watchdog_rate <= 0:
            raise ValueError("watchdog_rate must be > 0")
        jump = float(
            param(
                self,
                "max_state_jump",
                2.0 * limits.max_step,
                "rad a joint may move between two joint states before they are distrusted",
            )
        )
        settle = int(
            param(self, "settle_states", 3, "agreeing joint states that end a distrust", allowed=">= 1")
        )
        rest_time = float(
            param(self, "rest_time", 0.5, "s the arm must be still before an e-stop release", allowed=">= 0")
        )
        self.now = node_clock(self)  # use_sim_time: the sim's /clock (docs/ros_interfaces.md)
        self.gate = SafetyGate(
            limits,
            robot.joint_names,
            lambda q: fingertip_position(robot, q),
            timeout,
            max_state_jump=jump,
            settle_states=settle,
            rest_time=rest_time,
        )
        self.pub_cmd = self.create_publisher(
            Float64MultiArray,
            param(
                self,
                "output_topic",
                "/forward_position_controller/commands",
                "the driver's position command topic",
            ),
            10,
        )
        self.pub_status = self.create_publisher(
            DiagnosticStatus, param(self, "status_topic", "/mairl/safety/status"), 10
        )
        self.create_subscription(
            JointState, param(self, "joint_states_topic", "/joint_states"), self.on_joint_state, 10
        )
        # depth 1: the latest command is the one that counts. A deeper queue let a flood of
        # commands pile up ahead of an e-stop request (the executor serves events in order)
        # and forwarded commands that were already stale.
        self.create_subscription(
            JointState, param(self, "command_topic", "/mairl/command"), self.on_command, 1
        )
        # The e-stop and its release are served by a node of their own, spun on a thread of
        # their own: in this node's executor a request waited behind every command already
        # queued (a 1 kHz flood on a loaded machine delayed it by up to 130 ms). The thread
        # starts with the first watchdog tick, so that it inherits the real-time priority
        # run_node gives the process after building its nodes. One lock orders the gate.
        self._lock = threading.Lock()
        self._estop_node = rclpy.create_node("mairl_safety_estop", context=self.context)
        self._estop_node.create_service(
            SetBool, param(self, "estop_service", "/mairl/safety/estop"), self.on_estop
        )
        self._estop_node.create_service(
            AddDiagnostics, param(self, "release_service", "/mairl/safety/release"), self.on_release
        )
        self._estop_executor = SingleThreadedExecutor(context=self.context)
        self._estop_executor.add_node(self._estop_node)
        self._estop_thread: threading.Thread | None = None
        self._estop_running = True
        self.create_timer(1.0 / watchdog_rate, self.on_tick)
        self.output_topic = self.pub_cmd.topic_name
        self.foreign_publishers = 0
        self.create_timer(0.2, self.check_output_topic)
        self._Float64MultiArray, self._Status, self._KeyValue = (
            Float64MultiArray,
            DiagnosticStatus,
            KeyValue,
        )
        self._GateOutput = GateOutput
        self.counts = dict.fromkeys(LEVELS, 0)
        self.rt_priority = int(
            param(self, "rt_priority", 0, "0: off; 1-99: SCHED_FIFO priority", allowed="0..99")
        )  # run_node: 0 off, 1-99 SCHED_FIFO
        self.get_logger().info(
            f"safety: step limit {limits.max_step:.3f} rad per {limits.control_period:g} s, "
            f"timeout {timeout:g} s, fingertip box "
            f"{limits.box_lower.tolist()}..{limits.box_upper.tolist()} m"
        )
        if os.environ.get("ROS_SECURITY_ENABLE", "").lower() != "true":
            self.get_logger().info(
                "DDS access control is off (ROS_SECURITY_ENABLE is not true"
                + ("" if security_plugins_available() else "; this Fast DDS build has no security plugins")
                + "): any process on this host can publish the driver's command topic; "
                "see docs/safety.md, 'Who may talk to the arm'"
            )

    def on_joint_state(self, msg):
        stamp = msg.header.stamp
        age = None  # unstamped: judged by arrival alone
        if stamp.sec or stamp.nanosec:
            age = (self.get_clock().now().nanoseconds - (stamp.sec * 1_000_000_000 + stamp.nanosec)) * 1e-9
        with self._lock:
            out = self.gate.on_joint_state(msg.name, list(msg.position), self.now(), age)
            if out is not None:
                self.emit(out)

    def on_command(self, msg):
        with self._lock:
            self.emit(self.gate.on_command(msg.name, list(msg.position), self.now()))

    def on_tick(self):
        if self._estop_thread is None:
            self._estop_thread = threading.Thread(
                target=self.serve_estop, daemon=True, name="mairl_safety_estop"
            )
            self._estop_thread.start()
        with self._lock:
            out = self.gate.tick(self.now())
            if out is not None:
                self.emit(out)

    def serve_estop(self):
        while self._estop_running:
            try:
                self._estop_executor.spin_once(timeout_sec=0.05)
            except Exception:  # the context shut down under the wait (an rclpy.shutdown elsewhere;
                # Ctrl-C and SIGTERM end run_node's loop, which calls close() first)
                if self._estop_running and self.context.ok():
                    raise
                return

    def close(self):
        """Stop the e-stop thread and its node (run_node calls this before destroy_node)."""
        self._estop_running = False
        if self._estop_thread is not None:
            self._estop_thread.join(timeout=2.0)
        self._estop_executor.remove_node(self._estop_node)
        self._estop_executor.shutdown(timeout_sec=1.0)
        self._estop_node.destroy_node()

    def check_output_topic(self):
        """This node must be the only publisher of the driver's command topic: another one
        (a process writing the driver directly, past every limit) latches the e-stop and is
        reported, once per appearance; it cannot be stopped from here (docs/safety.md)."""
        others = self.count_publishers(self.output_topic) - 1
        if others > 0 and others != self.foreign_publishers:
            message = (
                f"{others} other publisher(s) on {self.output_topic}: commands that "
                "bypass the safety node; e-stop latched"
            )
            self.get_logger().error(message)
            with self._lock:
                out = self.gate.set_estop()
                if out is not None:
                    self.emit(out)
                self.emit(self._GateOutput(None, "estop", message))
        self.foreign_publishers = max(others, 0)

    def on_estop(self, req, res):
        if not req.data:
            res.success = False
            res.message = (
                "e-stop kept: release it with /mairl/safety/release and a reason "
                "(diagnostic_msgs/srv/AddDiagnostics, field load_namespace)"
            )
            self.get_logger().warning(res.message)
            return res
        with self._lock:
            out = self.gate.set_estop()
            if out is not None:
                self.emit(out)
        res.success, res.message = True, "e-stop latched: holding"
        self.get_logger().warning(res.message)
        return res

    def on_release(self, req, res):
        with self._lock:
            res.success, res.message = self.gate.release(self.now(), req.load_namespace)
        self.get_logger().warning(res.message)
        status = self._Status(level=bytes([1]), name="mairl_safety", message=res.message, hardware_id="ur5")
        status.values = [self._KeyValue(key="action", value="release" if res.success else "estop")]
        self.pub_status.publish(status)
        return res

    def emit(self, out):
        if out.command is not None:
            self.pub_cmd.publish(self._Float64MultiArray(data=[float(v) for v in out.command]))
        self.counts[out.level] += 1
        if out.level != "ok":
            status = self._Status(
                level=bytes([LEVELS[out.level]]),
                name="mairl_safety",
                message=out.message,
                hardware_id="ur5",
            )
            status.values = [self._KeyValue(key="action", value=out.level)]
            self.pub_status.publish(status)
            if out.level in ("rejected", "estop", "suspect", "ignored"):
                self.get_logger().warning(out.message, throttle_duration_sec=1.0)


def make_node():
    """The node (``main`` spins it)."""
    return SafetyNode()


def main(args=None) -> int:
    return run_node(make_node, args)


if __name__ == "__main__":
    raise SystemExit(main())
