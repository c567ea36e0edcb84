"""mairl-sim: the tasks' MuJoCo UR5 behind ur_robot_driver's topic names (docs/ros_interfaces.md).

Publishes ``/joint_states`` (UR joint names, position + velocity), the speed scaling
(1.0), ``/mairl/target`` (the block), ``/mairl/fingertip``, ``/mairl/suction`` (the cup's
switch) and ``/mairl/suction/vacuum`` (the block is on the cup: a vacuum sensor);
takes ``/forward_position_controller/commands`` (6 absolute positions, as the
driver's forward_position_controller) and joint trajectories on
``/scaled_joint_trajectory_controller/joint_trajectory``; serves the suction switch
(``std_srvs/SetBool``, the sim's stand-in for the driver's ``ur_msgs/srv/SetIO``) and
``/mairl/sim/reset`` (arm home, next block: block i is ``env.reset(seed=seed + i)``, i counting
resets from 0 unless the ``episode`` parameter sets it, as the recorder does with its episode
index). Physics advances ``1/rate`` s per tick,
``real_time_factor`` times real time; with ``publish_clock`` it publishes ``/clock``
(sim time) so nodes run with ``use_sim_time``. With ``lockstep`` as well, the clock moves
one control period at a time (the states still come every tick) and the sim waits (at most
``lockstep_timeout`` wall seconds) for each period's command before simulating the period:
the command acts over the whole period, as in the task env's ``step``, however long the
round trip through the nodes takes (on a free-running fast sim it lands a tick or two
late). With no client commanding, each period costs the timeout.
All logic is ``mairl_core.envs.sim_arm``.
"""

from __future__ import annotations

import json
import time

from geometry_msgs.msg import PointStamped
from rclpy.node import Node
from rosgraph_msgs.msg import Clock
from sensor_msgs.msg import JointState
from std_msgs.msg import Bool, Float64, Float64MultiArray
from std_srvs.srv import SetBool, Trigger
from trajectory_msgs.msg import JointTrajectory

from mairl_core.envs.sim_arm import SimArm
from mairl_core.safety import load_safety_limits, order_by_name

from .node import joint_state_msg, param, point_msg, run_node


