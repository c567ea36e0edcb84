"""mairl-teleop: Cartesian teleop input for the recorder, from a keyboard, a joystick or
gamepad, a 3Dconnexion SpaceMouse, or the scripted operator.

Publishes ``/mairl/teleop/twist`` (geometry_msgs/TwistStamped, fingertip velocity in m/s,
frame ``base``) at the control rate; the recorder turns it into joint commands.

- ``mode:=keyboard`` (default; needs a terminal): w/s = +x/-x, a/d = +y/-y, r/f = +z/-z,
  space = suction on/off (grasp), x = stop; ``speed`` m/s per key press, keys add up;
  n = next episode, b = re-record it (the recorder's start / discard services), q = quit.
- ``mode:=joy``: ``sensor_msgs/Joy`` on ``joy_topic`` (ROS's ``joy_node``); the arm moves only
  while the deadman button is held (``deadman_button``, default 4 = LB), at ``speed`` m/s
  per full stick (``joy_axes``: the axes for x, y, z; ``joy_signs`` flip them), and stops at
  the next control period when it is let go or the pad falls silent for ``input_timeout``
  s; ``suction_button`` (with the deadman held), ``next_button``, ``rerecord_button``.
  The mapping is ``mairl_core.data.devices.JoyTeleop``.
- ``mode:=spacemouse``: a SpaceMouse through ``pyspacemouse`` (imported only here; its absence
  or a missing device ends the node with one line): the puck's push is the twist, button 0
  suction, button 1 next episode.
- ``mode:=scripted``: the core's scripted operator (``mairl_core.data.operator``: noise,
  hesitation, a speed per episode; the grasp plan with suction) looks at
  ``/mairl/fingertip`` and ``/mairl/target`` like a person would, and starts afresh on
  each "start" of ``/mairl/episode/event``. Seeded by ``seed``.
"""

from __future__ import annotations

import sys

import numpy as np
from geometry_msgs.msg import PointStamped, TwistStamped
from rclpy.node import Node
from std_msgs.msg import String
from std_srvs.srv import SetBool

from mairl_core.config import load_config
from mairl_core.data.operator import GRASP_STYLE, GraspOperator, OperatorStyle, ScriptedOperator
from mairl_core.envs.ur5_grasp import GraspConfig, grasp_point
from mairl_core.safety import load_safety_limits

from .node import SuctionState, now_s, param, point_array, run_node

MODES = ("keyboard", "joy", "spacemouse", "scripted")
KEYS = {"w": (0, 1), "s": (0, -1), "a": (1, 1), "d": (1, -1), "r": (2, 1), "f": (2, -1)}


