"""What every mairl node shares: loopback DDS, the executor, clean shutdown, and the message
conversions between ROS types and the core's numpy arrays."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Sequence

import numpy as np
from mairl_core.safety import order_by_name

from .dds import apply_loopback_env


def run_node(make_node: Callable[[], object], args: Sequence[str] | None = None,
             stop_when: Callable[[object], bool] | None = None,
             body: Callable[[object, object], int] | None = None) -> int:
    """Start rclpy on loopback DDS (the domain id of the environment), build the node and spin
    it until Ctrl-C / SIGTERM (or ``stop_when(node)`` is true). A node that cannot start (bad
    parameter, missing checkpoint) logs one clear line and exits with status 2.

    ``body(node, executor)``: run this instead of spinning (it spins the executor itself when
    it waits) and exit with what it returns."""
    apply_loopback_env()  # before rclpy.init(): Fast DDS reads its profile once
    import rclpy
    from rclpy.executors import ExternalShutdownException

    rclpy.init(args=list(sys.argv if args is None else args))
    node = None
    try:
        try:
            node = make_node()
        except (ValueError, FileNotFoundError, OSError) as exc:
            print(f"[mairl] cannot start: {exc}", file=sys.stderr, flush=True)
            return 2
        executor = make_executor()
        executor.add_node(node)
        if body is not None:
            return body(node, executor)
        while rclpy.ok() and not (stop_when is not None and stop_when(node)):
            executor.spin_once(timeout_sec=0.1)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        if node is not None:
            close = getattr(node, "close", None)
            if close is not None:
                close()
            node.destroy_node()
        rclpy.try_shutdown()
    return 0


def event_qos():
    """QoS of event topics (``/mairl/episode/event``): reliable and transient-local with a
    history of 100, so a subscriber that joins late (discovery takes up to seconds) still
    gets the events it missed."""
    from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy

    return QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE,
                      durability=DurabilityPolicy.TRANSIENT_LOCAL)


def make_executor(context=None):
    """rclpy's EventsExecutor (a C++ event queue: far less Python per message, which is most of
    a node's latency here) where this rclpy has it and ``MAIRL_EXECUTOR`` is not 'single';
    else a SingleThreadedExecutor (MultiThreadedExecutor starves subscriptions in this
    rclpy, ARCHITECTURE.md)."""
    from rclpy.executors import SingleThreadedExecutor

    if os.environ.get("MAIRL_EXECUTOR", "events") != "single":
        try:
            from rclpy.experimental import EventsExecutor
            return EventsExecutor(context=context)
        except ImportError:
            pass
    return SingleThreadedExecutor(context=context)


def param(node, name: str, default):
    """Declare a parameter with its default and return its value."""
    return node.declare_parameter(name, default).value


def now_s() -> float:
    """Monotonic seconds: staleness is measured on this clock, whatever ROS time says."""
    return time.monotonic()


def joint_state_msg(node, names: Sequence[str], positions, velocities=None):
    from sensor_msgs.msg import JointState

    msg = JointState()
    msg.header.stamp = node.get_clock().now().to_msg()
    msg.name = list(names)
    msg.position = [float(x) for x in positions]
    if velocities is not None:
        msg.velocity = [float(x) for x in velocities]
    return msg


def point_msg(node, xyz, frame: str = "base"):
    from geometry_msgs.msg import PointStamped

    msg = PointStamped()
    msg.header.stamp = node.get_clock().now().to_msg()
    msg.header.frame_id = frame
    msg.point.x, msg.point.y, msg.point.z = (float(v) for v in xyz)
    return msg


def stamp_s(msg) -> float:
    """A stamped message's header stamp in seconds."""
    return msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9


def joint_state_arrays(msg, names: Sequence[str]) -> tuple[np.ndarray | None, np.ndarray | None]:
    """(positions, velocities) of a JointState in the order of ``names`` (velocities zero when
    the message has none usable); (None, None) when its joint names do not fit."""
    q, _ = order_by_name(msg.name, list(msg.position), names)
    if q is None:
        return None, None
    qd, _ = order_by_name(msg.name, list(msg.velocity), names)
    return q, np.zeros(len(names)) if qd is None else qd


def point_array(msg) -> np.ndarray:
    return np.array([msg.point.x, msg.point.y, msg.point.z], float)


SUCTION_TOPIC, VACUUM_TOPIC = "/mairl/suction", "/mairl/suction/vacuum"


class SuctionState:
    """The suction switch (``/mairl/suction``) and the vacuum sensor
    (``/mairl/suction/vacuum``: the block is on the cup) as last heard, both std_msgs/Bool;
    the grasp observation's last two entries."""

    def __init__(self, node, suction_topic: str = SUCTION_TOPIC, vacuum_topic: str = VACUUM_TOPIC):
        from std_msgs.msg import Bool

        self.on = self.vacuum = False
        node.create_subscription(Bool, suction_topic, self._on_suction, 10)
        node.create_subscription(Bool, vacuum_topic, self._on_vacuum, 10)

    def _on_suction(self, msg) -> None:
        self.on = bool(msg.data)

    def _on_vacuum(self, msg) -> None:
        self.vacuum = bool(msg.data)

    def clear(self) -> None:
        self.on = self.vacuum = False
