"""mairl-relay: a fault injector between a publisher and its subscribers (tests, soak runs).

Republishes ``input`` on ``output`` (message ``type``, default sensor_msgs/msg/JointState),
dropping a fraction ``drop`` of the messages (1.0: all of them) and/or holding each one
``delay`` s before passing it on. Both are parameters that may change while it runs
(``ros2 param set`` or the node's ``set_parameters`` service), so a test can put a link
through a fault and take it out again. A node under test reads the relay's output instead
of the original topic, e.g. the safety node with ``joint_states_topic:=<output>``.
Which messages are dropped follows ``seed`` (the same run drops the same ones).

  python -m mairl_ros.relay --ros-args -p input:=/joint_states \\
      -p output:=/mairl/relay/joint_states -p drop:=0.5
"""

from __future__ import annotations

import importlib
import random
from collections import deque

from rcl_interfaces.msg import SetParametersResult
from rclpy.node import Node

from .node import now_s, param, run_node

FLUSH_PERIOD = 0.005  # s: how often held messages are checked; a delay is this much coarser


def message_type(name: str):
    """``pkg/msg/Type`` (or ``pkg/Type``) -> the message class."""
    parts = name.split("/")
    if len(parts) not in (2, 3) or not all(parts):
        raise ValueError(f"type must be pkg/msg/Type, got {name!r}")
    try:
        return getattr(importlib.import_module(f"{parts[0]}.msg"), parts[-1])
    except (ImportError, AttributeError):
        raise ValueError(f"unknown message type {name!r}") from None


class Relay(Node):
    def __init__(self):
        super().__init__("mairl_relay")
        msg_type = message_type(param(self, "type", "sensor_msgs/msg/JointState"))
        source, sink = param(self, "input", "/joint_states"), param(self, "output", "")
        if not sink or sink == source:
            raise ValueError("parameter 'output' is required and must differ from 'input'")
        self.drop = self.delay = 0.0
        self.apply(
            float(param(self, "drop", 0.0, "fraction of messages dropped", read_only=False)),
            float(param(self, "delay", 0.0, "seconds each message is held", read_only=False)),
        )
        self.rng = random.Random(int(param(self, "seed", 0)))
        self.held: deque = deque()  # (due time, message), in arrival order
        self.counts = {"in": 0, "dropped": 0, "out": 0}
        self.pub = self.create_publisher(msg_type, sink, 10)
        self.create_subscription(msg_type, source, self.on_message, 10)
        self.create_timer(FLUSH_PERIOD, self.flush)
        self.add_on_set_parameters_callback(self.on_set)
        self._Result = SetParametersResult
        self.get_logger().info(f"relay {source} -> {sink}: drop {self.drop:g}, delay {self.delay:g} s")

    def apply(self, drop: float, delay: float) -> None:
        if not 0.0 <= drop <= 1.0 or delay < 0.0:
            raise ValueError(f"drop must be in [0, 1] and delay >= 0, got {drop}, {delay}")
        self.drop, self.delay = drop, delay

    def on_set(self, params):
        new = {p.name: p.value for p in params}
        try:
            self.apply(float(new.get("drop", self.drop)), float(new.get("delay", self.delay)))
        except (TypeError, ValueError) as exc:
            return self._Result(successful=False, reason=str(exc))
        self.get_logger().info(f"drop {self.drop:g}, delay {self.delay:g} s")
        return self._Result(successful=True)

    def on_message(self, msg):
        self.counts["in"] += 1
        if self.drop and self.rng.random() < self.drop:
            self.counts["dropped"] += 1
            return
        self.held.append((now_s() + self.delay, msg))
        self.flush()

    def flush(self):
        t = now_s()
        while self.held and self.held[0][0] <= t:
            self.pub.publish(self.held.popleft()[1])
            self.counts["out"] += 1


def make_node():
    """The node (``main`` spins it)."""
    return Relay()


def main(args=None) -> int:
    return run_node(make_node, args)


if __name__ == "__main__":
    raise SystemExit(main())