class Teleop(Node):
    def __init__(self):
        super().__init__("mairl_teleop")
        self.mode = param(self, "mode", "keyboard", "the input device", allowed=MODES)
        self.task = param(self, "task", "reach", "reach or grasp (suction)", allowed=("reach", "grasp"))
        self.speed = float(
            param(self, "speed", 0.05, "m/s per key press, or at full stick or push", allowed="> 0")
        )
        self.tip = self.target = None
        self.velocity = np.zeros(3)
        self.pub = self.create_publisher(TwistStamped, "/mairl/teleop/twist", 10)
        self.suction_client = self.create_client(
            SetBool, param(self, "suction_service", "/mairl/suction/set")
        )
        self.create_subscription(PointStamped, "/mairl/fingertip", self.on_tip, 10)
        self.create_subscription(PointStamped, "/mairl/target", self.on_target, 10)
        self.cup = SuctionState(self)
        self.create_subscription(String, "/mairl/episode/event", self.on_event, 10)
        self._Twist, self._SetBool = TwistStamped, SetBool
        self.operator = self.device = None
        if self.mode == "scripted":
            rng = np.random.default_rng(int(param(self, "seed", 0)))
            if self.task == "grasp":
                self.grasp_cfg = load_config(GraspConfig, "ur5_grasp")
                self.operator = GraspOperator(GRASP_STYLE, rng)
            else:
                self.operator = ScriptedOperator(OperatorStyle(), rng)
        elif self.mode == "joy":
            from sensor_msgs.msg import Joy

            from mairl_core.data.devices import JoyMapping, JoyTeleop

            mapping = JoyMapping(
                axes=tuple(int(i) for i in param(self, "joy_axes", [1, 0, 4])),
                signs=tuple(float(x) for x in param(self, "joy_signs", [1.0, 1.0, 1.0])),
                deadman=int(
                    param(self, "deadman_button", 4, "the button to hold for motion", allowed=">= 0")
                ),
                suction=int(param(self, "suction_button", 0)),
                next_episode=int(param(self, "next_button", 7)),
                rerecord=int(param(self, "rerecord_button", 6)),
                deadzone=float(
                    param(self, "deadzone", 0.1, "smaller deflections count as 0", allowed="0..0.99")
                ),
            )
            self.device = JoyTeleop(mapping, self.speed, float(param(self, "input_timeout", 0.5)))
            self.warned_missing = False
            self.create_subscription(Joy, param(self, "joy_topic", "/joy"), self.on_joy, 10)
        elif self.mode == "spacemouse":
            from mairl_core.data.devices import SpaceMouseTeleop

            self.device = SpaceMouseTeleop(
                self.speed,
                deadzone=float(param(self, "deadzone", 0.1, "smaller pushes count as 0", allowed="0..0.99")),
                timeout=float(param(self, "input_timeout", 0.5)),
            )
        elif not sys.stdin.isatty():
            raise ValueError("keyboard teleop needs a terminal (or use mode:=scripted)")
        else:
            import threading

            threading.Thread(target=self._keyboard, daemon=True).start()
        self.pending = None
        self.episode_clients = {}
        self.create_timer(load_safety_limits().control_period, self.on_tick)
        self.get_logger().info(f"{self.mode} teleop for {self.task}")

    def on_tip(self, msg):
        self.tip = point_array(msg)

    def on_target(self, msg):
        self.target = point_array(msg)

    def on_event(self, msg):
        if msg.data.startswith("start") and self.operator is not None:
            self.operator.reset()

    def on_joy(self, msg):
        for event in self.device.on_joy(msg.axes, msg.buttons, now_s()):
            self.device_event(event)
        missing = self.device.missing()
        if missing and not self.warned_missing:
            self.warned_missing = True
            self.get_logger().warning(
                f"the joystick has {len(msg.axes)} axes and "
                f"{len(msg.buttons)} buttons: {', '.join(missing)} of "
                f"the mapping read as 0 / not pressed"
            )

    def device_event(self, event: str):
        if event == "suction":
            self.switch_suction(not self.cup.on)
        elif event in ("next", "rerecord"):
            if event == "rerecord":
                self.trigger("/mairl/episode/discard")
            self.trigger("/mairl/episode/start")

    def switch_suction(self, on: bool):
        if self.pending is None and self.suction_client.service_is_ready():
            self.pending = self.suction_client.call_async(self._SetBool.Request(data=on))
            self.pending.add_done_callback(lambda _f: setattr(self, "pending", None))

    def trigger(self, service: str):
        from std_srvs.srv import Trigger

        client = self.episode_clients.setdefault(service, self.create_client(Trigger, service))
        if client.service_is_ready():
            client.call_async(Trigger.Request())
        else:
            print(f"[teleop] {service} not available (is the recorder running?)", flush=True)

    def _keyboard(self):
        import termios
        import tty

        fd = sys.stdin.fileno()
        old = termios.tcgetattr(fd)
        print(
            "[teleop] w/s x, a/d y, r/f z, space suction, x stop, n next episode, b re-record, q quit",
            flush=True,
        )
        try:
            tty.setcbreak(fd)
            while True:
                key = sys.stdin.read(1).lower()
                if key == "q":
                    break
                if key == "x":
                    self.velocity = np.zeros(3)
                elif key in ("n", "b"):
                    self.velocity = np.zeros(3)
                    self.device_event("next" if key == "n" else "rerecord")
                elif key == " ":
                    self.device_event("suction")
                elif key in KEYS:
                    axis, sign = KEYS[key]
                    self.velocity[axis] += sign * self.speed
        finally:
            termios.tcsetattr(fd, termios.TCSADRAIN, old)
            self.velocity = np.zeros(3)

    def on_tick(self):
        v = self.velocity
        if self.mode == "spacemouse":
            for event in self.device.read(now_s()):
                self.device_event(event)
        if self.device is not None:
            v = self.device.velocity(now_s())
        if self.operator is not None:
            if self.tip is None or self.target is None:
                return
            if self.task == "grasp":
                v, on = self.operator.command(
                    self.tip, grasp_point(self.target, self.grasp_cfg), self.cup.vacuum
                )
                if on != self.cup.on:
                    self.switch_suction(on)
            else:
                v = self.operator.velocity(self.tip, self.target)
        msg = self._Twist()
        msg.header.stamp = self.get_clock().now().to_msg()
        msg.header.frame_id = "base"
        msg.twist.linear.x, msg.twist.linear.y, msg.twist.linear.z = (float(x) for x in v)
        self.pub.publish(msg)


def make_node():
    """The node (``main`` spins it)."""
    return Teleop()


def main(args=None) -> int:
    return run_node(make_node, args)


if __name__ == "__main__":
    raise SystemExit(main())