class SimNode(Node):
    def __init__(self):
        super().__init__("mairl_sim")
        task = param(self, "task", "reach", "the task's scene", allowed=("reach", "grasp"))
        self.rate = float(param(self, "rate", 125.0, "Hz of /joint_states", allowed="> 0"))
        rtf = float(param(self, "real_time_factor", 1.0, "sim seconds per wall second", allowed="> 0"))
        if self.rate <= 0 or rtf <= 0:
            raise ValueError("rate and real_time_factor must be > 0")
        target = list(param(self, "target", [0.0]))  # [0.0]: none given, a seeded random block
        env_config = param(self, "env_config", "")
        self.arm = SimArm(task, seed=int(param(self, "seed", 0)), env_config=env_config or None)
        self.fixed_target = target if len(target) == 3 else None
        param(
            self,
            "episode",
            0,
            "index of the next reset's block (set live by the recorder)",
            read_only=False,
        )
        self.add_on_set_parameters_callback(self.on_set_parameters)
        if self.fixed_target is not None:
            self.arm.reset(self.fixed_target)
        self.frame = param(self, "frame_id", "base")
        self.clock = bool(param(self, "publish_clock", False))
        self.lockstep = bool(
            param(self, "lockstep", False, "with publish_clock: wait for each period's command")
        )
        self.lockstep_timeout = float(
            param(
                self,
                "lockstep_timeout",
                0.05,
                "wall s to wait for a period's command before going on",
                allowed="> 0",
            )
        )
        if self.lockstep and not self.clock:
            raise ValueError("lockstep needs publish_clock (the nodes wait on the sim's /clock)")
        self.period_ticks = max(1, round(load_safety_limits().control_period * self.rate))
        self.commanded = False  # a command since the last period's start
        self.waiting_since: float | None = None
        topics = {
            k: param(self, f"{k}_topic", v)
            for k, v in {
                "joint_states": "/joint_states",
                "command": "/forward_position_controller/commands",
                "trajectory": "/scaled_joint_trajectory_controller/joint_trajectory",
                "speed_scaling": "/speed_scaling_state_broadcaster/speed_scaling",
                "target": "/mairl/target",
                "fingertip": "/mairl/fingertip",
                "suction": "/mairl/suction",
            }.items()
        }
        self.pub_js = self.create_publisher(JointState, topics["joint_states"], 10)
        self.pub_scale = self.create_publisher(Float64, topics["speed_scaling"], 10)
        self.pub_target = self.create_publisher(PointStamped, topics["target"], 10)
        self.pub_tip = self.create_publisher(PointStamped, topics["fingertip"], 10)
        self.pub_suction = self.create_publisher(Bool, topics["suction"], 10)
        # a vacuum sensor: the block is on the cup (suction grippers report it on a digital input)
        self.pub_vacuum = self.create_publisher(Bool, topics["suction"] + "/vacuum", 10)
        self.pub_clock = self.create_publisher(Clock, "/clock", 10) if self.clock else None
        self.create_subscription(Float64MultiArray, topics["command"], self.on_command, 10)
        self.create_subscription(JointTrajectory, topics["trajectory"], self.on_trajectory, 10)
        self.create_service(SetBool, param(self, "suction_service", "/mairl/suction/set"), self.on_suction)
        self.create_service(Trigger, "/mairl/sim/reset", self.on_reset)
        self._Bool, self._Float64, self._Clock = Bool, Float64, Clock
        self._order = order_by_name
        self.ticks = 0
        self.create_timer(1.0 / (self.rate * rtf), self.tick)
        self.get_logger().info(
            f"UR5 {task} sim: {self.rate:g} Hz, {rtf:g}x real time, block at "
            f"{[round(v, 3) for v in self.arm.target]}"
        )

    def on_set_parameters(self, params):
        from rcl_interfaces.msg import SetParametersResult

        for p in params:
            if p.name == "episode":
                if not isinstance(p.value, int) or p.value < 0:
                    return SetParametersResult(
                        successful=False, reason=f"episode must be an int >= 0, got {p.value!r}"
                    )
                self.arm.episode = p.value
        return SetParametersResult(successful=True)

    def on_command(self, msg):
        self.commanded = True
        try:
            self.arm.command(list(msg.data))
        except ValueError as exc:
            self.get_logger().warning(f"command ignored: {exc}", throttle_duration_sec=1.0)

    def on_trajectory(self, msg):
        try:
            points = []
            for p in msg.points:
                q, why = self._order(msg.joint_names, list(p.positions), self.arm.joint_names)
                if q is None:
                    raise ValueError(why)
                points.append((p.time_from_start.sec + p.time_from_start.nanosec * 1e-9, q))
            self.arm.follow(points)
        except ValueError as exc:
            self.get_logger().warning(f"trajectory ignored: {exc}")

    def on_suction(self, req, res):
        try:
            self.arm.set_suction(req.data)
            res.success, res.message = True, f"suction {'on' if req.data else 'off'}"
        except ValueError as exc:
            res.success, res.message = False, str(exc)
        return res

    def on_reset(self, req, res):  # noqa: ARG002
        target = self.arm.reset(self.fixed_target)
        res.success, res.message = (
            True,
            json.dumps({"target": [float(v) for v in target], "episode": self.arm.episode}),
        )
        return res

    def tick(self):
        if self.waiting_since is not None:  # lockstep, at a period's start
            waited = time.monotonic() - self.waiting_since
            if not self.commanded and waited < self.lockstep_timeout:
                return  # this period's command is on its way: the physics waits for it
            self.waiting_since = None
        self.arm.advance(1.0 / self.rate)
        self.ticks += 1
        stamp = None  # the wall clock; with /clock, sim time, which the nodes under use_sim_time read
        if self.pub_clock is not None:
            msg = self._Clock()
            ns = int(round(self.arm.time * 1e9))
            msg.clock.sec, msg.clock.nanosec = divmod(ns, 1_000_000_000)
            stamp = msg.clock
        self.pub_js.publish(
            joint_state_msg(self, self.arm.joint_names, self.arm.positions, self.arm.velocities, stamp)
        )
        self.pub_target.publish(point_msg(self, self.arm.target, self.frame, stamp))
        self.pub_tip.publish(point_msg(self, self.arm.fingertip, self.frame, stamp))
        self.pub_suction.publish(self._Bool(data=self.arm.suction))
        self.pub_vacuum.publish(self._Bool(data=self.arm.holding))
        if self.ticks % max(1, int(self.rate / 10)) == 0:  # about 10 Hz
            self.pub_scale.publish(self._Float64(data=1.0))
        if self.lockstep and self.ticks % self.period_ticks:
            return  # inside a period: the clock moves a period at a time (the safety node
            # still sees every state, as it counts states that agree after a jump)
        if self.pub_clock is not None:  # after the states: a node's timer that this tick
            self.pub_clock.publish(msg)  # fires finds the new state already in
        if self.lockstep:  # wait for this period's command
            self.commanded, self.waiting_since = False, time.monotonic()


def make_node():
    """The node (``main`` spins it)."""
    return SimNode()


def main(args=None) -> int:
    return run_node(make_node, args)


if __name__ == "__main__":
    raise SystemExit(main())
