"""mairl-policy-server: a trained policy driving the arm through the safety node.

Loads ``policy`` (a checkpoint of ``mairl train``, weights only), builds the task's
observation from ``/joint_states`` + ``/mairl/target`` (+ ``/mairl/suction`` and the
vacuum sensor ``/mairl/suction/vacuum`` for grasp)
with the same core function as the env (``mairl_core.deploy.PolicyRunner``), and
publishes absolute joint commands on ``/mairl/command`` at ``rate`` Hz (default: the
control rate of ``config/safety.yaml``, which the policies were trained at). Grasp
policies also switch the suction through its service when their choice changes.
Nothing is published while the joint state or the target is older than ``timeout`` s.
``trigger:=joint_states`` decides on the arrival of a joint state (at most ``rate`` times a
second) instead of on a timer, so a command follows its state with the least delay; each
command's header stamp is the stamp of the joint state it was computed from.
``/mairl/policy/reload`` (std_srvs/Trigger) reloads the checkpoint; with ``watch`` the
file is also reloaded when it changes on disk. A failed reload keeps the policy in use. A
checkpoint that cannot be used at start (missing, empty, corrupt or truncated, refused as
unsafe, not a UR5 policy) ends the node with one line naming it and exit status 2.
"""

from __future__ import annotations

from pathlib import Path

import torch
from geometry_msgs.msg import PointStamped
from rclpy.node import Node
from sensor_msgs.msg import JointState
from std_srvs.srv import SetBool, Trigger

from mairl_core.deploy import PolicyRunner
from mairl_core.envs.ur5_model import load_ur5
from mairl_core.safety import load_safety_limits

from .node import (
    SUCTION_TOPIC,
    VACUUM_TOPIC,
    SuctionState,
    joint_state_arrays,
    joint_state_msg,
    node_clock,
    param,
    point_array,
    run_node,
    stamp_s,
)


class PolicyServer(Node):
    def __init__(self):
        super().__init__("mairl_policy_server")
        path = param(self, "policy", "")
        if not path:
            raise ValueError("parameter 'policy' (a checkpoint path) is required")
        task = (
            param(
                self,
                "task",
                "",
                "the task the checkpoint must be for (empty: any)",
                allowed=("", "reach", "grasp"),
            )
            or None
        )
        self.robot = load_ur5(param(self, "robot_config", "ur5"))
        self.path, self.task = path, task
        self.deterministic = bool(
            param(self, "deterministic", True, "the policy's mean action (false: sample)")
        )
        self.runner = None
        if bool(param(self, "wait", False)) and not Path(path).exists():
            # train mode: the trainer writes the checkpoint later
            self.get_logger().info(f"waiting for {path} to appear")
        else:
            self.load_runner()
        rate = (
            float(param(self, "rate", 0.0, "Hz of commands (0: the control rate)", allowed=">= 0"))
            or 1.0 / load_safety_limits().control_period
        )
        self.timeout = float(
            param(self, "timeout", 0.2, "s without a joint state or target: no command", allowed="> 0")
        )
        self.enabled = bool(
            param(self, "enabled", True, "serve at start (false: wait for /mairl/policy/enable)")
        )
        self.now = node_clock(self)  # use_sim_time: the sim's /clock
        self.q = self.qdot = self.target = None
        self.ignore_before = 0.0
        self.q_time = self.target_time = -1e9
        self.pending = None
        self.trigger = param(
            self,
            "trigger",
            "timer",
            "command on a timer or on each joint state",
            allowed=("timer", "joint_states"),
        )
        self.min_gap = 0.5 / rate  # joint_states trigger: a state per period even with jitter
        self.last_decision = -1e9
        self.state_stamp = None
        self.create_subscription(
            JointState, param(self, "joint_states_topic", "/joint_states"), self.on_joint_state, 10
        )
        self.create_subscription(
            PointStamped, param(self, "target_topic", "/mairl/target"), self.on_target, 10
        )
        self.cup = SuctionState(
            self, param(self, "suction_topic", SUCTION_TOPIC), param(self, "vacuum_topic", VACUUM_TOPIC)
        )
        self.pub = self.create_publisher(JointState, param(self, "command_topic", "/mairl/command"), 10)
        self.suction_client = self.create_client(
            SetBool, param(self, "suction_service", "/mairl/suction/set")
        )
        self.create_service(Trigger, "/mairl/policy/reload", self.on_reload)
        self.create_service(SetBool, "/mairl/policy/enable", self.on_enable)
        self._SetBool = SetBool
        if self.trigger == "timer":
            self.create_timer(1.0 / rate, self.on_tick)
        self.watch = bool(param(self, "watch", True))
        if self.watch or self.runner is None:
            self.create_timer(1.0, self.on_watch)
        self.steps = 0
        self.rate = rate
        self.rt_priority = int(
            param(self, "rt_priority", 0, "0: off; 1-99: SCHED_FIFO priority", allowed="0..99")
        )  # run_node: 0 off, 1-99 SCHED_FIFO
        if self.runner is not None:
            self.announce()

    def load_runner(self):
        self.runner = PolicyRunner(self.path, self.task, self.robot, self.deterministic)

    def announce(self):
        self.get_logger().info(f"serving {self.runner.task} policy {self.runner.path} at {self.rate:g} Hz")

    def on_joint_state(self, msg):
        if stamp_s(msg) < self.ignore_before:  # sent before (re-)enabling
            return
        q, qd = joint_state_arrays(msg, self.robot.joint_names)
        if q is not None:
            self.q, self.qdot, self.q_time = q, qd, self.now()
            self.state_stamp = msg.header.stamp
            if self.trigger == "joint_states" and self.q_time - self.last_decision >= self.min_gap:
                self.on_tick()

    def on_target(self, msg):
        if stamp_s(msg) < self.ignore_before:
            return
        self.target, self.target_time = point_array(msg), self.now()

    def on_enable(self, req, res):
        if req.data and not self.enabled:  # act on fresh state only (e.g. after a reset)
            self.q = self.target = None
            self.ignore_before = self.get_clock().now().nanoseconds * 1e-9
        self.enabled = bool(req.data)
        res.success, res.message = True, "enabled" if self.enabled else "paused"
        return res

    def on_reload(self, req, res):  # noqa: ARG002
        res.success, res.message = self.reload()
        return res

    def on_watch(self):
        if self.runner is None:
            if Path(self.path).exists():
                self.reload()
        elif self.watch and self.runner.changed_on_disk():
            self.reload()

    def reload(self) -> tuple[bool, str]:
        try:
            if self.runner is None:
                self.load_runner()
                self.announce()
                return True, f"reloaded {self.path}"
            self.runner.load(self.runner.path)
        except (OSError, ValueError, RuntimeError) as exc:
            msg = f"reload failed, keeping the policy in use: {exc}"
            self.get_logger().error(msg)
            return False, msg
        self.get_logger().info(f"reloaded {self.path}")
        return True, f"reloaded {self.path}"

    def on_tick(self):
        t = self.now()
        if (
            self.runner is None
            or not self.enabled
            or self.q is None
            or self.target is None
            or t - self.q_time > self.timeout
            or t - self.target_time > self.timeout
        ):
            return
        try:
            d = self.runner.decide(self.q, self.qdot, self.target, self.cup.on, self.cup.vacuum)
        except ValueError as exc:
            self.get_logger().warning(f"no command: {exc}", throttle_duration_sec=1.0)
            return
        msg = joint_state_msg(self, self.robot.joint_names, d.command)
        if self.state_stamp is not None:
            msg.header.stamp = self.state_stamp  # the state this command was computed from
        self.pub.publish(msg)
        self.last_decision = t
        self.steps += 1
        if d.suction is not None and d.suction != self.cup.on and self.pending is None:
            if self.suction_client.service_is_ready():
                self.pending = self.suction_client.call_async(self._SetBool.Request(data=d.suction))
                self.pending.add_done_callback(lambda _f: setattr(self, "pending", None))


def make_node():
    """The node (``main`` spins it)."""
    torch.set_num_threads(1)  # one small forward pass per period: threads only add latency
    return PolicyServer()


def main(args=None) -> int:
    return run_node(make_node, args)


if __name__ == "__main__":
    raise SystemExit(main())
